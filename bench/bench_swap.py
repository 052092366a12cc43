"""Per-face swap benchmark on real photos: the classic loop vs fastswap's backends, stage by stage.

One source face (``--source``) goes into every other photo of ``../shared/faces``. Detection runs once
per photo (MediaPipe, the same for every method) and is timed on its own; warp and blend are timed
per method, each the median of ``--repeat`` runs after a warm-up, all in this one process. Also times
``cv2.remap`` over the same region with the same sampling map: the floor for a bilinear gather.

    python bench/bench_swap.py [--repeat 5] [--reference-limit 4]

Writes bench/results/swap.json and bench/results/swap.png.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, metadata, spread, timeit, write_json  # noqa: E402

from fastswap import FaceDetector, backends, mesh  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.pipeline import face_mask, face_roi, mask_box  # noqa: E402


def remap_maps(src_pts: np.ndarray, dst_pts: np.ndarray, shape: tuple[int, int]):
    """float32 maps sending every region pixel to the source through the face's least-squares affine:
    the same number of bilinear gathers, with a realistic access pattern, as fastswap's warp."""
    m = np.linalg.lstsq(np.c_[dst_pts, np.ones(len(dst_pts))], src_pts.astype(np.float64), rcond=None)[0].T
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    mx = (m[0, 0] * xx + m[0, 1] * yy + m[0, 2]).astype(np.float32)
    my = (m[1, 0] * xx + m[1, 1] * yy + m[1, 2]).astype(np.float32)
    return mx, my


