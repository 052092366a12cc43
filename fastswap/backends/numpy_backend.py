"""The reference backend: plain NumPy/SciPy, written for clarity. It is the specification.

Every backend (``cpu``: the C++ extension, ``cuda``: CuPy) exposes these functions with the same
signatures and must match them within the tolerances of ``tests/tolerances.py``. Inputs are trusted:
``fastswap.backends.validate_*`` checks them once at the public boundary.

Conventions shared by all backends
----------------------------------
* Pixel centres sit at integer coordinates: pixel (x, y) covers [x - 0.5, x + 0.5) x [y - 0.5, y + 0.5).
* Rasterisation snaps target vertices to 1/256 pixel (``FIXED_ONE``) and evaluates integer edge
  functions at pixel centres, so that neighbouring triangles agree exactly on their shared edge.
* Fill rule: a pixel centre strictly inside a triangle is drawn; one exactly on an edge a->b (after
  making the triangle's signed area positive) is drawn only if the edge is *owned*:
  ``dy < 0 or (dy == 0 and dx > 0)``. Shared edges are thus drawn exactly once.
* Triangles with zero snapped area draw nothing. Back-facing triangles (negative signed area in the
  target) are drawn with their vertex order swapped, or skipped when ``cull_backfacing`` is set.
* Triangles are drawn in index order; where they overlap (a fold), the later one wins.
* Sampling: the target pixel's barycentric coordinates (from the snapped target vertices) give the
  source point; bilinear interpolation with edge pixels replicated outside the source; rounded to
  nearest, ties up.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

NAME = "numpy"
FIXED_ONE = 256  # sub-pixel steps per pixel used to snap target vertices


def snap(pts: np.ndarray) -> np.ndarray:
    """(N, 2) float -> (N, 2) int64 fixed-point coordinates, ``floor(x * 256 + 0.5)``."""
    return np.floor(pts.astype(np.float64) * FIXED_ONE + 0.5).astype(np.int64)


def triangle_setup(
    src_pts: np.ndarray, dst_pts: np.ndarray, triangles: np.ndarray, cull_backfacing: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-triangle data shared by every backend's rasteriser.

    Returns:
        fixed: (T, 3, 2) int64 snapped target vertices, re-ordered to positive signed area.
        affine: (T, 2, 3) float64 mapping target pixel (x, y, 1) -> source (u, v).
        drawn: (T,) bool, False for zero-area triangles (and back-facing ones when culling).
    """
    tri = triangles.astype(np.int64)
    fixed = snap(dst_pts)[tri]  # (T, 3, 2)
    s = src_pts.astype(np.float64)[tri]  # (T, 3, 2)
    e1 = fixed[:, 1] - fixed[:, 0]
    e2 = fixed[:, 2] - fixed[:, 0]
    area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    flip = area2 < 0
    fixed[flip] = fixed[flip][:, [0, 2, 1]]
    s[flip] = s[flip][:, [0, 2, 1]]
    area2 = np.abs(area2)
    drawn = area2 != 0
    if cull_backfacing:
        drawn &= ~flip
    e1 = (fixed[:, 1] - fixed[:, 0]).astype(np.float64)
    e2 = (fixed[:, 2] - fixed[:, 0]).astype(np.float64)
    den = np.where(drawn, area2, 1).astype(np.float64)
    # Barycentric l1, l2 of target point P (fixed units) relative to vertex 0:
    #   l1 = (e2y * dx - e2x * dy) / area2,  l2 = (-e1y * dx + e1x * dy) / area2
    ds1 = s[:, 1] - s[:, 0]  # (T, 2)
    ds2 = s[:, 2] - s[:, 0]
    scale = FIXED_ONE / den
    a_x = (e2[:, 1, None] * ds1 - e1[:, 1, None] * ds2) * scale[:, None]  # d(u, v)/dx
    a_y = (-e2[:, 0, None] * ds1 + e1[:, 0, None] * ds2) * scale[:, None]  # d(u, v)/dy
    x0 = fixed[:, 0, 0] / FIXED_ONE
    y0 = fixed[:, 0, 1] / FIXED_ONE
    c = s[:, 0] - a_x * x0[:, None] - a_y * y0[:, None]
    affine = np.stack([a_x, a_y, c], axis=2)  # (T, 2, 3): rows u, v
    return fixed, affine, drawn


def _owned(a: np.ndarray, b: np.ndarray) -> int:
    dx, dy = int(b[0] - a[0]), int(b[1] - a[1])
    return 1 if (dy < 0 or (dy == 0 and dx > 0)) else 0


