"""Backend registry: ``numpy`` (reference), ``cpu`` (C++ extension), ``cuda`` (CuPy).

Every backend is a module exposing ``NAME``, ``warp_triangles`` and ``poisson_blend`` with the
reference's signatures (see :mod:`fastswap.backends.numpy_backend`). A backend that cannot be loaded
is remembered with the reason; :func:`get_backend` raises :class:`BackendUnavailableError` carrying it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ..errors import BackendUnavailableError, InputError

MODULES = {
    "numpy": "fastswap.backends.numpy_backend",
    "cpu": "fastswap.backends.cpu_backend",
    "cuda": "fastswap.backends.cuda_backend",
}
PREFERENCE = ("cuda", "cpu", "numpy")  # fastest first, for backend="auto"
BLEND_MODES = ("normal", "mixed")

_loaded: dict[str, ModuleType] = {}
_missing: dict[str, str] = {}


def _try_load(name: str) -> ModuleType | None:
    if name in _loaded:
        return _loaded[name]
    if name in _missing:
        return None
    try:
        mod = importlib.import_module(MODULES[name])
        check = getattr(mod, "check_available", None)
        if check is not None:
            check()
    except Exception as e:  # any failure to load is a reason to report, not a crash
        _missing[name] = f"{type(e).__name__}: {e}"
        return None
    _loaded[name] = mod
    return mod


def status() -> dict[str, str | None]:
    """Map every backend name to None (usable) or the reason it is missing."""
    return {name: (None if _try_load(name) else _missing[name]) for name in MODULES}


def available() -> list[str]:
    """Names of the usable backends, fastest first."""
    return [n for n in PREFERENCE if _try_load(n) is not None]


def get_backend(name: str = "auto") -> ModuleType:
    """The backend module for ``name`` ("auto" = the fastest usable one)."""
    if name == "auto":
        for n in PREFERENCE:
            mod = _try_load(n)
            if mod is not None:
                return mod
        raise BackendUnavailableError(f"no backend is usable: {_missing}")
    if name not in MODULES:
        raise InputError(f"backend must be one of {['auto', *MODULES]}, got {name!r}")
    mod = _try_load(name)
    if mod is None:
        raise BackendUnavailableError(f"backend {name!r} is not available: {_missing[name]}")
    return mod


def _expect(cond: bool, what: str, expected: str, got: object) -> None:
    if not cond:
        raise InputError(f"{what} must be {expected}, got {got}")


def _desc(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"shape {list(a.shape)} dtype {a.dtype}"
    return type(a).__name__


def validate_warp(src, src_pts, dst_pts, triangles, out_shape) -> None:
    """Check ``warp_triangles`` arguments once, naming the argument, the expectation and what came."""
    _expect(
        isinstance(src, np.ndarray)
        and src.ndim == 3
        and src.dtype == np.uint8
        and 1 <= src.shape[2] <= 4
        and src.shape[0] > 0
        and src.shape[1] > 0,
        "src",
        "uint8 with shape [>0, >0, 1..4]",
        _desc(src),
    )
    _expect(
        isinstance(src_pts, np.ndarray) and src_pts.ndim == 2 and src_pts.shape[1] == 2 and src_pts.dtype == np.float32,
        "src_pts",
        "float32 with shape [N, 2]",
        _desc(src_pts),
    )
    _expect(
        isinstance(dst_pts, np.ndarray) and dst_pts.shape == src_pts.shape and dst_pts.dtype == np.float32,
        "dst_pts",
        f"float32 with shape {list(src_pts.shape)}",
        _desc(dst_pts),
    )
    _expect(bool(np.isfinite(src_pts).all() and np.isfinite(dst_pts).all()), "src_pts/dst_pts", "finite", "NaN/inf")
    _expect(bool(np.abs(dst_pts).max(initial=0) < 1e6), "dst_pts", "within +-1e6 pixels", "larger values")
    _expect(
        isinstance(triangles, np.ndarray)
        and triangles.ndim == 2
        and triangles.shape[1] == 3
        and triangles.dtype == np.int32,
        "triangles",
        "int32 with shape [>=0, 3]",
        _desc(triangles),
    )
    if triangles.size:
        lo, hi = int(triangles.min()), int(triangles.max())
        _expect(lo >= 0 and hi < len(src_pts), "triangles", f"indices in [0, {len(src_pts)})", f"[{lo}, {hi}]")
    _expect(len(out_shape) == 2 and all(int(v) > 0 for v in out_shape), "out_shape", "(H > 0, W > 0)", out_shape)


def validate_blend(src, dst, mask, mode) -> None:
    """Check ``poisson_blend`` arguments once."""
    _expect(
        isinstance(dst, np.ndarray) and dst.ndim == 3 and dst.dtype == np.uint8 and 1 <= dst.shape[2] <= 4,
        "dst",
        "uint8 with shape [H, W, 1..4]",
        _desc(dst),
    )
    _expect(
        isinstance(src, np.ndarray) and src.shape == dst.shape and src.dtype == np.uint8,
        "src",
        f"uint8 with shape {list(dst.shape)}",
        _desc(src),
    )
    _expect(
        isinstance(mask, np.ndarray) and mask.shape == dst.shape[:2] and mask.dtype in (np.uint8, np.bool_),
        "mask",
        f"uint8 or bool with shape {list(dst.shape[:2])}",
        _desc(mask),
    )
    _expect(mode in BLEND_MODES, "mode", f"one of {BLEND_MODES}", repr(mode))


def warp_triangles(src, src_pts, dst_pts, triangles, out_shape, *, cull_backfacing=False, backend="auto"):
    """Validated entry to a backend's ``warp_triangles`` (see the reference for shapes and meaning);
    host numpy arrays in and out."""
    mod = get_backend(backend)
    src = np.ascontiguousarray(src)
    src_pts = np.ascontiguousarray(src_pts)
    dst_pts = np.ascontiguousarray(dst_pts)
    triangles = np.ascontiguousarray(triangles)
    validate_warp(src, src_pts, dst_pts, triangles, out_shape)
    return mod.warp_triangles(
        src, src_pts, dst_pts, triangles, (int(out_shape[0]), int(out_shape[1])), cull_backfacing=cull_backfacing
    )


def poisson_blend(src, dst, mask, *, mode="normal", backend="auto"):
    """Validated entry to a backend's ``poisson_blend`` (see the reference for shapes and meaning)."""
    mod = get_backend(backend)
    src, dst, mask = (np.ascontiguousarray(a) for a in (src, dst, mask))
    validate_blend(src, dst, mask, mode)
    if mask.dtype == np.bool_:
        mask = mask.view(np.uint8)
    return mod.poisson_blend(src, dst, mask, mode=mode)
