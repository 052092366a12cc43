"""Warp + blend on the GPU (``cuda``) against the C++ backend (``cpu``), on the pipeline's own calls.

Two steps, because the device machine has no MediaPipe and no photos:

    python bench/bench_cuda.py --record DIR    # here: swap img2 into the shared photos, scaled to a
                                               # 1080p and a 4K frame, recording every warp and blend
                                               # call the pipeline makes (arguments copied)
    python bench/bench_cuda.py --replay DIR [--repeat 20]   # where CuPy and a GPU are: replay them
    python bench/bench_cuda.py --sizes DIR [--repeat 20]    # ... and warp + blend per region size
    python bench/bench_cuda.py --all DIR [--repeat 20]      # all three on one machine that has MediaPipe,
                                                           # the photos, CuPy and a GPU (recording once)

Replaying times, per photo, all of its face's warp and blend calls in the pipeline's order: on
``cpu`` (the C++ extension, every core of the machine), on ``cuda`` with host arrays in and out (every
upload and download inside the timed region: what the pipeline sees), and on ``cuda`` with the inputs
already on the device (the kernels alone, the device synchronised inside the timed region). The cuda
runs start without cached blend plans, as a new photo's new region sizes would. Medians
of ``--repeat`` runs after two warm-ups; the batch figures sum the 1080p photos' medians.

``--sizes`` scales the mesh of the packaged portraits' faces (their landmarks recorded with the calls)
to fill a square region of 0.1 to 8 megapixels and times one warp + blend there, as
bench/bench_sizes.py does for the CPU.

Writes bench/results/cuda.json and cuda.png (``--replay``), cuda_sizes.json and cuda_sizes.png
(``--sizes``).
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED_FACES, bar_groups, metadata, spread, timeit, write_json  # noqa: E402

FRAMES = {"1080p": (1920, 1080), "4K": (3840, 2160)}
FOUR_K_PHOTOS = ("img1.jpg", "img3.jpg", "img4.jpg", "img13.jpg", "img18.jpg")  # large faces and small
SIZES_MP = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


class _Recorder:
    """Stands in for the pipeline's backend: forwards each call, keeps a copy of its arguments."""

    def __init__(self, inner) -> None:
        self.inner, self.NAME, self.calls = inner, inner.NAME, []

    def warp_triangles(self, *args, **kwargs):
        self.calls.append(("warp_triangles", [np.array(a) for a in args[:4]] + [tuple(args[4])], dict(kwargs)))
        return self.inner.warp_triangles(*args, **kwargs)

    def poisson_blend(self, *args, **kwargs):
        self.calls.append(("poisson_blend", [np.array(a) for a in args], dict(kwargs)))
        return self.inner.poisson_blend(*args, **kwargs)


def fit(img: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """The photo scaled to fill the frame's height (its own aspect kept, width at most the frame's)."""
    import cv2

    fw, fh = frame
    s = min(fh / img.shape[0], fw / img.shape[1])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_CUBIC)


def cuda_config() -> dict:
    """The cuda backend's settings a run measured (recorded in its JSON)."""
    from fastswap.backends import cuda_backend, gpu_plan

    keys = (
        "PRE_SMOOTH",
        "POST_SMOOTH",
        "COARSEST",
        "COARSE_SWEEPS",
        "CYCLES",
        "SMALL_POINTS",
        "FOLD_SMALL",
        "FUSE_RESTRICT",
    )
    cfg = {k: getattr(gpu_plan, k) for k in keys}
    cfg.update(BLEND_LAUNCH=cuda_backend.BLEND_LAUNCH, PERSISTENT_BLOCK=cuda_backend.PERSISTENT_BLOCK)
    return cfg


def record(out: Path) -> None:
    from fastswap import FaceSwapper
    from fastswap.imageio import read_image

    out.mkdir(parents=True, exist_ok=True)
    from fastswap import FaceDetector
    from fastswap.cli import demo_images

    imgs = demo_images()
    with FaceDetector() as det:
        src_pts = det.detect(imgs["grace_hopper"])[0].points[:468].astype(np.float32)
        dst_pts = det.detect(imgs["astronaut"])[0].points[:468].astype(np.float32)
    np.savez(out / "portrait_points.npz", grace_hopper=src_pts, astronaut=dst_pts)
    photos = sorted(p for p in SHARED_FACES.glob("img*.jpg") if p.name not in ("img2.jpg", "img11_reflection.jpg"))
    with FaceSwapper(str(SHARED_FACES / "img2.jpg"), backend="cpu") as fs:
        rec = fs.backend = _Recorder(fs.backend)
        for frame_name, frame in FRAMES.items():
            cases = []
            for p in photos:
                if frame_name == "4K" and p.name not in FOUR_K_PHOTOS:
                    continue
                target = fit(read_image(str(p)), frame)
                rec.calls = []
                res = fs.swap(target, faces="largest")
                if not rec.calls:
                    print(f"{p.name}: no face swapped ({res.report if hasattr(res, 'report') else ''})")
                    continue
                cases.append({"photo": p.name, "shape": target.shape, "calls": rec.calls})
                print(f"{frame_name} {p.name} {target.shape[1]}x{target.shape[0]}: {len(rec.calls)} calls", flush=True)
            with gzip.open(out / f"calls_{frame_name}.pkl.gz", "wb", compresslevel=6) as f:
                pickle.dump(cases, f, protocol=5)
    print(f"wrote {out}")


