"""Light hair over the source face (``fill_hair``): what is found and what the swaps look like.

For every photo of ../shared/faces as a source: the share of its face that ``quality.hair_mask``
marks, and the time ``PreparedSource.without_hair`` takes (median of 5, once per source). A picture
of the sources with the most hair: the source with the marked hair tinted, the source painted over,
and swaps into two targets with ``fill_hair=False`` and with it (the default).

    python bench/hair.py [--targets img1.jpg,img20.jpg] [--show 3]

Writes bench/results/hair.json and bench/results/hair.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_FACES, face_crop, metadata, spread, timeit, write_rows_picture  # noqa: E402

from fastswap import FaceDetector, FaceSwapper, mesh, quality  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.pipeline import prepare_source  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--targets", default="img1.jpg,img20.jpg", help="targets of the picture")
    ap.add_argument("--show", type=int, default=3, help="rows of the picture: the sources with the most hair")
    args = ap.parse_args()
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir} not found: the benchmark needs the shared photo set")
    photos = sorted(args.faces_dir.glob("img*.jpg"))
    rows, prepared = [], {}
    with FaceDetector() as det:
        for p in photos:
            src = prepare_source(read_image(p), det)
            med, times = timeit(src.without_hair, repeat=5)
            clean = src.without_hair()
            face = quality.fill(src.image.shape[:2], src.points[mesh.FACE_OUTLINE]) > 0
            share = 0.0 if clean.hair is None else float((clean.hair[face] > 0).mean())
            rows.append({"source": p.name, "hair_share": share, "without_hair_ms": spread(np.array(times) * 1e3)})
            prepared[p.name] = (src, clean)
            print(f"{p.name}: hair {share:.1%} of the face, without_hair {med * 1e3:.1f} ms", flush=True)
        shown = sorted(rows, key=lambda r: -r["hair_share"])[: args.show]
        targets = [read_image(args.faces_dir / t) for t in args.targets.split(",")]
        target_faces = [max(det.detect(t), key=lambda f: f.size) for t in targets]
        lines = []
        for r in shown:
            src, clean = prepared[r["source"]]
            tinted = src.image.copy()
            on = clean.hair > 0
            tinted[on] = (0.5 * tinted[on] + (0, 0, 127)).astype(np.uint8)
            tiles = [(f"{r['source']}: hair {r['hair_share']:.0%}", tinted), ("painted over", clean.image)]
            for name, t, tf in zip(args.targets.split(","), targets, target_faces, strict=True):
                for fill_hair in (False, True):
                    with FaceSwapper(src, detector=det, fill_hair=fill_hair) as fs:
                        out = fs.swap(t, faces="largest")
                    tiles.append((f"into {name}" + ("" if fill_hair else " --no-fill-hair"), face_crop(out, tf, 0.1)))
            lines.append(quality.panel(tiles, height=300))
    write_rows_picture("hair", lines, {"meta": metadata(), "rows": rows})


if __name__ == "__main__":
    main()
