"""End-to-end batch throughput: fastswap batch vs the classic loop run sequentially, in one run.

The photos of ../shared/faces (one source into every other photo) are repeated to ``--count`` inputs.
Classic: one process, for each photo decode, MediaPipe detection, the classic warp and
cv2.seamlessClone, encode and write. fastswap: ``run_batch`` (the engine behind ``fastswap batch``)
with process workers, then thread workers (and Ray, if installed and ``--ray``). Everything counted:
decode, detect, swap, encode. Reports images/s, the ratio, and the per-stage breakdown from the report.

    python bench/bench_batch.py [--count 200] [--workers N] [--ray]

Writes bench/results/batch.json and bench/results/batch.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, metadata, spread, write_json  # noqa: E402

from fastswap import FaceDetector, batch  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.pipeline import prepare_source  # noqa: E402


def classic_run(source: Path, inputs: list[Path], outdir: Path) -> float:
    t0 = time.perf_counter()
    with FaceDetector() as det:
        src = read_image(source)
        src_pts = max(det.detect(src), key=lambda f: f.size).points[:468]
        for p in inputs:
            img = read_image(p)
            faces = det.detect(img)
            if faces:
                pts = max(faces, key=lambda f: f.size).points[:468]
                img = classic.blend(classic.warp(src, src_pts, img, pts), img, pts)
            cv2.imwrite(str(outdir / p.name), img)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--workers", type=int, default=None, help="default: fastswap batch's own (CPU count + 1 threads)")
    ap.add_argument("--ray", action="store_true", help="also time --engine ray on a local instance")
    args = ap.parse_args()
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir} not found: the benchmark needs the shared photo set")
    photos = sorted(p for p in args.faces_dir.glob("img*.jpg") if p.name != args.source)
    source = args.faces_dir / args.source
    tmp = Path(tempfile.mkdtemp(prefix="fastswap-bench-"))
    try:
        indir = tmp / "in"
        indir.mkdir()
        inputs = []
        for i in range(args.count):
            p = indir / f"r{i:04d}_{photos[i % len(photos)].name}"
            p.symlink_to(photos[i % len(photos)].resolve())
            inputs.append(p)
        results: dict = {}
        (tmp / "classic").mkdir()
        t = classic_run(source, inputs, tmp / "classic")
        results["classic_sequential"] = {"seconds": t, "images_per_s": args.count / t}
        print(f"classic sequential: {args.count / t:.2f} img/s", flush=True)
        with FaceDetector() as det:
            prepared = {str(source): prepare_source(source, det)}
        engines = [("process", "local"), ("thread", "local")] + ([("ray", "ray")] if args.ray else [])
        for executor, engine in engines:
            out = tmp / f"out-{executor}"
            jobs = batch.target_jobs(source, str(indir), out, None)
            t0 = time.perf_counter()
            if engine == "ray":
                from fastswap.ray import run_batch_ray

                summary = run_batch_ray(jobs, out, batch.BatchOptions(), quiet=True, prepared=prepared)
            else:
                summary = batch.run_batch(
                    jobs,
                    out,
                    batch.BatchOptions(),
                    workers=args.workers or batch.default_workers(executor),
                    executor=executor,
                    quiet=True,
                    prepared=prepared,
                )
            t = time.perf_counter() - t0
            recs = [json.loads(x) for x in (out / "report.jsonl").read_text().splitlines()]
            stages = {
                s: spread([r["ms"][s] for r in recs if s in r["ms"]]) for s in ("decode", "detect", "swap", "encode")
            }
            results[f"fastswap_{executor}"] = {
                "workers": (args.workers or batch.default_workers(executor)) if engine != "ray" else None,
                "seconds": t,
                "images_per_s": args.count / t,
                "swapped": summary.swapped,
                "failed": summary.failed,
                "stage_ms": stages,
                "ratio_vs_classic": (args.count / t) / results["classic_sequential"]["images_per_s"],
            }
            print(
                f"fastswap {executor}: {args.count / t:.2f} img/s "
                f"({results[f'fastswap_{executor}']['ratio_vs_classic']:.2f}x classic); stage medians ms: "
                + ", ".join(f"{k} {v['median']:.1f}" for k, v in stages.items()),
                flush=True,
            )
        payload = {"meta": metadata(), "count": args.count, "results": results}
        print(f"wrote {write_json('batch.json', payload)}")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        keys = list(results)
        ax.bar(keys, [results[k]["images_per_s"] for k in keys], color=["grey"] + ["C0"] * (len(keys) - 1))
        ax.set_ylabel("images / s (decode+detect+swap+encode)")
        ax.set_title(
            f"{args.count} photos, workers: "
            + ", ".join(f"{k.removeprefix('fastswap_')} {v['workers']}" for k, v in results.items() if v.get("workers"))
        )
        for i, k in enumerate(keys):
            ax.text(i, results[k]["images_per_s"], f"{results[k]['images_per_s']:.1f}", ha="center", va="bottom")
        fig.tight_layout()
        fig.savefig(RESULTS / "batch.png", dpi=110)
        print(f"wrote {RESULTS / 'batch.png'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
