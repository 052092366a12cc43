from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fastswap import backends
from fastswap.cli import demo_images

SHARED_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces"


def backend_params():
    """Every backend: a missing one is skipped with the registry's reason (never silently)."""
    params = []
    for name in backends.MODULES:
        why = backends.status()[name]
        marks = [pytest.mark.skip(reason=f"backend {name!r} unavailable: {why}")] if why else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=backend_params())
def backend(request):
    return backends.get_backend(request.param)


@pytest.fixture(scope="session")
def reference():
    return backends.get_backend("numpy")


@pytest.fixture(scope="session")
def demo() -> dict[str, np.ndarray]:
    return demo_images()


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not SHARED_FACES.is_dir():
        pytest.skip(f"{SHARED_FACES} is absent (the project's shared photo set sits beside the checkout)")
    return SHARED_FACES


@pytest.fixture(scope="session")
def detector():
    pytest.importorskip(
        "mediapipe", reason="mediapipe is not installed (the device machine runs the kernels' tests only)"
    )
    from fastswap import FaceDetector

    with FaceDetector() as d:
        yield d


@pytest.fixture(scope="session")
def demo_faces(demo, detector):
    return {k: detector.detect(v) for k, v in demo.items()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(autouse=True, scope="session")
def _quiet_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    yield
