from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from conftest import SHARED_FACES, backend_params, psnr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tolerances import TOLERANCES

from fastswap import InputError, backends
from fastswap import poisson_blend as public_blend
from fastswap.backends import gpu_plan


class _EmulatedCuda:
    """The cuda backend's blend (its plan and csrc/poisson_gpu_impl.h's per-point math) run on the
    host by the C++ extension: the solver the GPU runs, checked on machines without one."""

    NAME = "cuda"

    @staticmethod
    def poisson_blend(src, dst, mask, *, mode="normal"):
        return gpu_plan.emulate_blend(src, dst, mask, mode=mode)


def _emulated_param():
    why = backends.status()["cpu"]
    marks = [pytest.mark.skip(reason=f"the host emulation needs the C++ extension: {why}")] if why else []
    return pytest.param("cuda-emulated", marks=marks, id="cuda-emulated")


@pytest.fixture(params=[*backend_params(), _emulated_param()])
def backend(request):
    """Every backend, and the cuda backend's solver emulated on the host (blend tests only)."""
    return _EmulatedCuda() if request.param == "cuda-emulated" else backends.get_backend(request.param)


def direct_solve(src, dst, mask, mode):
    """Independent loop-by-loop assembly of the seamless-cloning system, solved with spsolve."""
    h, w, c = dst.shape
    unknown = [(y, x) for y in range(1, h - 1) for x in range(1, w - 1) if mask[y, x]]
    index = {p: i for i, p in enumerate(unknown)}
    a = sp.lil_matrix((len(unknown), len(unknown)))
    b = np.zeros((len(unknown), c))
    s, d = src.astype(float), dst.astype(float)
    for i, (y, x) in enumerate(unknown):
        a[i, i] = 4
        for qy, qx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            g = s[y, x] - s[qy, qx]
            if mode == "mixed":
                gd = d[y, x] - d[qy, qx]
                g = np.where(np.abs(gd) > np.abs(g), gd, g)
            b[i] += g
            if (qy, qx) in index:
                a[i, index[(qy, qx)]] = -1
            else:
                b[i] += d[qy, qx]
    sol = spla.spsolve(a.tocsc(), b)
    out = dst.copy()
    for i, (y, x) in enumerate(unknown):
        out[y, x] = np.clip(np.floor(sol[i] + 0.5), 0, 255)
    return out


def random_case(seed, h=14, w=17, c=3):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    dst = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    mask = (rng.random((h, w)) < 0.7).astype(np.uint8)
    mask[0, 3] = 1  # on the frame: must be treated as boundary
    return src, dst, mask


@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_reference_matches_direct_sparse_solve(reference, mode):
    for seed in range(3):
        src, dst, mask = random_case(seed)
        assert np.array_equal(reference.poisson_blend(src, dst, mask, mode=mode), direct_solve(src, dst, mask, mode))


@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_constant_guidance_keeps_the_boundary(backend, mode):
    h, w = 70, 90
    dst = np.zeros((h, w, 3), np.uint8)
    dst[:] = (40, 120, 200)
    src = np.full((h, w, 3), 90, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (45, 35), (35, 25), 0, 0, 360, 1, -1)
    out = backend.poisson_blend(src, dst, mask, mode=mode)
    assert np.abs(out.astype(int) - dst).max() <= 1


def test_identical_images_are_unchanged(backend):
    img = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8), (5, 5), 2)
    mask = np.zeros((60, 80), np.uint8)
    mask[5:55, 5:75] = 255
    assert np.abs(backend.poisson_blend(img, img, mask).astype(int) - img).max() <= 1


def test_outside_the_mask_is_the_target(backend):
    src, dst, mask = random_case(4, 40, 50)
    out = backend.poisson_blend(src, dst, mask)
    outside = mask == 0
    outside[0, :] = outside[-1, :] = outside[:, 0] = outside[:, -1] = True
    assert np.array_equal(out[outside], dst[outside])


def face_case():
    if SHARED_FACES.is_dir():
        a = cv2.imread(str(SHARED_FACES / "img2.jpg"))
        b = cv2.imread(str(SHARED_FACES / "img15.jpg"))
    else:
        import skimage.data

        a = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
        b = cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR)
    h, w = 260, 220
    src = np.ascontiguousarray(cv2.resize(a, (w, h)))
    dst = np.ascontiguousarray(cv2.resize(b, (w, h)))
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (110, 130), (90, 115), 0, 0, 360, 255, -1)
    return src, dst, mask


