"""The whole swap pipeline on the ``cuda`` backend against ``cpu``, on the shared photos.

bench/bench_cuda.py times the warp and blend calls alone; this runs everything the pipeline does
around them (colour, masks, kept mouths and eyes, the shut eyes' lids, hair, mirrored halves) with
the device's kernels, to check that the two backends give the same pictures and to time a whole swap.
Two steps, because the device machine has no MediaPipe:

    python bench/cuda_pipeline.py --record DIR   # here: the sources prepared and every target's faces
                                                 # detected once (MediaPipe), with the photos' bytes
    python bench/cuda_pipeline.py --replay DIR [--out OUT] [--repeat 5]   # where CuPy and a GPU are
                                                 # (FASTSWAP_COMMIT=<hash> names the code's commit
                                                 # where git cannot)

Replaying swaps each source (img2, img8, img13: open eyes, a bearded face, a made-up one) into every
other photo and into every face of the group photo (whose shut eyes take the lids' 4-channel paste), on
``cpu`` and on ``cuda``, host arrays in and out, the recorded faces standing in for the detector.
Per pair: the largest difference between the two results, the share of pixels that differ by more
than 2 grey levels, the PSNR between them, and the median time of a swap (detection and decoding
excluded) on each backend after one warm-up. Writes OUT/cuda_pipeline.json and OUT/cuda_pipeline.png
(the group photo's pair with the largest difference: cpu, cuda, and their difference times 10,
cut to where they differ).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED_FACES, metadata, spread, timeit  # noqa: E402

SOURCES = ("img2.jpg", "img8.jpg", "img13.jpg")
GROUP = "group-t1.jpg"


class ReplayDetector:
    """Stands in for FaceDetector: ``detect`` returns the faces set in ``faces`` (recorded here)."""

    def __init__(self) -> None:
        self.faces: list = []

    def detect(self, image: np.ndarray) -> list:
        return list(self.faces)

    def close(self) -> None:
        pass


def _decode(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def record(out: Path) -> None:
    from fastswap import FaceDetector
    from fastswap.pipeline import prepare_source

    out.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in SHARED_FACES.glob("*.jpg") if p.name != "img11_reflection.jpg")
    rec: dict = {"commit": metadata()["commit"], "photos": {}, "sources": {}}
    with FaceDetector() as det:
        for p in photos:
            data = p.read_bytes()
            faces = det.detect(_decode(data))  # the bytes decoded as the replay will decode them
            rec["photos"][p.name] = {"bytes": data, "faces": faces}
            print(f"{p.name}: {len(faces)} face(s)", flush=True)
        for name in SOURCES:
            rec["sources"][name] = prepare_source(_decode(rec["photos"][name]["bytes"]), det)
    with gzip.open(out / "pipeline.pkl.gz", "wb", compresslevel=6) as f:
        pickle.dump(rec, f, protocol=5)
    print(f"wrote {out / 'pipeline.pkl.gz'}")


def difference_panel(a: np.ndarray, b: np.ndarray, margin: int = 24) -> np.ndarray:
    """Host (H, W, 3) uint8 images ``a`` and ``b`` side by side with their difference times 10, all cut
    to the box of the pixels that differ (grown by ``margin``); the whole images if none differ."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    ys, xs = np.nonzero(d)
    if len(ys):
        h, w = d.shape
        box = np.s_[max(0, ys.min() - margin) : min(h, ys.max() + margin + 1),
                    max(0, xs.min() - margin) : min(w, xs.max() + margin + 1)]  # fmt: skip
        a, b, d = a[box], b[box], d[box]
    d3 = np.repeat(np.clip(d * 10, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return np.hstack([a, b, d3])


def replay(src: Path, out: Path, repeat: int) -> None:
    import cv2

    from fastswap import FaceSwapper, backends

    for name in ("cpu", "cuda"):
        if backends.status()[name] is not None:
            raise SystemExit(f"the {name} backend is unavailable: {backends.status()[name]}")
    import cupy

    sync = cupy.cuda.Device().synchronize
    with gzip.open(src / "pipeline.pkl.gz", "rb") as f:
        rec = pickle.load(f)
    targets = {name: _decode(p["bytes"]) for name, p in rec["photos"].items()}
    rows, worst = [], None
    for sname in SOURCES:
        det = ReplayDetector()
        swappers = {b: FaceSwapper(rec["sources"][sname], backend=b, detector=det) for b in ("cpu", "cuda")}
        for tname, target in targets.items():
            if tname == sname or not rec["photos"][tname]["faces"]:
                continue
            det.faces = rec["photos"][tname]["faces"]
            res = {b: fs.swap_report(target) for b, fs in swappers.items()}
            a, b = (res[k].image.astype(np.int16) for k in ("cpu", "cuda"))
            diff = np.abs(a - b)
            mse = float(np.mean(diff.astype(np.float64) ** 2))
            row = {
                "source": sname,
                "target": tname,
                "faces_swapped": [len(res[k].faces_swapped) for k in ("cpu", "cuda")],
                "same_kept": [f.kept_from_target for f in res["cpu"].faces]
                == [f.kept_from_target for f in res["cuda"].faces],
                "max_diff": int(diff.max()),
                "share_over_2": float(np.mean(diff.max(axis=2) > 2)),
                "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse)),
            }
            for k, fs in swappers.items():
                times = timeit(lambda fs=fs, t=target: fs.swap(t), repeat, 1, sync if k == "cuda" else None)[1]
                row[f"{k}_ms"] = spread(np.array(times) * 1e3)
            row["ratio"] = row["cpu_ms"]["median"] / row["cuda_ms"]["median"]
            rows.append(row)
            print(
                f"{sname} -> {tname:12s} faces {row['faces_swapped']}: max diff {row['max_diff']:3d}, "
                f"{row['share_over_2']:.4%} over 2, {row['psnr_db']:.1f} dB; cpu {row['cpu_ms']['median']:.1f} ms, "
                f"cuda {row['cuda_ms']['median']:.1f} ms ({row['ratio']:.2f}x)",
                flush=True,
            )
            if tname == GROUP and (worst is None or row["max_diff"] > worst[0]):
                worst = (row["max_diff"], sname, res["cpu"].image, res["cuda"].image)
        for fs in swappers.values():
            fs.close()
    finite = [r["psnr_db"] for r in rows if np.isfinite(r["psnr_db"])]
    summary = {
        "pairs": len(rows),
        "same_faces_swapped": all(r["faces_swapped"][0] == r["faces_swapped"][1] for r in rows),
        "same_kept_regions": all(r["same_kept"] for r in rows),
        "max_diff": max(r["max_diff"] for r in rows),
        "worst_share_over_2": max(r["share_over_2"] for r in rows),
        "min_psnr_db": min(finite) if finite else float("inf"),
        "median_psnr_db": float(np.median(finite)) if finite else float("inf"),
        "cpu_ms_median": float(np.median([r["cpu_ms"]["median"] for r in rows])),
        "cuda_ms_median": float(np.median([r["cuda_ms"]["median"] for r in rows])),
    }
    print(summary)
    meta = metadata()
    if os.environ.get("FASTSWAP_COMMIT"):  # git's metadata on the device machine can be stale
        meta.update(commit=os.environ["FASTSWAP_COMMIT"], dirty=None)
    meta["recorded_at_commit"] = rec["commit"]
    meta["gpu"] = backends.get_backend("cuda").device_info()
    out.mkdir(parents=True, exist_ok=True)
    (out / "cuda_pipeline.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=2, default=str)
    )
    if worst is not None:
        _, sname, a, b = worst
        cv2.imwrite(str(out / "cuda_pipeline.png"), difference_panel(a, b))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, metavar="DIR")
    mode.add_argument("--replay", type=Path, metavar="DIR")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where --replay writes (default bench/results)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.record:
        record(args.record)
    else:
        replay(args.replay, args.out, args.repeat)


if __name__ == "__main__":
    main()
