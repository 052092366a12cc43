"""The ``cpu`` backend: the C++ extension ``fastswap._cpu`` (OpenMP threads, GIL released).

Same functions and signatures as the reference (:mod:`fastswap.backends.numpy_backend`); all data on
the host. Blending solves the Poisson equation by full multigrid (vertex-centred coarsening, red-black
Gauss-Seidel smoothing, V(2,2) cycles) instead of the reference's sparse LU. ``BLEND_CYCLES`` V-cycles
after the full-multigrid pass set its accuracy: 3 gives >= 40.5 dB PSNR against the exact solution on
every face of our test set (median 50 dB); 2 gives a median of 45 dB but a worst case of 36 dB.
"""

from __future__ import annotations

import numpy as np

from .. import _cpu  # ImportError here is recorded by the registry as the reason

NAME = "cpu"
BLEND_CYCLES = 3


def warp_triangles(
    src: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    triangles: np.ndarray,
    out_shape: tuple[int, int],
    *,
    cull_backfacing: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`fastswap.backends.numpy_backend.warp_triangles` (host arrays in and out)."""
    return _cpu.warp_triangles(src, src_pts, dst_pts, triangles, tuple(out_shape), cull_backfacing)


def poisson_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, *, mode: str = "normal") -> np.ndarray:
    """See :func:`fastswap.backends.numpy_backend.poisson_blend` (host arrays in and out)."""
    return _cpu.poisson_blend(src, dst, mask, mode, BLEND_CYCLES, 2, 2)
