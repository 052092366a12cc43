"""What only the cuda backend does: device arrays in and out, its two launch strategies, and its agreement
with the host emulation of its solver (the backend-parametrised tests compare it with the reference).
Skipped with the registry's reason where the backend is missing (no CuPy, no device)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_blend import face_case

from fastswap import backends, mesh
from fastswap.backends import gpu_plan

_why = backends.status()["cuda"]
pytestmark = pytest.mark.skipif(_why is not None, reason=f"backend 'cuda' unavailable: {_why}")


@pytest.fixture(scope="module")
def cuda():
    return backends.get_backend("cuda")


def _lines_case(seed: int = 3, h: int = 333, w: int = 281):
    rng = np.random.default_rng(seed)
    src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    dst = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 4, h // 2 - 6), 15, 0, 360, 255, -1)
    mask[h // 3, 10:-40] = 0  # a known line between coarse points
    mask[100:104, 60:70] = 0  # a hole
    return src, dst, mask


@pytest.mark.parametrize("mode", ["normal", "mixed"])
@pytest.mark.parametrize("case", ["face", "lines"])
def test_both_launches_give_the_same_bytes(cuda, mode, case):
    src, dst, mask = face_case() if case == "face" else _lines_case()
    one = cuda.poisson_blend(src, dst, mask, mode=mode, launch="persistent")
    each = cuda.poisson_blend(src, dst, mask, mode=mode, launch="per_op")
    assert np.array_equal(one, each)
    assert not np.array_equal(one[mask > 0], dst[mask > 0])  # it solved something


@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_device_solver_equals_its_host_emulation(cuda, mode):
    """Same plan, same per-point math (no fused multiply-add on either side): the same bytes but for a
    rare rounding of a value within float precision of a half."""
    src, dst, mask = _lines_case(5)
    dev = cuda.poisson_blend(src, dst, mask, mode=mode).astype(int)
    host = gpu_plan.emulate_blend(src, dst, mask, mode=mode).astype(int)
    assert np.abs(dev - host).max() <= 1
    assert np.mean(dev != host) <= 1e-3


def test_device_arrays_stay_on_the_device(cuda):
    import cupy

    src, dst, mask = face_case()
    host = cuda.poisson_blend(src, dst, mask)
    out = cuda.poisson_blend(cupy.asarray(src), cupy.asarray(dst), cupy.asarray(mask > 0))
    assert isinstance(out, cupy.ndarray) and np.array_equal(out.get(), host)
    # a strided device view (a box of a larger image) is read correctly
    big = cupy.zeros((300, 260, 3), np.uint8)
    big[10:270, 20:240] = cupy.asarray(dst)
    out2 = cuda.poisson_blend(cupy.asarray(src), big[10:270, 20:240], cupy.asarray(mask))
    assert np.array_equal(out2.get(), host)

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 140, 3), dtype=np.uint8)
    pts = (rng.random((mesh.TRIANGLES.max() + 1, 2)) * [130, 110]).astype(np.float32)
    tris = np.ascontiguousarray(mesh.TRIANGLES[:200])
    w_host, c_host = cuda.warp_triangles(img, pts, pts * 0.9 + 3, tris, (110, 130))
    w_dev, c_dev = cuda.warp_triangles(
        cupy.asarray(img), cupy.asarray(pts), cupy.asarray(pts * 0.9 + 3), tris, (110, 130)
    )
    assert isinstance(w_dev, cupy.ndarray) and isinstance(c_dev, cupy.ndarray)
    assert np.array_equal(w_dev.get(), w_host) and np.array_equal(c_dev.get(), c_host)


def test_a_large_region_equals_its_host_emulation(cuda):
    """A 1.8-megapixel region (each block of the persistent launch covers many points; the reference's
    sparse LU is too slow at this size, and the emulation matches it on the smaller cases)."""
    rng = np.random.default_rng(11)
    h, w = 1400, 1300
    src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    dst = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 5)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 20, h // 2 - 30), 0, 0, 360, 255, -1)
    dev = cuda.poisson_blend(src, dst, mask).astype(int)
    host = gpu_plan.emulate_blend(src, dst, mask).astype(int)
    assert np.abs(dev - host).max() <= 1
    assert np.mean(dev != host) <= 1e-3