@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_matches_reference_on_a_face_region(backend, reference, mode):
    src, dst, mask = face_case()
    exp = reference.poisson_blend(src, dst, mask, mode=mode)
    out = backend.poisson_blend(src, dst, mask, mode=mode)
    inside = mask > 0
    assert psnr(out[inside], exp[inside]) >= TOLERANCES["blend_min_psnr_db"][backend.NAME]


@pytest.mark.parametrize("channels", [1, 4])
def test_other_channel_counts(backend, reference, channels):
    src, dst, mask = random_case(7, 30, 33, channels)
    exp = reference.poisson_blend(src, dst, mask)
    out = backend.poisson_blend(src, dst, mask)
    assert psnr(out, exp) >= TOLERANCES["blend_min_psnr_db"][backend.NAME]


def test_public_blend_validates_arguments():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError, match=r"mask must be uint8 or bool with shape \[8, 8\]"):
        public_blend(img, img, np.zeros((8, 7), np.uint8))
    with pytest.raises(InputError, match=r"src must be uint8 with shape \[8, 8, 3\]"):
        public_blend(img[:, :, :2], img, np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="mode must be one of"):
        public_blend(img, img, np.zeros((8, 8), bool), mode="max")


class _Recorder:
    """A backend wrapper that keeps the blend problems the pipeline hands over."""

    NAME = "recorder"

    def __init__(self, inner) -> None:
        self.inner, self.problems = inner, []

    def warp_triangles(self, *args, **kwargs):
        return self.inner.warp_triangles(*args, **kwargs)

    def poisson_blend(self, src, dst, mask, *, mode="normal"):
        self.problems.append((src.copy(), dst.copy(), mask.copy()))
        return self.inner.poisson_blend(src, dst, mask, mode=mode)


@pytest.fixture(scope="module")
def pipeline_problems(shared_faces, detector):
    """The pipeline's own blend problems (robust boundary included) on two real swaps: a large face
    region (img1, 700 x 560, where the smoothest error mode is slowest to converge) and a small one."""
    from fastswap import FaceSwapper

    with FaceSwapper(str(shared_faces / "img2.jpg"), detector=detector, backend="numpy") as fs:
        rec = fs.backend = _Recorder(fs.backend)
        for name in ("img1.jpg", "img14.jpg"):
            fs.swap(str(shared_faces / name), faces="largest")
    return rec.problems


