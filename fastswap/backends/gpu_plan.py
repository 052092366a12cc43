"""The cuda backend's Poisson solve, planned on the host: the grid hierarchy and the schedule of
operations (full multigrid, then V-cycles) that csrc/poisson_gpu_impl.h's per-point math runs.

Plain NumPy, importable without CuPy: the device (:mod:`fastswap.backends.cuda_backend`) and the C++
build's host emulation (:func:`emulate_blend`, for tests on machines without a GPU) run the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Operation codes (GpuBlendOp in csrc/poisson_gpu_impl.h).
(
    SETUP,
    RESTRICT_B,
    _RESERVED,  # 2: no operation (kept so the codes stay those of the C++ enum)
    SMOOTH_RED,
    SMOOTH_BLACK,
    RESIDUAL,
    RESTRICT_R,
    PROLONG_ADD,
    PROLONG_SET,
    WRITE,
    RESTRICT_RESIDUAL,
    SMALL_FMG,
    SMALL_CYCLE,
) = range(13)
RESTRICTIONS = (RESTRICT_B, RESTRICT_R, RESTRICT_RESIDUAL)  # run over the points of level + 1
COLS = 8  # kScheduleCols

# GpuLevel (csrc/poisson_gpu_impl.h): 8-byte fields first, so NumPy's aligned layout is C's.
LEVEL_DTYPE = np.dtype(
    [
        ("x", "<i8"),
        ("b", "<i8"),
        ("r", "<i8"),
        ("diag", "<i8"),
        ("link", "<i8"),
        ("h", "<i4"),
        ("w", "<i4"),
        ("step", "<i4"),
        ("pad", "<i4"),
    ],
    align=True,
)

PRE_SMOOTH, POST_SMOOTH = 2, 1  # red-black sweeps before / after each coarse-grid correction
COARSEST = 6  # stop coarsening once min(h, w) <= this
COARSE_SWEEPS = 6  # red-black sweeps that solve the coarsest level (at most 6 points across)
FOLD_SMALL = True  # the small levels' part of a cycle as one schedule row (see schedule)
FUSE_RESTRICT = True  # the residual computed inside the restriction (see schedule)
CYCLES = 1  # V-cycles at the finest level after the full-multigrid pass (each gains about 10 dB)
# Levels of at most this many points are small: on the device one thread block does their
# operations, on copies of their data in its shared memory (no grid-wide barrier between two such
# operations; all small levels together must fit in shared memory: about 4 / 3 of this many points
# x (12 channels' floats + 5 bytes)).
SMALL_POINTS = 2560


@dataclass(frozen=True)
class BlendPlan:
    """Hierarchy and schedule of one solve (depends only on the region's size and channels).

    levels: (L,) LEVEL_DTYPE, finest first (offsets into the pools below).
    schedule: (n, COLS) int32 rows (operation, level, small, barrier, pre-smoothing, post-smoothing,
        coarsest sweeps, levels; the last four for SMALL_* rows): `small` bit 0: the operation runs
        in one thread block on the small levels' copy in shared memory, bit 1: the copy is made
        before it, bit 2: copied back after it; `barrier` asks for a grid-wide barrier after the
        operation (else the block's).
    pool_floats: floats of x, b, r and diagonals of all levels; link_bytes: bytes of all links.
    small: per level, whether it has at most SMALL_POINTS points (the schedule's key).
    tail_float, tail_link: where the small levels' data start in the pools (the part the device copies
        to shared memory; pool_floats and link_bytes when no level is small).
    """

    levels: np.ndarray
    schedule: np.ndarray
    pool_floats: int
    link_bytes: int
    small: tuple[bool, ...]
    tail_float: int
    tail_link: int


def level_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """(h, w) of each level, finest first: level l + 1 has h // 2 + 1 by w // 2 + 1 points."""
    sizes = [(h, w)]
    while min(sizes[-1]) > COARSEST:
        ph, pw = sizes[-1]
        sizes.append((ph // 2 + 1, pw // 2 + 1))
    return sizes


@lru_cache(maxsize=256)
def blend_plan(h: int, w: int, channels: int, cycles: int = CYCLES) -> BlendPlan:
    """The plan for an (h, w, channels) region, in either blend mode (mixed guidance is in the
    right-hand side, not in the schedule)."""
    sizes = level_sizes(h, w)
    levels = np.zeros(len(sizes), LEVEL_DTYPE)
    floats = links = 0
    for i, (lh, lw) in enumerate(sizes):
        n = lh * lw
        x, b, r, diag = (floats + k * n * channels for k in range(4))
        levels[i] = (x, b, r, diag, links, lh, lw, 1 << i, 0)
        floats += 3 * n * channels + n
        links += n
    levels.setflags(write=False)
    small = tuple(lh * lw <= SMALL_POINTS for lh, lw in sizes)
    first = small.index(True) if True in small else len(small)
    tail = (int(levels[first]["x"]), int(levels[first]["link"])) if first < len(small) else (floats, links)
    return BlendPlan(levels, schedule(small, cycles, FOLD_SMALL, FUSE_RESTRICT), floats, links, small, *tail)


@lru_cache(maxsize=64)
def schedule(
    small: tuple[bool, ...], cycles: int = CYCLES, fold_small: bool | None = None, fuse_restrict: bool | None = None
) -> np.ndarray:
    """The schedule for a hierarchy of ``len(small)`` levels (``small[l]``: level l has at most
    SMALL_POINTS points); see :class:`BlendPlan`. Depends on the sizes only through these flags.

    Full multigrid (right-hand sides restricted down, the coarsest solved, each level interpolated
    up and given a V(PRE_SMOOTH, POST_SMOOTH) cycle), then ``cycles`` V-cycles of the finest level.
    Everything on the small levels is one row (SMALL_FMG: full multigrid's part there; SMALL_CYCLE:
    a V-cycle's part there), whose steps csrc/poisson_gpu_impl.h's small_steps lists. ``fold_small``
    (default FOLD_SMALL) False: one row per operation there too; ``fuse_restrict`` (default
    FUSE_RESTRICT) False: the residual computed in a pass of its own before each restriction. Every
    variant gives the same result (tests check it); they differ in speed."""
    fold = FOLD_SMALL if fold_small is None else fold_small
    fuse = FUSE_RESTRICT if fuse_restrict is None else fuse_restrict
    n = len(small)
    first = small.index(True) if True in small else n  # the first small level (small ones come last)
    if not fold:
        first = n
    rows: list[tuple[int, int]] = []

    def vcycle(lv: int) -> None:
        if lv >= first:
            rows.append((SMALL_CYCLE, lv))
            return
        if lv == n - 1:  # a coarsest level that is not small
            for _ in range(COARSE_SWEEPS):
                rows.extend([(SMOOTH_RED, lv), (SMOOTH_BLACK, lv)])
            return
        for _ in range(PRE_SMOOTH):
            rows.extend([(SMOOTH_RED, lv), (SMOOTH_BLACK, lv)])
        rows.extend([(RESTRICT_RESIDUAL, lv)] if fuse else [(RESIDUAL, lv), (RESTRICT_R, lv)])
        vcycle(lv + 1)
        rows.append((PROLONG_ADD, lv))
        for _ in range(POST_SMOOTH):
            rows.extend([(SMOOTH_BLACK, lv), (SMOOTH_RED, lv)])

    for lv in range(min(first, n - 1)):
        rows.append((RESTRICT_B, lv))
    if first < n:
        rows.append((SMALL_FMG, first))
    else:
        vcycle(n - 1)
    for lv in range(min(first, n - 1) - 1, -1, -1):
        rows.append((PROLONG_SET, lv))
        vcycle(lv)
    for _ in range(cycles):
        vcycle(0)
    rows.append((WRITE, 0))

    def one_block(op: int, lv: int) -> bool:  # every level the operation touches is small
        if op in (SMALL_FMG, SMALL_CYCLE):
            return True
        if op in (*RESTRICTIONS, PROLONG_ADD, PROLONG_SET):
            return small[lv] and small[lv + 1]
        return small[lv]

    sched = np.zeros((n + len(rows), COLS), np.int32)
    for lv in range(n):  # the set-ups are independent of one another: one barrier after them all
        sched[lv, :4] = (SETUP, lv, 0, int(lv == n - 1))
    flags = [one_block(op, lv) for op, lv in rows]
    for k, (op, lv) in enumerate(rows):
        this, prev = flags[k], k > 0 and flags[k - 1]
        nxt = flags[k + 1] if k + 1 < len(rows) else None
        fl = int(this) | (2 if this and not prev else 0) | (4 if this and not nxt else 0)
        # a grid-wide barrier unless this and the next operation both run in the one block
        sched[n + k] = (
            op,
            lv,
            fl,
            int(nxt is not None and not (this and nxt)),
            PRE_SMOOTH,
            POST_SMOOTH,
            COARSE_SWEEPS,
            n,
        )
    sched.setflags(write=False)
    return sched


def points(levels: np.ndarray, op: int, lv: int) -> int:
    """Points a schedule row's operation runs over (restrictions: those of level lv + 1)."""
    at = lv + 1 if op in RESTRICTIONS else lv
    return int(levels[at]["h"]) * int(levels[at]["w"])


def emulate_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, *, mode: str = "normal") -> np.ndarray:
    """The cuda backend's blend run on the host by the C++ extension, operation by operation, point by
    point (same arguments and result as :func:`fastswap.backends.numpy_backend.poisson_blend`; host
    arrays). For tests without a GPU; slow (one thread)."""
    from .. import _cpu

    h, w, c = dst.shape
    plan = blend_plan(h, w, c)
    m = np.ascontiguousarray(mask).view(np.uint8) if mask.dtype == np.bool_ else np.ascontiguousarray(mask)
    return _cpu.run_gpu_schedule(
        np.ascontiguousarray(src),
        np.ascontiguousarray(dst),
        m,
        mode == "mixed",
        plan.levels.view(np.uint8),
        plan.schedule,
        plan.pool_floats,
        plan.link_bytes,
    )