def bilinear(src: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample (Hs, Ws, C) uint8 at float64 points (u, v) -> (N, C) uint8, edge pixels replicated."""
    hs, ws = src.shape[:2]
    x0 = np.floor(u)
    y0 = np.floor(v)
    fx = (u - x0)[:, None]
    fy = (v - y0)[:, None]
    xa = np.clip(x0, 0, ws - 1).astype(np.intp)
    xb = np.clip(x0 + 1, 0, ws - 1).astype(np.intp)
    ya = np.clip(y0, 0, hs - 1).astype(np.intp)
    yb = np.clip(y0 + 1, 0, hs - 1).astype(np.intp)
    f = src.astype(np.float64)
    top = f[ya, xa] * (1 - fx) + f[ya, xb] * fx
    bot = f[yb, xa] * (1 - fx) + f[yb, xb] * fx
    val = top * (1 - fy) + bot * fy
    return np.clip(np.floor(val + 0.5), 0, 255).astype(np.uint8)


def warp_triangles(
    src: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    triangles: np.ndarray,
    out_shape: tuple[int, int],
    *,
    cull_backfacing: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp the source texture of every triangle onto its target triangle.

    Args:
        src: (Hs, Ws, C) uint8 source image, host, C in 1..4.
        src_pts: (N, 2) float32 source vertices in source pixels.
        dst_pts: (N, 2) float32 target vertices in output pixels.
        triangles: (T, 3) int32 indices into the point arrays.
        out_shape: (H, W) of the output.
        cull_backfacing: skip triangles with negative signed area in the target.
    Returns:
        out: (H, W, C) uint8, host; zero where no triangle was drawn.
        covered: (H, W) uint8, host; 255 where a triangle was drawn, else 0.
    """
    h, w = out_shape
    c = src.shape[2]
    out = np.zeros((h, w, c), np.uint8)
    tri_id = np.full((h, w), -1, np.int32)
    fixed, affine, drawn = triangle_setup(src_pts, dst_pts, triangles, cull_backfacing)
    for t in np.flatnonzero(drawn):
        v = fixed[t]
        lo = np.maximum((v.min(axis=0) + FIXED_ONE - 1) // FIXED_ONE, 0)  # ceil: first centre >= min
        hi = np.minimum(v.max(axis=0) // FIXED_ONE, (w - 1, h - 1))  # floor: last centre <= max
        if lo[0] > hi[0] or lo[1] > hi[1]:
            continue
        ys, xs = np.mgrid[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
        px = xs.astype(np.int64) * FIXED_ONE
        py = ys.astype(np.int64) * FIXED_ONE
        inside = np.ones(xs.shape, bool)
        for i in range(3):
            a, b = v[i], v[(i + 1) % 3]
            edge = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])
            inside &= edge + _owned(a, b) > 0
        tri_id[ys[inside], xs[inside]] = t
    yy, xx = np.nonzero(tri_id >= 0)
    if len(yy):
        a = affine[tri_id[yy, xx]]  # (P, 2, 3)
        u = a[:, 0, 0] * xx + a[:, 0, 1] * yy + a[:, 0, 2]
        vv = a[:, 1, 0] * xx + a[:, 1, 1] * yy + a[:, 1, 2]
        out[yy, xx] = bilinear(src, u, vv)
    covered = np.where(tri_id >= 0, 255, 0).astype(np.uint8)
    return out, covered


def poisson_system(
    src: np.ndarray, dst: np.ndarray, mask: np.ndarray, mode: str
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The discrete Poisson problem of seamless cloning, as a sparse system.

    For each unknown pixel p (mask set, not on the array's outer frame) and its 4 neighbours q:
        4 f_p - sum_{q unknown} f_q = sum_{q known} dst_q + sum_q v_pq
    with guidance v_pq = src_p - src_q ("normal"), or per channel whichever of src_p - src_q and
    dst_p - dst_q has the larger magnitude ("mixed"; ties take src).
    Returns (A (n, n) csr, b (n, C) float64, flat indices (n,) of the unknown pixels).
    """
    h, w, c = src.shape
    inner = mask.astype(bool).copy()
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
    idx = np.flatnonzero(inner)
    n = len(idx)
    lookup = np.full(h * w, -1, np.int64)
    lookup[idx] = np.arange(n)
    s = src.reshape(-1, c).astype(np.float64)
    d = dst.reshape(-1, c).astype(np.float64)
    b = np.zeros((n, c))
    rows, cols = [np.arange(n)], [np.arange(n)]
    vals = [np.full(n, 4.0)]
    for off in (-w, w, -1, 1):
        q = idx + off
        gs = s[idx] - s[q]
        if mode == "mixed":
            gd = d[idx] - d[q]
            gs = np.where(np.abs(gd) > np.abs(gs), gd, gs)
        b += gs
        k = lookup[q]
        known = k < 0
        b[known] += d[q[known]]
        rows.append(np.flatnonzero(~known))
        cols.append(k[~known])
        vals.append(np.full(int((~known).sum()), -1.0))
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return a, b, idx


def poisson_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, *, mode: str = "normal") -> np.ndarray:
    """Seamless cloning: solve the discrete Poisson equation exactly (sparse LU).

    Args:
        src: (H, W, C) uint8 guidance image (the warped face), host, aligned with ``dst``.
        dst: (H, W, C) uint8 target image (region of interest), host.
        mask: (H, W) uint8 or bool; nonzero pixels are solved for. Pixels on the outer 1-pixel frame
            are always kept from ``dst`` (they are the boundary).
        mode: "normal" (source gradients) or "mixed" (the stronger of source and target gradients).
    Returns:
        (H, W, C) uint8, host: ``dst`` outside the mask, the rounded, clipped solution inside.
    """
    h, w, c = dst.shape
    out = dst.copy()
    a, b, idx = poisson_system(src, dst, mask, mode)
    if len(idx) == 0:
        return out
    sol = spla.splu(a.tocsc()).solve(b)
    flat = out.reshape(-1, c)
    flat[idx] = np.clip(np.floor(sol + 0.5), 0, 255).astype(np.uint8)
    return out
