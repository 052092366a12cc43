"""End-to-end batch throughput: fastswap batch vs the classic loop run sequentially, in one run.

The photos of ../shared/faces (one source into every other photo) are repeated to ``--count`` inputs.
Classic: one process, for each photo decode, MediaPipe detection, the classic warp and
cv2.seamlessClone, encode and write. fastswap: ``run_batch`` (the engine behind ``fastswap batch``)
with process workers, then thread workers (and Ray, if installed and ``--ray``). Everything counted:
decode, detect, swap, encode. Reports images/s, the ratio, and the per-stage breakdown from the report.

    python bench/bench_batch.py [--count 200] [--repeat 5] [--workers N] [--ray]

Each round times the classic loop, then every engine on fresh outputs; a ratio is against its own
round's classic loop, and the median over rounds is reported with every round's value (the machine
is shared: single runs move by 10-20%).

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
import numpy as np

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
    ap.add_argument("--repeat", type=int, default=5, help="rounds (classic loop, then each engine); medians reported")
    ap.add_argument("--ray", action="store_true", help="also time --engine ray on a local instance (first round)")
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
        with FaceDetector() as det:
            prepared = {str(source): prepare_source(source, det)}
        engines = [("process", "local"), ("thread", "local")] + ([("ray", "ray")] if args.ray else [])
        runs: dict[str, list[dict]] = {"classic_sequential": []}
        for rnd in range(args.repeat):  # each round: the classic loop, then every engine, on fresh outputs
            (tmp / f"classic-{rnd}").mkdir()
            t = classic_run(source, inputs, tmp / f"classic-{rnd}")
            classic_rate = args.count / t
            runs["classic_sequential"].append({"seconds": t, "images_per_s": classic_rate})
            print(f"round {rnd + 1}/{args.repeat}: classic sequential {classic_rate:.2f} img/s", flush=True)
            for executor, engine in engines:
                if engine == "ray" and rnd > 0:
                    continue  # one Ray run: its cluster start-up would dominate the rounds' time
                out = tmp / f"out-{executor}-{rnd}"
                jobs = batch.target_jobs(source, str(indir), out, None)
                workers = (args.workers or batch.default_workers(executor)) if engine != "ray" else None
                t0 = time.perf_counter()
                if engine == "ray":
                    from fastswap.ray import run_batch_ray

                    summary = run_batch_ray(jobs, out, batch.BatchOptions(), quiet=True, prepared=prepared)
                else:
                    summary = batch.run_batch(
                        jobs,
                        out,
                        batch.BatchOptions(),
                        workers=workers,
                        executor=executor,
                        quiet=True,
                        prepared=prepared,
                    )
                t = time.perf_counter() - t0
                recs = [json.loads(x) for x in (out / "report.jsonl").read_text().splitlines()]
                stages = {
                    s: spread([r["ms"][s] for r in recs if s in r["ms"]])
                    for s in ("decode", "detect", "swap", "encode")
                }
                runs.setdefault(f"fastswap_{executor}", []).append(
                    {
                        "workers": workers,
                        "seconds": t,
                        "images_per_s": args.count / t,
                        "ratio_vs_classic": (args.count / t) / classic_rate,
                        "swapped": summary.swapped,
                        "failed": summary.failed,
                        "stage_ms": stages,
                    }
                )
                print(
                    f"  fastswap {executor}: {args.count / t:.2f} img/s "
                    f"({args.count / t / classic_rate:.2f}x classic); "
                    "stage medians ms: " + ", ".join(f"{k} {v['median']:.1f}" for k, v in stages.items()),
                    flush=True,
                )
        # Per engine: the median over rounds (each ratio against its own round's classic loop), the
        # spread, and the last round's stage breakdown.
        results: dict = {}
        for name, rs in runs.items():
            entry = {
                "images_per_s": float(np.median([r["images_per_s"] for r in rs])),
                "images_per_s_runs": [r["images_per_s"] for r in rs],
            }
            if name != "classic_sequential":
                ratios = [r["ratio_vs_classic"] for r in rs]
                entry |= {
                    "ratio_vs_classic": float(np.median(ratios)),
                    "ratio_runs": ratios,
                    "ratio_spread": spread(ratios),
                    "workers": rs[-1]["workers"],
                    "swapped": rs[-1]["swapped"],
                    "failed": rs[-1]["failed"],
                    "stage_ms": rs[-1]["stage_ms"],
                }
            results[name] = entry
        print("\nmedian over rounds:")
        for name, e in results.items():
            extra = (
                f" ({e['ratio_vs_classic']:.2f}x classic; runs " + ", ".join(f"{x:.2f}" for x in e["ratio_runs"]) + ")"
                if "ratio_vs_classic" in e
                else ""
            )
            print(f"  {name}: {e['images_per_s']:.2f} img/s{extra}")
        payload = {"meta": metadata(), "count": args.count, "repeat": args.repeat, "results": results}
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
