from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tolerances import TOLERANCES

from fastswap import InputError, mesh
from fastswap import warp_triangles as public_warp


def smooth_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [
        127 + 60 * np.sin(xx / 23.0 + k) * np.cos(yy / 31.0 - k) + 30 * np.sin((xx + yy) / 47.0 + 2 * k)
        for k in range(c)
    ]
    return np.clip(np.stack(chans, axis=2), 0, 255).astype(np.uint8)


def grid_mesh(nx: int, ny: int, x0: float, y0: float, step: float, jitter: float, seed: int):
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    pts = np.stack([x0 + gx * step, y0 + gy * step], axis=-1).reshape(-1, 2).astype(np.float64)
    inner = ((gx > 0) & (gx < nx - 1) & (gy > 0) & (gy < ny - 1)).reshape(-1)
    pts[inner] += rng.uniform(-jitter, jitter, (int(inner.sum()), 2))
    tris = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            a, b, c, d = j * nx + i, j * nx + i + 1, (j + 1) * nx + i, (j + 1) * nx + i + 1
            tris += [(a, b, d), (a, d, c)]
    return pts.astype(np.float32), np.array(tris, np.int32)


def test_affine_map_is_reproduced(backend):
    src = smooth_image(240, 260)
    pts, tris = grid_mesh(7, 7, 20, 20, 33, 6, seed=1)
    m = np.array([[0.9, 0.15, 12.3], [-0.1, 1.05, 7.7]])
    dst = (pts.astype(np.float64) @ m[:, :2].T + m[:, 2]).astype(np.float32)
    out, cov = backend.warp_triangles(src, pts, dst, tris, (260, 270))
    expected = cv2.warpAffine(src, m, (270, 260), flags=cv2.INTER_LINEAR)  # m maps source to target
    inner = cv2.erode(cov, np.ones((5, 5), np.uint8)) > 0
    assert inner.sum() > 20000
    diff = np.abs(out.astype(int) - expected)[inner]
    assert diff.max() <= TOLERANCES["affine_max_abs"], diff.max()


def test_no_cracks_and_no_double_cover_on_shared_edges(backend):
    """Vertices on integer pixels put many pixel centres exactly on edges: each is drawn once."""
    pts, tris = grid_mesh(6, 5, 3, 4, 10, 0, seed=0)
    pts = np.round(pts + np.random.default_rng(2).integers(-3, 4, pts.shape) * (pts > 5) * (pts < 40))
    pts = pts.astype(np.float32)
    src = smooth_image(64, 64)
    h, w = 50, 60
    count = np.zeros((h, w), int)
    for t in range(len(tris)):
        _, cov = backend.warp_triangles(src, pts, pts, tris[t : t + 1], (h, w))
        count += cov > 0
    _, cov_all = backend.warp_triangles(src, pts, pts, tris, (h, w))
    hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    inner = cv2.erode(hull, np.ones((3, 3), np.uint8)) > 0
    assert count.max() == 1, "a pixel was drawn by two triangles"
    assert (count[inner] == 1).all(), "a crack between triangles"
    assert np.array_equal(cov_all > 0, count > 0)


def test_matches_reference_on_a_real_face(backend, reference, demo, demo_faces):
    src_face = demo_faces["grace_hopper"][0]
    dst_face = demo_faces["astronaut"][0]
    src_pts = src_face.points[:468].astype(np.float32)
    dst_pts = (dst_face.points[:468] - dst_face.points[:468].min(axis=0) + 5).astype(np.float32)
    shape = tuple(int(v) for v in (np.ceil(dst_pts.max(axis=0)) + 6)[::-1])
    exp, exp_cov = reference.warp_triangles(demo["grace_hopper"], src_pts, dst_pts, mesh.TRIANGLES, shape)
    out, cov = backend.warp_triangles(demo["grace_hopper"], src_pts, dst_pts, mesh.TRIANGLES, shape)
    assert np.array_equal(cov, exp_cov)
    assert np.abs(out.astype(int) - exp).max() <= TOLERANCES["warp_max_abs"][backend.NAME]


