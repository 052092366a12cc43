"""fastswap: a fast, training-free classical face-swap engine."""

from __future__ import annotations

from .backends import available as available_backends
from .backends import get_backend, poisson_blend, warp_triangles
from .detect import Face, FaceDetector
from .errors import (
    BackendUnavailableError,
    FastswapError,
    InputError,
    ModelError,
    NoSourceFaceError,
    OutputError,
)
from .pipeline import FaceSwapper, SwapResult, swap

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "Face",
    "FaceDetector",
    "FaceSwapper",
    "FastswapError",
    "InputError",
    "ModelError",
    "NoSourceFaceError",
    "OutputError",
    "SwapResult",
    "available_backends",
    "get_backend",
    "poisson_blend",
    "swap",
    "warp_triangles",
    "__version__",
]
