"""Every tolerance the backend tests use, in one table (backend vs the numpy reference)."""

from __future__ import annotations

TOLERANCES = {
    # warp_triangles: coverage must be identical; values within this many grey levels everywhere
    # (float32 vs float64 bilinear weights may round a .5 the other way).
    "warp_max_abs": {"numpy": 0, "cpu": 1, "cuda": 1},
    # poisson_blend: PSNR (dB) of a backend's result against the exact reference inside the mask.
    "blend_min_psnr_db": {"numpy": 200.0, "cpu": 40.0, "cuda": 40.0},
    # An affine map of a smooth synthetic image is reproduced within this many grey levels
    # (against OpenCV's warpAffine, away from the image edges).
    "affine_max_abs": 1,
    # quality.apply_gain's C++ path against its OpenCV reference: within this many grey levels, on at
    # most this share of the values (a product within float precision of a half rounds either way;
    # 4e-6 on the swaps of img2 and img20 into the shared photos, 1e-4 on random noise and gains).
    "gain_max_abs": 1,
    "gain_max_share": 5e-4,
}
