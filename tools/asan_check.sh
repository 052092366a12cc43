#!/usr/bin/env bash
# Build the C++ extension with AddressSanitizer (and UBSan) in a scratch copy and run the kernel tests
# (including the hypothesis property tests) against it. Usage: bash tools/asan_check.sh [python]
set -euo pipefail
PY=${1:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/fastswap" "$ROOT/csrc" "$ROOT/tests" "$WORK/"
rm -f "$WORK"/fastswap/_cpu*.so
INC=$("$PY" -c "import pybind11, sysconfig; print(pybind11.get_include(), sysconfig.get_paths()['include'])")
SUFFIX=$("$PY" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
g++ -O1 -g -std=c++17 -fPIC -shared -fopenmp -fsanitize=address,undefined -fno-omit-frame-pointer \
    -fno-sanitize-recover=undefined $(for i in $INC; do echo -I"$i"; done) -I"$WORK/csrc" \
    "$WORK/csrc/fastswap_cpu.cpp" -o "$WORK/fastswap/_cpu$SUFFIX"
# The model is fetched at build time: a fresh clone has none, so take the installed package's copy.
if [ ! -f "$WORK/fastswap/models/face_landmarker.task" ] && [ -z "${FASTSWAP_MODEL:-}" ]; then
    FASTSWAP_MODEL=$(cd / && "$PY" -c "from fastswap.model import model_path; print(model_path())") && export FASTSWAP_MODEL
fi
cd "$WORK"
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 PYTHONPATH="$WORK"
"$PY" -c "import fastswap._cpu as c; print('testing the sanitised build', c.__file__)"
"$PY" -m pytest -q -p no:cacheprovider tests/test_warp.py tests/test_blend.py tests/test_quality.py -k "(not numpy) and (not test_quality.py or erode)"
