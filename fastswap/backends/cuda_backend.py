"""The ``cuda`` backend slot (CuPy). Importing it checks, in order: CuPy installed, a CUDA device
answering; the kernels themselves are not part of this version (see the README's backend table), so
the registry records why the backend is missing and ``backend="auto"`` falls back to ``cpu``."""

from __future__ import annotations

NAME = "cuda"

try:
    import cupy
except ImportError as e:  # the usual case on machines without the [cuda] extra
    raise ImportError(f"CuPy is not installed (pip install 'fastswap[cuda]'): {e}") from e

try:
    _count = cupy.cuda.runtime.getDeviceCount()
except Exception as e:  # no driver, no device
    raise ImportError(f"CuPy is installed but no CUDA device answers: {e}") from e
if _count < 1:
    raise ImportError("CuPy is installed but no CUDA device is visible")

raise ImportError(
    f"a CUDA device is present ({_count} visible) but this version of fastswap has no CUDA kernels yet; "
    "the cpu backend is used instead"
)