def test_matches_reference_on_the_pipelines_own_problems(backend, reference, pipeline_problems):
    for src, dst, mask in pipeline_problems:
        exp = reference.poisson_blend(src, dst, mask)
        out = backend.poisson_blend(src, dst, mask)
        inside = mask > 0
        assert psnr(out[inside], exp[inside]) >= TOLERANCES["blend_min_psnr_db"][backend.NAME], mask.shape


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    h=st.integers(3, 90),
    w=st.integers(3, 90),
    kind=st.sampled_from(["noise", "blobs", "thin", "full", "lines", "bars"]),
    smooth=st.booleans(),
    mode=st.sampled_from(["normal", "mixed"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_random_regions_match_the_reference(backend, reference, h, w, kind, smooth, mode, seed):
    """Any size (even or odd), any mask (isolated pixels, 1-pixel lines, blobs, the whole inside,
    touching the frame, the whole inside cut by 1-pixel known lines or dotted with small known bars),
    noisy or smooth images: within the tolerance of the exact solution."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    dst = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if smooth:
        src, dst = (cv2.GaussianBlur(a, (0, 0), 3) for a in (src, dst))
    if kind == "noise":
        mask = (rng.random((h, w)) < 0.5).astype(np.uint8) * 255
    elif kind == "blobs":
        mask = (cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 4) > 0.5).astype(np.uint8) * 255
    elif kind == "thin":
        mask = np.zeros((h, w), np.uint8)
        mask[rng.integers(0, h), :] = 255
        mask[:, rng.integers(0, w)] = 255
    else:
        mask = np.full((h, w), 255, np.uint8)
        if kind == "lines":  # known lines the coarse levels' grids fall between
            mask[rng.integers(0, h), :] = 0
            mask[:, rng.integers(0, w)] = 0
        elif kind == "bars":
            for _ in range(3):
                y, x = rng.integers(0, h), rng.integers(0, w)
                mask[y : y + int(rng.integers(1, 4)), x : x + int(rng.integers(2, 20))] = 0
    exp = reference.poisson_blend(src, dst, mask, mode=mode)
    out = backend.poisson_blend(src, dst, mask, mode=mode)
    assert np.array_equal(out[mask == 0], dst[mask == 0])
    inner = mask > 0
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
    if inner.any():
        assert psnr(out[inner], exp[inner]) >= TOLERANCES["blend_min_psnr_db"][backend.NAME]


@pytest.mark.parametrize("layout", ["box of a larger image", "rows reversed", "column-major", "channel subset"])
def test_cpu_blend_of_views_equals_the_blend_of_copies(layout):
    """The cpu backend reads a box cut from a larger image (rows further apart than the box is wide)
    in place; other layouts are copied first. Either way the bytes equal those of contiguous copies."""
    cpu_backend = pytest.importorskip("fastswap.backends.cpu_backend", reason="the C++ extension is not built")
    rng = np.random.default_rng(17)
    big_h, big_w = 220, 260
    src_big = cv2.GaussianBlur(rng.integers(0, 256, (big_h, big_w, 4), dtype=np.uint8), (0, 0), 2)
    dst_big = rng.integers(0, 256, (big_h, big_w, 4), dtype=np.uint8)
    mask_big = np.zeros((big_h, big_w), np.uint8)
    cv2.ellipse(mask_big, (120, 110), (80, 70), 0, 0, 360, 255, -1)
    mask_big[rng.random((big_h, big_w)) < 0.02] = 0
    box = (slice(25, 197), slice(30, 215))
    src, dst, mask = src_big[box][:, :, :3], dst_big[box][:, :, :3], mask_big[box]
    if layout == "box of a larger image":
        src, dst = np.ascontiguousarray(src_big[:, :, :3])[box], np.ascontiguousarray(dst_big[:, :, :3])[box]
    elif layout == "rows reversed":
        src, dst, mask = src[::-1], dst[::-1], mask[::-1]
    elif layout == "column-major":
        src, dst, mask = np.asfortranarray(src), np.asfortranarray(dst), np.asfortranarray(mask)
    assert not src.flags.c_contiguous and not dst.flags.c_contiguous
    for mode in ("normal", "mixed"):
        views = cpu_backend.poisson_blend(src, dst, mask, mode=mode)
        copies = cpu_backend.poisson_blend(*(np.ascontiguousarray(a) for a in (src, dst, mask)), mode=mode)
        assert np.array_equal(views, copies), f"{layout}, {mode}"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_cpu_solver_reads_nothing_left_from_earlier_calls(mode, threads):
    """The cpu solver reuses its buffers across calls and computes only what its passes read (each
    row's span of unknown pixels, zeros beside it). With the test hook that fills those buffers with
    NaN before every call, a pass that read a value not written in the call would carry a NaN into
    the result: the results must equal those of normal calls, on masks with holes, thin known lines,
    scattered known pixels and several pieces, large regions to small ones."""
    cpu = pytest.importorskip("fastswap._cpu", reason="the C++ extension is not built")
    rng = np.random.default_rng(21)
    cases = []
    for k, (h, w) in enumerate([(260, 210), (97, 131), (300, 40), (33, 250), (180, 180), (12, 9)]):
        src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
        dst = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (max(w // 2 - 3, 1), max(h // 2 - 2, 1)), 15 * k, 0, 360, 255, -1)
        if k % 3 == 0:
            mask[rng.random((h, w)) < 0.04] = 0
        elif k % 3 == 1:
            mask[h // 2, :] = 0  # a known line: two pieces
            mask[:, w // 3] = 0
        else:
            cv2.circle(mask, (w // 3, h // 3), max(min(h, w) // 8, 1), 0, -1)  # a hole
        cases.append((src, dst, mask))
    before = cpu.num_threads()
    cpu.set_num_threads(threads)
    try:
        normal = [cpu.poisson_blend(s, d, m, mode, 4, 2, 2, 0.2, 12) for s, d, m in cases]
        cpu._poison_workspace(True)
        poisoned = [cpu.poisson_blend(s, d, m, mode, 4, 2, 2, 0.2, 12) for s, d, m in cases]
    finally:
        cpu._poison_workspace(False)
        cpu.set_num_threads(before)
    for i, (a, b) in enumerate(zip(normal, poisoned, strict=True)):
        assert np.array_equal(a, b), f"case {i}: a pass read a buffer value that this call did not write"


@pytest.mark.parametrize(
    ("mode", "holes", "band"),
    [("normal", "scattered", 0), ("mixed", "scattered", 0), ("normal", "one", 12), ("mixed", "one", 12)],
)
def test_cpu_result_does_not_depend_on_the_thread_count(mode, holes, band):
    """The cpu backend's solver shares large levels' passes among OpenMP threads or streams them on
    one thread; both orders give every update the same inputs, so the result is the same bit for bit
    (also when only a band along the edge is relaxed on the finest level)."""
    cpu = pytest.importorskip("fastswap._cpu", reason="the C++ extension is not built")
    rng = np.random.default_rng(7)
    h, w = 230, 190  # above the size where passes go parallel
    src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    dst = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 3, h // 2 - 2), 0, 0, 360, 255, -1)
    if holes == "scattered":
        mask[rng.random((h, w)) < 0.05] = 0  # boundary inside the region too
    else:
        mask[100:112, 80:95] = 0  # one hole: a deep interior around it, on rows with two runs
    before = cpu.num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            cpu.set_num_threads(n)
            outs.append(cpu.poisson_blend(src, dst, mask, mode, 4, 2, 2, 0.0, band))
    finally:
        cpu.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    assert not np.array_equal(outs[0][mask > 0], dst[mask > 0])  # it did solve something
    full = cpu.poisson_blend(src, dst, mask, mode, 4, 2, 2, 0.0, 0)
    if band and mode == "normal":  # the band changed the arithmetic, not the answer
        assert not np.array_equal(outs[0], full)
        assert psnr(outs[0][mask > 0], full[mask > 0]) >= TOLERANCES["blend_min_psnr_db"]["cpu"]
    elif band:  # mixed gradients: relaxed everywhere whatever the band
        assert np.array_equal(outs[0], full)


@pytest.mark.parametrize(
    "cut",
    [
        (slice(100, 101), slice(80, 95)),
        (slice(101, 102), slice(80, 95)),
        (slice(80, 95), slice(101, 102)),
        (slice(100, 101), slice(40, 150)),
        (slice(100, 112), slice(80, 95)),
        (slice(100, 112), slice(3, 50)),
    ],
    ids=["even-row", "odd-row", "odd-column", "long-row", "hole", "notch"],
)
def test_known_lines_and_holes_inside_a_large_region(backend, reference, cut):
    """A 1-pixel known line (or a small hole, or a notch) inside a region large enough for several
    coarse levels: the coarse grids fall between its pixels; the solve must still match the exact one
    (the cpu solver once converged to a wrong answer here: 6 dB)."""
    rng = np.random.default_rng(8)
    h, w = 230, 190
    src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    dst = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    mask = np.zeros((h, w), np.uint8)
    mask[3:-3, 3:-3] = 255
    mask[cut] = 0
    exp = reference.poisson_blend(src, dst, mask)
    out = backend.poisson_blend(src, dst, mask)
    inside = mask > 0
    assert psnr(out[inside], exp[inside]) >= TOLERANCES["blend_min_psnr_db"][backend.NAME]


@pytest.mark.skipif(backends.status()["cpu"] is not None, reason="the host emulation needs the C++ extension")
@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_gpu_schedule_variants_give_the_same_bytes(mode):
    """The cuda solver's schedule variants (small levels' steps one row each or folded into one; the
    residual in a pass of its own or inside the restriction) reorder no arithmetic: same bytes, here
    emulated on the host, from the one-level region to one with many levels, cut by a known line."""
    from fastswap import _cpu

    rng = np.random.default_rng(4)
    for h, w in ((3, 3), (9, 9), (15, 52), (7, 200), (150, 130)):
        src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        dst = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = np.full((h, w), 255, np.uint8)
        mask[h // 2, : w // 2] = 0
        plan = gpu_plan.blend_plan(h, w, 3)
        outs = []
        for fold in (False, True):
            for fuse in (False, True):
                sched = gpu_plan.schedule(plan.small, gpu_plan.CYCLES, fold, fuse)
                outs.append(
                    _cpu.run_gpu_schedule(
                        src,
                        dst,
                        mask,
                        mode == "mixed",
                        plan.levels.view(np.uint8),
                        sched,
                        plan.pool_floats,
                        plan.link_bytes,
                    )
                )
        assert all(np.array_equal(outs[0], o) for o in outs[1:]), (h, w)
        assert not np.array_equal(outs[0][mask > 0], dst[mask > 0])