def _mask_and_blend(be, warped, roi, dst_pts, covered, face_size):
    """The blend stage as the pipeline runs it: build the mask, then Poisson-blend over the mask's
    bounding box and its 1-pixel frame (``cv2.seamlessClone`` crops to the mask's box too), the box
    passed as views (the backends copy what they must), the result pasted into a copy of the region."""
    mask = face_mask(dst_pts, covered, face_size)
    box = mask_box(mask)
    out = roi.copy()
    out[box] = be.poisson_blend(warped[box], roi[box], mask[box])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reference-limit", type=int, default=4, help="photos on which to time the slow reference")
    args = ap.parse_args()
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir} not found: the benchmark needs the shared photo set")

    fast = [n for n in ("cpu", "cuda") if backends.status()[n] is None]
    ref = backends.get_backend("numpy")
    det = FaceDetector()
    src_img = read_image(args.faces_dir / args.source)
    src_face = max(det.detect(src_img), key=lambda f: f.size)
    x0, y0, x1, y1 = face_roi(src_face.points[:468], src_img.shape[:2], 2.0)
    src_crop = np.ascontiguousarray(src_img[y0:y1, x0:x1])
    src_pts = np.ascontiguousarray(src_face.points[:468] - (x0, y0), np.float32)
    src_full_pts = src_face.points[:468].astype(np.float32)

    rows = []
    targets = sorted(p for p in args.faces_dir.glob("img*.jpg") if p.name != args.source)
    for k, path in enumerate(targets):
        img = read_image(path)
        t_det, _ = timeit(lambda img=img: det.detect(img), repeat=args.repeat)
        faces = det.detect(img)
        if not faces:
            print(f"{path.name}: no face, skipped")
            continue
        face = max(faces, key=lambda f: f.size)
        pts = face.points[:468]
        pad = max(4.0, 0.04 * face.size)
        rx0, ry0, rx1, ry1 = face_roi(pts, img.shape[:2], pad)
        dst_pts = np.ascontiguousarray(pts - (rx0, ry0), np.float32)
        shape = (ry1 - ry0, rx1 - rx0)
        roi = np.ascontiguousarray(img[ry0:ry1, rx0:rx1])
        row = {
            "image": path.name,
            "pixels": img.shape[0] * img.shape[1],
            "roi_pixels": shape[0] * shape[1],
            "detect_s": t_det,
        }

        # (a) classic loop
        t, _ = timeit(functools.partial(classic.warp, src_img, src_full_pts, img, pts), repeat=args.repeat)
        row["classic_warp_s"] = t
        warped_full = classic.warp(src_img, src_full_pts, img, pts)
        t, _ = timeit(functools.partial(classic.blend, warped_full, img, pts), repeat=args.repeat)
        row["classic_blend_s"] = t

        # (b, c) fastswap backends: warp, then mask + Poisson blend
        names = fast + (["numpy"] if k < args.reference_limit else [])
        outs = {}
        for name in names:
            be = backends.get_backend(name)
            rep = args.repeat if name != "numpy" else 1
            warp = functools.partial(be.warp_triangles, src_crop, src_pts, dst_pts, mesh.TRIANGLES, shape)
            t, _ = timeit(warp, repeat=rep, warmup=1 if name != "numpy" else 0)
            row[f"{name}_warp_s"] = t
            warped, cov = warp()
            blend = functools.partial(_mask_and_blend, be, warped, roi, dst_pts, cov, face.size)

            t, _ = timeit(blend, repeat=rep, warmup=1 if name != "numpy" else 0)
            row[f"{name}_blend_s"] = t
            outs[name] = blend()
        if "numpy" in outs:
            m = (
                face_mask(dst_pts, ref.warp_triangles(src_crop, src_pts, dst_pts, mesh.TRIANGLES, shape)[1], face.size)
                > 0
            )
            for name in fast:
                d = outs[name][m].astype(float) - outs["numpy"][m]
                row[f"{name}_psnr_vs_reference_db"] = float(10 * np.log10(255**2 / max(np.mean(d**2), 1e-12)))

        # cv2.remap floor over the same region and pixel count
        mx, my = remap_maps(src_pts, dst_pts, shape)
        remap = functools.partial(cv2.remap, src_crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        t, _ = timeit(remap, repeat=args.repeat)
        row["remap_s"] = t
        rows.append(row)
        msg = " ".join(f"{k2}={v * 1000:.2f}ms" for k2, v in row.items() if k2.endswith("_s"))
        print(f"{path.name} roi={shape[1]}x{shape[0]} {msg}", flush=True)
    det.close()

    summary = {"detect_ms": spread([r["detect_s"] * 1000 for r in rows])}
    for name in ["classic", *fast, "numpy"]:
        for stage in ("warp", "blend"):
            vals = [r[f"{name}_{stage}_s"] * 1000 for r in rows if f"{name}_{stage}_s" in r]
            if vals:
                summary[f"{name}_{stage}_ms"] = spread(vals)
        tot = [(r[f"{name}_warp_s"] + r[f"{name}_blend_s"]) * 1000 for r in rows if f"{name}_warp_s" in r]
        if tot:
            summary[f"{name}_warp_plus_blend_ms"] = spread(tot)
    summary["remap_ms"] = spread([r["remap_s"] * 1000 for r in rows])
    for name in fast:
        ratio = [
            (r["classic_warp_s"] + r["classic_blend_s"]) / (r[f"{name}_warp_s"] + r[f"{name}_blend_s"]) for r in rows
        ]
        summary[f"speedup_{name}_vs_classic_warp_plus_blend"] = spread(ratio)
        summary[f"{name}_warp_over_remap"] = spread([r[f"{name}_warp_s"] / r["remap_s"] for r in rows])
        ps = [r[f"{name}_psnr_vs_reference_db"] for r in rows if f"{name}_psnr_vs_reference_db" in r]
        if ps:
            summary[f"{name}_psnr_vs_reference_db"] = spread(ps)
    payload = {"meta": metadata(), "source": args.source, "repeat": args.repeat, "rows": rows, "summary": summary}
    path = write_json("swap.json", payload)
    print(f"\nwrote {path}")
    for k2, v in summary.items():
        print(f"{k2:45s} median {v['median']:10.3f}  [p25 {v['p25']:.3f}, p75 {v['p75']:.3f}]  n={v['n']}")
    plot(summary, fast)


def plot(summary: dict, fast: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in ["classic", "numpy", *fast] if f"{m}_warp_ms" in summary]
    fig, ax = plt.subplots(figsize=(7, 4))
    warp = [summary[f"{m}_warp_ms"]["median"] for m in methods]
    blend = [summary[f"{m}_blend_ms"]["median"] for m in methods]
    ax.bar(methods, warp, label="warp")
    ax.bar(methods, blend, bottom=warp, label="blend")
    ax.set_yscale("log")
    ax.set_ylabel("ms per face (median over photos, log scale)")
    ax.set_title("Warp + blend per face, ../shared/faces")
    for i, (w_, b_) in enumerate(zip(warp, blend, strict=True)):
        ax.text(i, (w_ + b_) * 1.1, f"{w_ + b_:.1f} ms", ha="center")
    ax.legend()
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "swap.png", dpi=110)
    print(f"wrote {RESULTS / 'swap.png'}")


if __name__ == "__main__":
    main()
