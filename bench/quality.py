"""Swap quality scored by a face recognizer that is not ours (dlib's ResNet descriptor, the
``[reference]`` extra), on ../shared/faces: one source into every other photo, fastswap and the
classic loop on the same photos, in one run.

Per target: the descriptor distance of the result's face to the source's and to the target's (the
swap should carry the source's identity), and the mean distance of the result's 468 mesh landmarks to
the target's, divided by the distance between the eye centres (pose and expression kept).

    python bench/quality.py [--source img2.jpg] [--grid 6]

Writes bench/results/quality.json and bench/results/quality_grid.png (source | target | classic | fastswap).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, metadata, write_json  # noqa: E402

from fastswap import FaceDetector, FaceSwapper, mesh  # noqa: E402
from fastswap.identity import FaceEmbedder  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.quality import panel  # noqa: E402


def eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[mesh.LEFT_EYE].mean(axis=0) - points[mesh.RIGHT_EYE].mean(axis=0)))


def score(result, target_face, d_src, d_tgt, det, emb) -> dict:
    faces = det.detect(result)
    if not faces:
        return {"found": False}
    # the result's face that sits where the target's face was
    f = min(faces, key=lambda g: np.linalg.norm(g.points.mean(axis=0) - target_face.points.mean(axis=0)))
    d = emb.describe(result, f)
    err = np.linalg.norm(f.points[:468] - target_face.points[:468], axis=1).mean() / eye_distance(target_face.points)
    return {
        "found": True,
        "to_source": emb.distance(d, d_src),
        "to_target": emb.distance(d, d_tgt),
        "landmark_error": float(err),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument("--grid", type=int, default=6, help="targets shown in the picture grid")
    ap.add_argument("--name", default="quality", help="results file stem (default quality)")
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a FaceSwapper option, e.g. color_correct=false (repeatable)",
    )
    args = ap.parse_args()
    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        low = value.lower()
        if low in ("true", "false"):
            options[key] = low == "true"
        else:
            try:
                options[key] = float(value)
            except ValueError:
                options[key] = value
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir} not found: the benchmark needs the shared photo set")
    det, emb = FaceDetector(), FaceEmbedder()
    src = read_image(args.faces_dir / args.source)
    src_face = max(det.detect(src), key=lambda f: f.size)
    d_src = emb.describe(src, src_face)
    rows, tiles = [], []
    with FaceSwapper(src, detector=det, **options) as fs:
        for path in sorted(p for p in args.faces_dir.glob("img*.jpg") if p.name != args.source):
            tgt = read_image(path)
            faces = det.detect(tgt)
            if not faces:
                continue
            tf = max(faces, key=lambda f: f.size)
            d_tgt = emb.describe(tgt, tf)
            ours = fs.swap(tgt, faces="largest")
            old = classic.blend(classic.warp(src, src_face.points[:468], tgt, tf.points[:468]), tgt, tf.points[:468])
            row = {
                "image": path.name,
                "source_target_distance": emb.distance(d_src, d_tgt),
                "fastswap": score(ours, tf, d_src, d_tgt, det, emb),
                "classic": score(old, tf, d_src, d_tgt, det, emb),
            }
            rows.append(row)
            print(
                path.name,
                {
                    k: {kk: round(vv, 3) for kk, vv in v.items() if isinstance(vv, float)}
                    for k, v in row.items()
                    if isinstance(v, dict)
                },
                flush=True,
            )
            if len(tiles) < args.grid:
                x0, y0, x1, y1 = (int(v) for v in tf.bbox)
                m = int(0.35 * (x1 - x0))
                crop = (slice(max(0, y0 - m), y1 + m), slice(max(0, x0 - m), x1 + m))
                tiles.append(
                    panel(
                        [("source", src), ("target", tgt[crop]), ("classic", old[crop]), ("fastswap", ours[crop])],
                        height=220,
                    )
                )
    summary = {}
    for method in ("fastswap", "classic"):
        ok = [r[method] for r in rows if r[method]["found"]]
        summary[method] = {
            "targets": len(rows),
            "face_found_in_result": len(ok),
            "closer_to_source_share": sum(s["to_source"] < s["to_target"] for s in ok) / max(len(rows), 1),
            # dlib's own threshold: pairs closer than 0.6 show the same person, where "closer to the
            # source than to the target" is a coin toss
            "different_person_targets": len(
                other := [r[method] for r in rows if r["source_target_distance"] >= 0.6 and r[method]["found"]]
            ),
            "closer_to_source_share_different_person": sum(s["to_source"] < s["to_target"] for s in other)
            / max(len(other), 1),
            "mean_distance_to_source": float(np.mean([s["to_source"] for s in ok])),
            "mean_distance_to_target": float(np.mean([s["to_target"] for s in ok])),
            "mean_landmark_error": float(np.mean([s["landmark_error"] for s in ok])),
        }
    print(summary)
    payload = {"meta": metadata(), "source": args.source, "options": options, "rows": rows, "summary": summary}
    print(f"wrote {write_json(args.name + '.json', payload)}")
    if tiles:
        width = max(t.shape[1] for t in tiles)
        grid = np.vstack([np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles])
        cv2.imwrite(str(RESULTS / f"{args.name}_grid.png"), grid)
        print(f"wrote {RESULTS / f'{args.name}_grid.png'}")
    det.close()


if __name__ == "__main__":
    main()