def test_degenerate_and_backfacing_triangles(backend, reference):
    src = smooth_image(40, 40)
    pts = np.array([[5, 5], [30, 5], [5, 30], [30, 30], [17.5, 17.5], [10, 10]], np.float32)
    tris = np.array([[0, 1, 2], [1, 3, 2], [0, 4, 3], [0, 0, 1], [4, 5, 4]], np.int32)  # 0: back-facing?
    for cull in (False, True):
        exp, exp_cov = reference.warp_triangles(src, pts, pts, tris, (40, 40), cull_backfacing=cull)
        out, cov = backend.warp_triangles(src, pts, pts, tris, (40, 40), cull_backfacing=cull)
        assert np.array_equal(cov, exp_cov)
        assert np.abs(out.astype(int) - exp).max() <= TOLERANCES["warp_max_abs"][backend.NAME]
    # A flipped triangle is drawn unless culled; a zero-area one never is.
    flipped = np.array([[0, 2, 1]], np.int32)
    assert backend.warp_triangles(src, pts, pts, flipped, (40, 40))[1].sum() > 0
    assert backend.warp_triangles(src, pts, pts, flipped, (40, 40), cull_backfacing=True)[1].sum() == 0
    assert backend.warp_triangles(src, pts, pts, np.array([[0, 4, 3]], np.int32), (40, 40))[1].sum() == 0


coords = st.floats(-60, 140, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(st.tuples(coords, coords, coords, coords), min_size=3, max_size=12),
    tri_seed=st.integers(0, 2**31 - 1),
    shape=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    channels=st.sampled_from([1, 3, 4]),
)
def test_random_triangles_match_reference(backend, reference, data, tri_seed, shape, channels):
    """Random, degenerate, flipped and off-image triangles: no crash, same result as the reference."""
    arr = np.array(data, np.float32)
    src_pts, dst_pts = arr[:, :2].copy(), arr[:, 2:].copy()
    rng = np.random.default_rng(tri_seed)
    tris = rng.integers(0, len(arr), (rng.integers(1, 10), 3)).astype(np.int32)
    src = smooth_image(50, 70, channels)
    exp, exp_cov = reference.warp_triangles(src, src_pts, dst_pts, tris, shape)
    out, cov = backend.warp_triangles(src, src_pts, dst_pts, tris, shape)
    assert out.shape == (*shape, channels) and cov.shape == shape
    assert np.array_equal(cov, exp_cov)
    assert np.abs(out.astype(int) - exp).max(initial=0) <= TOLERANCES["warp_max_abs"][backend.NAME]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"src": np.zeros((4, 4), np.uint8)}, "src must be uint8 with shape [>0, >0, 1..4]"),
        ({"src_pts": np.zeros((3, 2), np.float64)}, "src_pts must be float32"),
        ({"dst_pts": np.zeros((4, 2), np.float32)}, "dst_pts must be float32 with shape [3, 2]"),
        ({"triangles": np.array([[0, 1, 3]], np.int32)}, "triangles must be indices in [0, 3)"),
        ({"triangles": np.array([[0, 1]], np.int32)}, "triangles must be int32 with shape [>=0, 3]"),
        ({"out_shape": (0, 5)}, "out_shape must be (H > 0, W > 0)"),
        ({"dst_pts": np.array([[0, 0], [1, np.nan], [2, 2]], np.float32)}, "must be finite"),
    ],
)
def test_public_warp_validates_arguments(kwargs, message):
    args = {
        "src": np.zeros((4, 4, 3), np.uint8),
        "src_pts": np.zeros((3, 2), np.float32),
        "dst_pts": np.zeros((3, 2), np.float32),
        "triangles": np.array([[0, 1, 2]], np.int32),
        "out_shape": (5, 5),
    }
    args.update(kwargs)
    with pytest.raises(InputError) as e:
        public_warp(args["src"], args["src_pts"], args["dst_pts"], args["triangles"], args["out_shape"])
    assert message in str(e.value)
