"""The ``cpu`` backend: the C++ extension ``fastswap._cpu`` (OpenMP threads, GIL released).

Same functions and signatures as the reference (:mod:`fastswap.backends.numpy_backend`); all data on the
host. Blending solves the Poisson equation for the correction to the source (``f = src + h``) by one
full-multigrid pass: vertex-centred coarsening (coarse point i on fine point 2i, n / 2 + 1 points a
level, so every level spans the whole region), red-black Gauss-Seidel on rows split by colour (one
contiguous loop per colour; one cache-friendly wavefront pass on one thread; on several threads each
colour's rows of a large level are shared among them, with the same result bit for bit), a V(PRE_SMOOTH,
POST_SMOOTH) cycle per level; then further V-cycles, at most MAX_CYCLES, while the residual's RMS is
above RESIDUAL_TOL (none of the 20 shared photos' faces needed one; noise does). The coarse levels see
the mask's edge where the full-resolution mask has it (a neighbour outside the domain at a fraction
theta of the coarse spacing weighs 1 / theta), so each V-cycle gains about a factor 10 on the error,
whatever the region's shape and size; a coarse link that would jump a known pixel (a 1-pixel line or
a small hole inside the region) is cut. In normal mode the correction is harmonic inside the domain,
so the finest level relaxes only a band of BAND pixels along the domain's edge, and the next level a
band of BAND / 2 + 2 of its pixels: deeper pixels take the coarser level's solution, interpolated
(once, at the end of the level's cycle, for those no update reads). Every pass works on each row's
span of unknown pixels only (plus the zeros beside it that the passes read, set once per call).
Measured against the exact sparse-LU solution on the pipeline's own blend problems of img2 swapped
into the 20 other shared photos: at least 49.4 dB PSNR, median 53.2 dB (mixed gradients, relaxed
everywhere: 54.8, 57.9); at least 47.5 dB over 200 random regions cut by known lines and holes,
noisy or smooth (the goal is 40).
``_cpu.poisson_blend`` takes these as arguments (see csrc/blend_params.h); the solver is
csrc/multigrid_impl.inc.
"""

from __future__ import annotations

import numpy as np

from .. import _cpu  # ImportError here is recorded by the registry as the reason

NAME = "cpu"
PRE_SMOOTH, POST_SMOOTH = 2, 2  # sweeps around each coarse-grid correction (V(1,1) diverges on noise)
MAX_CYCLES = 4  # further V-cycles after the full-multigrid pass, while the residual is above ...
RESIDUAL_TOL = 0.2  # ... this RMS (grey levels x the 5-point operator's scale, over the unknowns)
# Normal mode: the finest level relaxes only pixels within BAND pixels of the domain's edge (level 1
# within BAND / 2 + 2 of its own); deeper, where the correction is harmonic and smooth, the coarser
# level's solution interpolated is kept. Measured on the 20 shared photos' blend problems (min /
# median PSNR against the exact solution), the finest level banded alone: band 4: 41.4 / 47.0 dB,
# 8: 51.9 / 56.0, 12: 52.9 / 56.3, 16: 54.0 / 56.6, none: 52.8 / 58.0; with level 1 too: 49.4 / 53.2
# (band 12), for 8% less time. The band's width hardly changes the time (band 6 to 16: within 3%).
BAND = 12


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
    """See :func:`fastswap.backends.numpy_backend.poisson_blend` (host arrays in and out). ``src``,
    ``dst`` and ``mask`` may be views whose rows lie apart (a box cut from a larger image, pixels and
    channels contiguous): they are read in place, not copied."""
    return _cpu.poisson_blend(src, dst, mask, mode, MAX_CYCLES, PRE_SMOOTH, POST_SMOOTH, RESIDUAL_TOL, BAND)


def apply_gain(img: np.ndarray, gain: np.ndarray, knee: float) -> np.ndarray:
    """(h, w, 3) uint8 ``img`` (host; rows may be a view's) times the (gh, gw, 3) float32 ``gain``
    (host) brought up bilinearly to (h, w), each pixel whose brightest channel passes ``knee``
    scaled as a whole towards 255; (h, w, 3) uint8, host. The fast path of
    :func:`fastswap.quality.apply_gain` (csrc/colour_impl.h)."""
    return _cpu.apply_gain(img, gain, float(knee))


def erode_octagon(mask: np.ndarray, s: int, k: int) -> np.ndarray:
    """(H, W) uint8 mask of 0 / 255 (host) eroded by a (2s + 1)-square, then k times by the 3x3 cross,
    as two ``cv2.erode`` calls would (pixels outside the image count as 255), computed from the mask's
    runs of pixels; (H, W) uint8 0 / 255, host. The fast path of :func:`fastswap.quality.erode_round`."""
    return _cpu.erode_octagon(mask, s, k)


def code_paths() -> str:
    """What ``fastswap info`` says of the kernels: AVX2 or plain paths, OpenMP threads."""
    paths = "AVX2" if _cpu.uses_avx2() else "plain x86-64 (no AVX2, or FASTSWAP_NO_AVX2 set)"
    return f"{paths} paths, {_cpu.num_threads()} OpenMP threads (same bytes either way)"
