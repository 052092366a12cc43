from __future__ import annotations

import importlib.metadata as md
import shutil

import pytest

from fastswap import backends
from fastswap.model import MODEL_SHA256, PACKAGED_MODEL, sha256_of


def test_exactly_one_opencv_distribution_provides_cv2():
    opencv = sorted(
        d.metadata["Name"].lower() for d in md.distributions() if d.metadata["Name"].lower().startswith("opencv")
    )
    assert len(opencv) == 1, f"several OpenCV distributions installed (they clash over cv2): {opencv}"


def test_model_ships_with_the_package():
    assert PACKAGED_MODEL.is_file(), "the build did not package face_landmarker.task"
    assert sha256_of(PACKAGED_MODEL) == MODEL_SHA256


def test_cpu_backend_is_built_where_a_compiler_exists():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on this machine: the cpu backend is optional")
    assert backends.status()["cpu"] is None, backends.status()["cpu"]


def test_registry_reports_reasons_and_auto_choice():
    st = backends.status()
    assert st["numpy"] is None
    assert set(st) == {"numpy", "cpu", "cuda"}
    for name, why in st.items():
        if why is not None:
            with pytest.raises(backends.BackendUnavailableError, match=name):
                backends.get_backend(name)
    assert backends.get_backend("auto").NAME == backends.available()[0]
    with pytest.raises(backends.InputError, match="backend must be one of"):
        backends.get_backend("tpu")
