"""The group photo (``../shared/faces/group-t1.jpg``, six faces of about 110 pixels, several of them
turned or with shut eyes): every face swapped from a few sources, side by side with the target's.

Small faces are where the pipeline's measures have the fewest pixels (an eye's opening is 0.2 to 4
pixels tall, a colour ratio's skin samples are few), and the photo's single-face figures
(``bench/quality.py``) do not see them. Per source and face: what was kept from the target
(``FaceInfo.kept_from_target``), the face's confidence, and the detection and swap times of the
whole photo (``SwapResult.timings_ms`` over ``--repeat`` runs after one warm-up).

    python bench/group.py [--sources img2.jpg,img8.jpg,img13.jpg] [--repeat 3]

Writes bench/results/group.json and bench/results/group.png (a row per source under the target's
own faces).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_FACES, face_crop, metadata, spread, write_rows_picture  # noqa: E402

from fastswap import FaceDetector, FaceSwapper, quality  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402


def short(kept: list[str]) -> str:
    """A tile's label: the regions kept from the target ("outline" left out), abbreviated."""
    names = {"mouth": "mouth", "left_eye": "L eye", "right_eye": "R eye", "hair": "hair"}
    return ", ".join(names.get(k, k) for k in kept if k != "outline")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--sources", default="img2.jpg,img8.jpg,img13.jpg")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each whole-photo swap (median)")
    args = ap.parse_args()
    group_path = args.faces_dir / "group-t1.jpg"
    if not group_path.is_file():
        sys.exit(f"{group_path} not found: the benchmark needs the shared photo set")
    group = read_image(group_path)
    rows, lines = [], []
    with FaceDetector() as det:
        faces = det.detect(group)
        lines.append(quality.panel([(f"face {i}", face_crop(group, f, 0.15)) for i, f in enumerate(faces)], height=200))
        for name in args.sources.split(","):
            with FaceSwapper(read_image(args.faces_dir / name), detector=det) as fs:
                res = fs.swap_report(group, faces="all")  # also the warm-up
                runs = [fs.swap_report(group, faces="all").timings_ms for _ in range(args.repeat)]
            rows.append(
                {
                    "source": name,
                    "faces_found": res.faces_found,
                    "faces_swapped": res.faces_swapped,
                    "faces": [
                        {
                            "index": f.index,
                            "confidence": round(float(f.confidence), 4),
                            "kept_from_target": f.kept_from_target,
                            "swapped": f.swapped,
                        }
                        for f in res.faces
                    ],
                    "detect_ms": spread([t["detect"] for t in runs]),
                    "swap_ms_all_faces": spread([t["swap"] for t in runs]),
                }
            )
            tiles = [
                (f"{name[:-4] + ': ' if i == 0 else ''}{short(f.kept_from_target)}", face_crop(res.image, face, 0.15))
                for i, (f, face) in enumerate(zip(res.faces, faces, strict=True))
            ]
            lines.append(quality.panel(tiles, height=200))
            kept = {f.index: f.kept_from_target for f in res.faces}
            swap = np.median([t["swap"] for t in runs])
            print(f"{name}: {len(res.faces_swapped)} of {res.faces_found} swapped, swap {swap:.1f} ms; kept {kept}")
    write_rows_picture("group", lines, {"meta": metadata(), "rows": rows})


if __name__ == "__main__":
    main()