def write_results(name: str, payload: dict, labels: list[str], with_cpu: bool) -> None:
    """bench/results/NAME.json (the payload, with the machine, the GPU and the cuda settings) and
    NAME.png (per row of payload["rows"], labelled by ``labels``: cpu, cuda with and without transfers)."""
    from fastswap import backends

    rows = payload["rows"]
    meta = metadata()
    meta["gpu"] = backends.get_backend("cuda").device_info()
    meta["cuda_config"] = cuda_config()
    path = write_json(f"{name}.json", {"meta": meta, **payload})
    print(f"wrote {path}")
    series = [("cuda, transfers included", [r["cuda_host_ms"] for r in rows])]
    series.append(("cuda, data on the device", [r["cuda_device_ms"] for r in rows]))
    if with_cpu:
        series.insert(0, ("cpu (C++)", [r["cpu_ms"] for r in rows]))
    bar_groups(RESULTS / f"{name}.png", labels, series, "warp + blend, ms")  # says what it wrote


def run_calls(be, calls, forget_plans: bool = False) -> None:
    """The calls in order. ``forget_plans``: the cuda backend first drops its cached blend plans, as
    for a photo whose regions have new sizes (a batch's usual case)."""
    if forget_plans:
        from fastswap.backends import gpu_plan

        be._device_plan.cache_clear()
        gpu_plan.blend_plan.cache_clear()
    for name, args, kwargs in calls:
        getattr(be, name)(*args, **kwargs)


def replay(src: Path, repeat: int) -> None:
    from fastswap import backends

    names = [n for n in ("cpu", "cuda") if backends.status()[n] is None]
    if "cuda" not in names:
        raise SystemExit(f"the cuda backend is unavailable: {backends.status()['cuda']}")
    import cupy

    cuda = backends.get_backend("cuda")
    cpu = backends.get_backend("cpu") if "cpu" in names else None
    sync = cupy.cuda.Device().synchronize
    rows = []
    for frame_name in FRAMES:
        with gzip.open(src / f"calls_{frame_name}.pkl.gz", "rb") as f:
            cases = pickle.load(f)
        for case in cases:
            calls = case["calls"]
            dev_calls = [
                (n, [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args], kw) for n, args, kw in calls
            ]
            row = {
                "frame": frame_name,
                "photo": case["photo"],
                "size": f"{case['shape'][1]}x{case['shape'][0]}",
                "calls": len(calls),
                "region_px": int(max(a[1].shape[0] * a[1].shape[1] for n, a, _ in calls if n == "poisson_blend")),
            }
            row["cuda_host_ms"] = spread(
                np.array(timeit(lambda c=calls: run_calls(cuda, c, True), repeat, 2, sync)[1]) * 1e3
            )
            row["cuda_device_ms"] = spread(
                np.array(timeit(lambda c=dev_calls: run_calls(cuda, c, True), repeat, 2, sync)[1]) * 1e3
            )
            if cpu is not None:
                row["cpu_ms"] = spread(np.array(timeit(lambda c=calls: run_calls(cpu, c), repeat, 2)[1]) * 1e3)
                row["ratio_host"] = row["cpu_ms"]["median"] / row["cuda_host_ms"]["median"]
            rows.append(row)
            print(
                f"{frame_name} {row['photo']:10s} {row['size']:>9s} region {row['region_px'] / 1e6:.2f} MP, "
                f"{row['calls']} calls: cuda {row['cuda_host_ms']['median']:.2f} ms with transfers, "
                f"{row['cuda_device_ms']['median']:.2f} on the device"
                + (f"; cpu {row['cpu_ms']['median']:.2f} ms ({row['ratio_host']:.1f}x)" if cpu else ""),
                flush=True,
            )
    summary = {}
    for frame_name in FRAMES:
        sel = [r for r in rows if r["frame"] == frame_name]
        s = {
            "photos": len(sel),
            "cuda_host_ms_median": float(np.median([r["cuda_host_ms"]["median"] for r in sel])),
            "cuda_host_ms_max": float(max(r["cuda_host_ms"]["median"] for r in sel)),
            "cuda_device_ms_median": float(np.median([r["cuda_device_ms"]["median"] for r in sel])),
        }
        if cpu is not None:
            s["cpu_ms_median"] = float(np.median([r["cpu_ms"]["median"] for r in sel]))
            s["batch_ratio"] = sum(r["cpu_ms"]["median"] for r in sel) / sum(r["cuda_host_ms"]["median"] for r in sel)
        summary[frame_name] = s
        print(frame_name, {k: round(v, 3) for k, v in s.items()})
    labels = [f"{r['frame']}\n{r['photo'][:-4]}" for r in rows]
    write_results("cuda", {"repeat": repeat, "summary": summary, "rows": rows}, labels, cpu is not None)


