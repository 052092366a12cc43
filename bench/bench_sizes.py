"""Warp and blend per region size (0.1 to 4 megapixels): fastswap's CPU kernels against OpenCV.

The face mesh of a real portrait is scaled to fill a square region of each size; the same region is
warped by fastswap and by cv2.remap (a bare bilinear gather: the floor), and blended by fastswap and
by cv2.seamlessClone. Medians of ``--repeat`` runs after a warm-up, one process.

    python bench/bench_sizes.py [--repeat 5]

Writes bench/results/sizes.json and bench/results/sizes.png.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_swap import remap_maps  # noqa: E402
from common import RESULTS, metadata, timeit, write_json  # noqa: E402

from fastswap import FaceDetector, backends, mesh  # noqa: E402
from fastswap.cli import demo_images  # noqa: E402
from fastswap.pipeline import face_mask  # noqa: E402

SIZES_MP = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    names = [n for n in ("cpu", "cuda") if backends.status()[n] is None]
    imgs = demo_images()
    with FaceDetector() as det:
        src_face = det.detect(imgs["grace_hopper"])[0]
        dst_face = det.detect(imgs["astronaut"])[0]
    src_pts = src_face.points[:468].astype(np.float32)
    unit = dst_face.points[:468] - dst_face.points[:468].min(axis=0)
    unit = unit / unit.max()
    rows = []
    for mp in SIZES_MP:
        side = int(round(np.sqrt(mp * 1e6)))
        dst_pts = (unit * (side - 12) + 6).astype(np.float32)
        shape = (side, side)
        target = np.ascontiguousarray(cv2.resize(imgs["astronaut"], (side, side)))
        row: dict = {"megapixels": side * side / 1e6, "side": side}
        mx, my = remap_maps(src_pts, dst_pts, shape)
        row["remap_ms"] = (
            timeit(
                functools.partial(
                    cv2.remap, imgs["grace_hopper"], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                ),
                args.repeat,
            )[0]
            * 1e3
        )
        for name in names:
            be = backends.get_backend(name)
            warp = functools.partial(be.warp_triangles, imgs["grace_hopper"], src_pts, dst_pts, mesh.TRIANGLES, shape)
            row[f"{name}_warp_ms"] = timeit(warp, args.repeat)[0] * 1e3
            warped, cov = warp()
            mask = face_mask(dst_pts, cov, float(side))
            row[f"{name}_blend_ms"] = (
                timeit(functools.partial(be.poisson_blend, warped, target, mask), args.repeat)[0] * 1e3
            )
        x, y, w, h = cv2.boundingRect(mask)
        clone = functools.partial(cv2.seamlessClone, warped, target, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
        row["seamlessClone_ms"] = timeit(clone, args.repeat)[0] * 1e3
        rows.append(row)
        print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    path = write_json("sizes.json", {"meta": metadata(), "repeat": args.repeat, "rows": rows})
    print(f"wrote {path}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    mps = [r["megapixels"] for r in rows]
    for key, style in [("remap_ms", "k--"), ("seamlessClone_ms", "r--")] + [
        (f"{n}_{s}_ms", "-o") for n in names for s in ("warp", "blend")
    ]:
        ax.plot(mps, [r[key] for r in rows], style, label=key.replace("_ms", ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("region (megapixels)")
    ax.set_ylabel("ms (median)")
    ax.legend()
    ax.set_title("Warp and blend vs region size")
    fig.tight_layout()
    fig.savefig(RESULTS / "sizes.png", dpi=110)
    print(f"wrote {RESULTS / 'sizes.png'}")


if __name__ == "__main__":
    main()
