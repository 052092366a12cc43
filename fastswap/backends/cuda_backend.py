"""The ``cuda`` backend (CuPy): the reference's functions and signatures, run on an NVIDIA GPU.

Kernels: csrc/cuda_kernels.cu, compiled once per device by CuPy's ``RawModule`` (NVRTC) from the same
per-pixel headers as the C++ build (warp_impl.h, poisson_gpu_impl.h) and cached (CuPy also keeps the
binary on disk). Importing this module checks, in order: CuPy installed, a CUDA device answering, the
kernels compiling there and their records laid out as the host expects; any failure is the reason the
registry reports and ``backend="auto"`` falls back to ``cpu``.

Data: host NumPy arrays are uploaded and the results downloaded (NumPy in, NumPy out); CuPy arrays, or
anything with ``__cuda_array_interface__``, are used where they are, without a copy, and the results
stay on the device (CuPy arrays). Every launch and allocation is checked by CuPy, which raises on
failure (a kernel's fault surfaces at the next synchronisation).

Warp: a thread per triangle sets it up, a block per triangle rasterises it (each pixel keeps the
highest index of the triangles covering it: later triangles win), a thread per pixel samples.
Blend: multigrid for the correction h = f - src (fastswap.backends.gpu_plan: vertex-centred coarsening
whose coarse levels keep the fine domain's edge, full multigrid then CYCLES V-cycles, red-black
Gauss-Seidel), the whole schedule in one launch whose blocks (one per multiprocessor) meet at a
grid-wide barrier between operations; levels of at most SMALL_POINTS points are done by one block.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from . import gpu_plan

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

NAME = "cuda"
BLOCK = 256  # threads per block of every launch but the persistent blend's
PERSISTENT_BLOCK = 512  # threads per block of the persistent blend (its __launch_bounds__, set at compile time)
# "persistent": the blend's whole schedule in one launch (grid-wide barriers); "per_op": a launch per
# operation (same result; the fallback where a grid that fits the device at once cannot be launched).
BLEND_LAUNCH = os.environ.get("FASTSWAP_CUDA_BLEND", "persistent")
_TRI_RECORD_MAX = 256  # bytes per triangle record allocated (TriSetup's size is checked below it)


def _kernel_dir() -> Path:
    """Where cuda_kernels.cu and its headers are: csrc/ of a source checkout (an editable install's
    kernels/ copy may be older), else the installed package's kernels/ folder (the build copies them
    there)."""
    here = Path(__file__).resolve().parents[1]
    for d in (here.parent / "csrc", here / "kernels"):
        if (d / "cuda_kernels.cu").is_file():
            return d
    raise ImportError(f"cuda_kernels.cu not found in {here / 'kernels'} or {here.parent / 'csrc'}")


@functools.cache
def _module(device: int) -> cupy.RawModule:
    """The compiled kernels for one device (compiled on first use there)."""
    d = _kernel_dir()
    with cupy.cuda.Device(device):
        mod = cupy.RawModule(
            code=(d / "cuda_kernels.cu").read_text(),
            # no fused multiply-add: the C++ build's rounding
            options=("--std=c++17", f"-I{d}", "--fmad=false", f"-DFS_PERSISTENT_THREADS={PERSISTENT_BLOCK}"),
        )
        mod.compile()
        sizes = cupy.zeros(2, np.int32)
        mod.get_function("record_sizes")((1,), (1,), (sizes,))
        tri_size, level_size = (int(v) for v in sizes.get())
    if level_size != gpu_plan.LEVEL_DTYPE.itemsize or tri_size > _TRI_RECORD_MAX:
        raise ImportError(
            f"kernel records laid out unexpectedly: GpuLevel {level_size} bytes (host "
            f"{gpu_plan.LEVEL_DTYPE.itemsize}), TriSetup {tri_size} (at most {_TRI_RECORD_MAX})"
        )
    return mod


def check_available() -> None:
    """Compile the kernels on the current device (the registry records any failure as the reason)."""
    _module(cupy.cuda.runtime.getDevice())


_KERNELS = ("warp_setup", "warp_raster", "warp_sample", "blend_op", "blend_persistent")


@functools.cache
def _kernels(device: int) -> dict:
    mod = _module(device)
    return {name: mod.get_function(name) for name in _KERNELS}


def _kernel(name: str):
    return _kernels(cupy.cuda.runtime.getDevice())[name]


_barriers: dict[int, cupy.ndarray] = {}


def _barrier(device: int) -> cupy.ndarray:
    """The persistent blend's barrier state (count, generation) on this device: every barrier leaves
    the count at 0, so a launch that finished leaves it ready for the next. Persistent launches go on
    the default stream only (see poisson_blend), which runs them one after another."""
    bar = _barriers.get(device)
    if bar is None:
        bar = _barriers[device] = cupy.zeros(2, np.uint32)
    return bar


@functools.cache
def _persistent_grid(device: int) -> int:
    """Blocks of the one-launch blend: one per multiprocessor, so that all are resident at once (the
    grid-wide barrier needs that)."""
    return int(cupy.cuda.runtime.getDeviceProperties(device)["multiProcessorCount"])


def device_info() -> str:
    """What ``fastswap info`` says of the device: name, compute capability, memory, driver, CuPy."""
    dev = cupy.cuda.runtime.getDevice()
    p = cupy.cuda.runtime.getDeviceProperties(dev)
    name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
    return (
        f"device {dev}: {name}, compute {p['major']}.{p['minor']}, {p['multiProcessorCount']} multiprocessors, "
        f"{p['totalGlobalMem'] / 2**30:.0f} GiB; driver {cupy.cuda.runtime.driverGetVersion()}, "
        f"runtime {cupy.cuda.runtime.runtimeGetVersion()}, CuPy {cupy.__version__}"
    )


def _on_device(a) -> bool:
    return isinstance(a, cupy.ndarray) or hasattr(a, "__cuda_array_interface__")


def _dev(a, dtype) -> cupy.ndarray:
    """A C-contiguous device array of ``dtype``: device input as it is (copied only if strided or of
    another dtype), host input uploaded."""
    if _on_device(a):
        return cupy.ascontiguousarray(cupy.asarray(a), dtype=dtype)
    return cupy.asarray(np.ascontiguousarray(a, dtype=dtype))


def _i(v: int) -> np.int32:
    return np.int32(v)


def warp_triangles(
    src,
    src_pts,
    dst_pts,
    triangles,
    out_shape: tuple[int, int],
    *,
    cull_backfacing: bool = False,
):
    """See :func:`fastswap.backends.numpy_backend.warp_triangles`: same arguments, shapes and dtypes.
    ``src`` on the host (NumPy) gives host results; on the device (CuPy or ``__cuda_array_interface__``)
    gives device results (CuPy), with no transfer. The point and triangle arrays may live on either."""
    back = not _on_device(src)
    s = _dev(src, np.uint8)
    sp, dp = _dev(src_pts, np.float32), _dev(dst_pts, np.float32)
    tri = _dev(triangles, np.int32)
    h, w = int(out_shape[0]), int(out_shape[1])
    hs, ws, c = s.shape
    nt = int(tri.shape[0])
    out = cupy.empty((h, w, c), np.uint8)
    covered = cupy.empty((h, w), np.uint8)
    tri_id = cupy.full(h * w, -1, np.int32)
    records = cupy.empty(max(nt, 1) * _TRI_RECORD_MAX, np.uint8)
    if nt:
        args = (sp, dp, tri, _i(nt), _i(int(cull_backfacing)), _i(hs), _i(ws), records)
        _kernel("warp_setup")(((nt + BLOCK - 1) // BLOCK,), (BLOCK,), args)
        _kernel("warp_raster")((nt,), (128,), (records, _i(h), _i(w), tri_id))
    args = (s, _i(hs), _i(ws), _i(c), records, tri_id, _i(h), _i(w), out, covered)
    _kernel("warp_sample")(((h * w + BLOCK - 1) // BLOCK,), (BLOCK,), args)
    return (out.get(), covered.get()) if back else (out, covered)


@functools.lru_cache(maxsize=64)
def _device_schedule(device: int, small: tuple[bool, ...], fold: bool, fuse: bool) -> cupy.ndarray:
    with cupy.cuda.Device(device):
        return cupy.asarray(gpu_plan.schedule(small, gpu_plan.CYCLES, fold, fuse))


@functools.lru_cache(maxsize=256)
def _device_plan(device: int, h: int, w: int, c: int):
    """(plan, its level table on the device, its schedule on the device); a new size costs a small
    table and one upload (schedules are shared by every size with the same levels)."""
    plan = gpu_plan.blend_plan(h, w, c)
    with cupy.cuda.Device(device):
        sched = _device_schedule(device, plan.small, gpu_plan.FOLD_SMALL, gpu_plan.FUSE_RESTRICT)
        return plan, cupy.asarray(plan.levels.view(np.uint8)), sched


_shared_set: dict[int, int] = {}  # device -> dynamic shared memory the persistent blend may use


def poisson_blend(src, dst, mask, *, mode: str = "normal", launch: str | None = None):
    """See :func:`fastswap.backends.numpy_backend.poisson_blend`: same arguments, shapes and dtypes.
    ``dst`` on the host gives a host result; on the device, a device result (CuPy) with no transfer.
    ``launch``: "persistent" or "per_op" (default :data:`BLEND_LAUNCH`; the same result). The
    persistent launch needs all its blocks on the device at once and runs on CuPy's default stream;
    under another current stream (or CuPy's per-thread default streams) "per_op" is used."""
    back = not _on_device(dst)
    d = _dev(dst, np.uint8)
    s = _dev(src, np.uint8)
    m = _dev(mask.view(np.uint8) if getattr(mask, "dtype", None) == np.bool_ else mask, np.uint8)
    h, w, c = d.shape
    device = cupy.cuda.runtime.getDevice()
    plan, levels, schedule = _device_plan(device, h, w, c)
    pool = cupy.empty(plan.pool_floats, np.float32)
    links = cupy.empty(plan.link_bytes, np.uint8)
    out = cupy.empty_like(d)
    head = (s, d, m, out, pool, links, levels, _i(h), _i(w), _i(c), _i(int(mode == "mixed")))
    how = launch or BLEND_LAUNCH
    if how == "persistent" and cupy.cuda.get_current_stream().ptr != 0:
        # On another stream a persistent launch could run beside another one (sharing the device's
        # multiprocessors, or its barrier): one launch per operation is safe on any stream.
        how = "per_op"
    if how == "persistent":
        bar = _barrier(device)
        # a problem whose levels are all small runs in one block (no grid-wide barrier to pay)
        grid = 1 if plan.tail_float == 0 else _persistent_grid(device)
        shared = (plan.pool_floats - plan.tail_float) * 4 + (plan.link_bytes - plan.tail_link)
        k = _kernel("blend_persistent")
        if shared > _shared_set.get(device, 48 * 1024):
            k.max_dynamic_shared_size_bytes = shared
            _shared_set[device] = shared
        tails = tuple(np.int64(v) for v in (plan.pool_floats, plan.tail_float, plan.link_bytes, plan.tail_link))
        k((grid,), (PERSISTENT_BLOCK,), (*head, schedule, _i(len(plan.schedule)), bar, *tails), shared_mem=shared)
    elif how == "per_op":
        k = _kernel("blend_op")
        for k_row, row in enumerate(plan.schedule.tolist()):
            op, lv = row[0], row[1]
            if op in (gpu_plan.SMALL_FMG, gpu_plan.SMALL_CYCLE):  # several levels' steps: one block
                grid = 1
            else:
                grid = min((gpu_plan.points(plan.levels, op, lv) + BLOCK - 1) // BLOCK, 65535)
            k((grid,), (BLOCK,), (*head, schedule, _i(k_row)))
    else:
        raise ValueError(f"launch must be 'persistent' or 'per_op', got {how!r}")
    return out.get() if back else out