def sizes(src: Path, repeat: int) -> None:
    """Warp + blend of one face filling a square region of each size in SIZES_MP."""
    import cupy
    import cv2

    from fastswap import backends, mesh
    from fastswap.cli import demo_images
    from fastswap.pipeline import face_mask

    cuda = backends.get_backend("cuda")
    cpu = backends.get_backend("cpu") if backends.status()["cpu"] is None else None
    sync = cupy.cuda.Device().synchronize
    imgs = demo_images()
    pts = np.load(src / "portrait_points.npz")
    src_pts = pts["grace_hopper"]
    unit = pts["astronaut"] - pts["astronaut"].min(axis=0)
    unit = unit / unit.max()
    rows = []
    for mp in SIZES_MP:
        side = int(round(np.sqrt(mp * 1e6)))
        dst_pts = (unit * (side - 12) + 6).astype(np.float32)
        target = np.ascontiguousarray(cv2.resize(imgs["astronaut"], (side, side)))
        warped, cov = cuda.warp_triangles(imgs["grace_hopper"], src_pts, dst_pts, mesh.TRIANGLES, (side, side))
        mask = face_mask(dst_pts, cov, float(side))
        args = (imgs["grace_hopper"], src_pts, dst_pts, mesh.TRIANGLES, (side, side))

        def both(be, a=args, t=target, m=mask):
            w, _ = be.warp_triangles(*a)
            return be.poisson_blend(w, t, m)

        dev = tuple(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
        dt, dm = cupy.asarray(target), cupy.asarray(mask)
        row = {"megapixels": side * side / 1e6, "side": side, "mask_px": int((mask > 0).sum())}
        row["cuda_host_ms"] = spread(np.array(timeit(lambda: both(cuda), repeat, 2, sync)[1]) * 1e3)
        row["cuda_device_ms"] = spread(
            np.array(timeit(lambda d=dev, t=dt, m=dm: both(cuda, d, t, m), repeat, 2, sync)[1]) * 1e3
        )
        if cpu is not None:
            row["cpu_ms"] = spread(np.array(timeit(lambda: both(cpu), max(3, repeat // 4), 1)[1]) * 1e3)
            row["ratio_host"] = row["cpu_ms"]["median"] / row["cuda_host_ms"]["median"]
            row["ratio_device"] = row["cpu_ms"]["median"] / row["cuda_device_ms"]["median"]
        rows.append(row)
        print(
            f"{row['megapixels']:.2f} MP ({side} px): cuda {row['cuda_host_ms']['median']:.2f} ms with transfers, "
            f"{row['cuda_device_ms']['median']:.2f} on the device"
            + (
                f"; cpu {row['cpu_ms']['median']:.2f} ms ({row['ratio_host']:.1f}x, {row['ratio_device']:.1f}x)"
                if cpu
                else ""
            ),
            flush=True,
        )
    labels = [f"{r['megapixels']:.2g} MP" for r in rows]
    write_results("cuda_sizes", {"repeat": repeat, "rows": rows}, labels, cpu is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", type=Path, metavar="DIR")
    g.add_argument("--replay", type=Path, metavar="DIR")
    g.add_argument("--sizes", type=Path, metavar="DIR")
    g.add_argument("--all", type=Path, metavar="DIR")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    if args.all:
        from fastswap import backends

        if backends.status()["cuda"] is not None:  # before minutes of recording
            raise SystemExit(f"the cuda backend is unavailable: {backends.status()['cuda']}")
        if not all((args.all / f"calls_{f}.pkl.gz").is_file() for f in FRAMES):
            record(args.all)
        replay(args.all, args.repeat)
        sizes(args.all, args.repeat)
    elif args.record:
        record(args.record)
    elif args.sizes:
        sizes(args.sizes, args.repeat)
    else:
        replay(args.replay, args.repeat)


if __name__ == "__main__":
    main()
