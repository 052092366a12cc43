"""Swap quality scored by a face recognizer that is not ours (dlib's ResNet descriptor, the
``[reference]`` extra), on ../shared/faces: one source into every other photo, fastswap and the
classic loop on the same photos, in one run.

Per target: the descriptor distance of the result's face to the source's and to the target's (the
swap should carry the source's identity), the mean distance of the result's 468 mesh landmarks to
the target's, divided by the distance between the eye centres (pose and expression kept; the same
with dlib's 68-point predictor, :class:`Landmarks68`, as a check by a model that is not the one the
pipeline warps with), and the
share of the pixels inside the target's face outline with a channel at 255 (blown highlights: a
colour correction that lifts a dark face into a bright photo must not clip it), beside the target's
own share; and the share of the target's face drawn from texture stretched more than 2x by area
(``fastswap.quality.stretched_share``; thin source triangles, such as a slightly turned face's far
cheek, come out smeared); the skin tone against the target's (``tone``: the face's middle in
blocks of 15% of the face size, the mean CIELAB distance between the blocks' median colours); and
seams (``seam``: on the target's skin within 4% of the face size of its face outline, how much
steeper the result's smoothed lightness is than the target's, :func:`seam_score`).

    python bench/quality.py [--source img2.jpg] [--grid 6]
    python bench/quality.py --all-sources

Writes bench/results/quality.json and bench/results/quality_grid.png (source | target | classic | fastswap).
``--all-sources`` takes every photo as the source in turn (21 x 20 pairs), so that no figure hangs on
the choice of one source, and writes bench/results/quality_all_sources.json: the shares and means
pooled over all pairs, over the pairs of two different people, and per source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, face_crop, metadata, write_json  # noqa: E402

from fastswap import FaceDetector, FaceSwapper, mesh  # noqa: E402
from fastswap.identity import SAME_PERSON, FaceEmbedder  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.pipeline import drawn_triangles  # noqa: E402
from fastswap.quality import (  # noqa: E402
    cheek_band,
    dilate_round,
    erode_round,
    feature_mask,
    fill,
    panel,
    skin_tests,
    stretched_share,
)


def eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[mesh.LEFT_EYE].mean(axis=0) - points[mesh.RIGHT_EYE].mean(axis=0)))


def clipped_share(image: np.ndarray, inside: np.ndarray) -> float:
    """Share of the pixels under ``inside`` ((H, W) bool: the target face's outline) with a channel at
    255 (blown highlights)."""
    return float((image[inside] == 255).any(axis=1).mean())


def skin_blocks(image: np.ndarray, face) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """The face's middle (its outline eroded by 10% of the face size, less the eyes, brows and lips) cut
    into square blocks of 15% of the face size; each block at least half covered, with its pixels."""
    h, w = image.shape[:2]
    pts = face.points[:468]
    middle = erode_round(fill((h, w), pts[mesh.FACE_OUTLINE]), max(1, int(0.1 * face.size)))
    middle &= ~feature_mask((h, w), pts, face.size)
    side = max(4, int(0.15 * face.size))
    x, y, bw, bh = cv2.boundingRect(middle)
    blocks = []
    for by in range(y, y + bh, side):
        for bx in range(x, x + bw, side):
            box = (slice(by, by + side), slice(bx, bx + side))
            sel = middle[box] > 0
            if sel.mean() >= 0.5:
                blocks.append((box, sel))
    return blocks


def block_medians(image: np.ndarray, blocks) -> np.ndarray:
    """(B, 3) median CIELAB colour of each of ``blocks`` (:func:`skin_blocks`) in ``image``."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    return np.array([np.median(lab[box][sel], axis=0) for box, sel in blocks]).reshape(-1, 3)


def tone_error(result: np.ndarray, blocks, target_medians: np.ndarray) -> float:
    """Skin tone against the target's, block by block over the face's middle: the mean CIELAB distance
    (delta E 1976) between the blocks' median colours in the result and in the target
    (``target_medians``, :func:`block_medians`; 0: every part of the face has the target's tone;
    glasses, freckles and the features weigh nothing in a median)."""
    if not blocks:
        return float("nan")
    return float(np.linalg.norm(block_medians(result, blocks) - target_medians, axis=1).mean())


def edge_band(image: np.ndarray, face) -> tuple[tuple[slice, slice], np.ndarray, float, np.ndarray]:
    """Where a seam would show: the band within 4% of the face size of the target's face outline, on
    both sides, where the target is skin (``fastswap.quality.skin_tests`` against its cheeks: not
    hair, beard, background). Returns the crop around it, the band in the crop, the smoothing sigma
    and the target's own smoothed lightness gradient there (:func:`edge_gradient`)."""
    h, w = image.shape[:2]
    pts = face.points[:468]
    outline = fill((h, w), pts[mesh.FACE_OUTLINE])
    r = max(2, int(round(0.04 * face.size)))
    band = cv2.subtract(dilate_round(outline, r), erode_round(outline, r))
    sample = cv2.bitwise_and(outline, cv2.bitwise_not(feature_mask((h, w), pts, face.size)))
    tests = skin_tests(sample, (image,), face.size, cheek_band((h, w), pts))
    if tests is not None:
        band = cv2.bitwise_and(band, tests[0])
    x, y, bw, bh = cv2.boundingRect(band)
    m = 3 * r
    crop = (slice(max(y - m, 0), y + bh + m), slice(max(x - m, 0), x + bw + m))
    sigma = max(1.0, 0.01 * face.size)
    sel = band[crop] > 0
    return crop, sel, sigma, edge_gradient(image[crop], sigma)[sel]


def edge_gradient(image: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) float32 magnitude of the CIELAB lightness gradient after a Gaussian of ``sigma``
    pixels (skin's pores and JPEG's blocks gone, a seam's step kept), in levels per ``sigma``."""
    light = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[:, :, 0].astype(np.float32), (0, 0), sigma)
    return cv2.magnitude(cv2.Sobel(light, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(light, cv2.CV_32F, 0, 1, ksize=3)) * (
        sigma / 8.0
    )


def seam_score(result: np.ndarray, band) -> float:
    """Seams: the mean of how much steeper the result's lightness is than the target's, over the
    target's skin near its face outline (:func:`edge_band`): 0 where the swap's edge is as smooth as
    the target's own skin there, whatever blend drew it."""
    crop, sel, sigma, own = band
    if not sel.any():
        return float("nan")
    return float(np.maximum(edge_gradient(result[crop], sigma)[sel] - own, 0.0).mean())


def score(result, target_face, inside, d_src, d_tgt, det, emb, lm68, blocks, target_medians, band, points68) -> dict:
    clipped = clipped_share(result, inside)
    tone = tone_error(result, blocks, target_medians)
    seam = seam_score(result, band)
    faces = det.detect(result)
    if not faces:
        return {"found": False, "clipped": clipped, "tone": tone, "seam": seam}
    # the result's face that sits where the target's face was
    f = min(faces, key=lambda g: np.linalg.norm(g.points.mean(axis=0) - target_face.points.mean(axis=0)))
    d = emb.describe(result, f)
    err = np.linalg.norm(f.points[:468] - target_face.points[:468], axis=1).mean() / eye_distance(target_face.points)
    return {
        "found": True,
        "to_source": emb.distance(d, d_src),
        "to_target": emb.distance(d, d_tgt),
        "landmark_error": float(err),
        "landmark_error_dlib68": lm68.error(result, target_face, points68),
        "clipped": clipped,
        "tone": tone,
        "seam": seam,
    }


class Landmarks68:
    """An independent check of the landmark error: dlib's 68-point shape predictor (the
    ``face-recognition-models`` package of the ``[reference]`` extra), not the MediaPipe model the
    pipeline warps with, run on the result and the target in the same box (the target face's), so
    that only what the face looks like moves its points. ``error`` is the mean distance of the 51
    inner points (brows, nose, eyes, mouth: pose and expression; the 17 of the jaw follow the
    target's outline in any swap and are noisy) over the distance between the eye centres."""

    INNER = slice(17, 68)

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as models

        self._dlib = dlib
        self._predict = dlib.shape_predictor(models.pose_predictor_model_location())

    def points(self, image: np.ndarray, face) -> np.ndarray:
        """(68, 2) float64 points of ``face``'s box in ``image`` ((H, W, 3) uint8 BGR, host)."""
        x0, y0, x1, y1 = face.bbox
        rect = self._dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))
        shape = self._predict(np.ascontiguousarray(image[:, :, ::-1]), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)

    def error(self, result: np.ndarray, face, target_points: np.ndarray) -> float:
        got = self.points(result, face)
        eyes = np.linalg.norm(target_points[36:42].mean(axis=0) - target_points[42:48].mean(axis=0))
        return float(np.linalg.norm(got[self.INNER] - target_points[self.INNER], axis=1).mean() / eyes)


def parse_options(items: list[str]) -> dict:
    options = {}
    for item in items:
        key, _, value = item.partition("=")
        low = value.lower()
        if low in ("true", "false"):
            options[key] = low == "true"
        else:
            try:
                options[key] = float(value)
            except ValueError:
                options[key] = value
    return options


class Photos:
    """The photo set's images, their largest face, its descriptor and the pixels inside its outline,
    each computed once."""

    def __init__(self, faces_dir: Path, det, emb) -> None:
        self.det, self.emb = det, emb
        self.lm68 = Landmarks68()
        self.entries = {}
        # the target's skin blocks, their median colours (tone_error), its edge band (seam_score) and
        # its dlib 68 points (Landmarks68)
        self.blocks = {}
        for path in sorted(faces_dir.glob("img*.jpg")):
            image = read_image(path)
            faces = det.detect(image)
            if not faces:
                print(f"{path.name}: no face found, left out", flush=True)
                continue
            face = max(faces, key=lambda f: f.size)
            inside = fill(image.shape[:2], face.points[mesh.FACE_OUTLINE]) > 0
            self.entries[path.name] = (image, face, emb.describe(image, face), inside)
            blocks = skin_blocks(image, face)
            self.blocks[path.name] = (
                blocks,
                block_medians(image, blocks),
                edge_band(image, face),
                self.lm68.points(image, face),
            )


def evaluate(photos: Photos, source: str, options: dict, tiles: list | None = None, grid: int = 0) -> list[dict]:
    """One source into every other photo: a row per target (fastswap and the classic loop)."""
    det, emb = photos.det, photos.emb
    src, src_face, d_src, _ = photos.entries[source]
    rows = []
    with FaceSwapper(src, detector=det, **options) as fs:
        for name, (tgt, tf, d_tgt, inside) in photos.entries.items():
            if name == source:
                continue
            ours = fs.swap(tgt, faces="largest")
            old = classic.blend(classic.warp(src, src_face.points[:468], tgt, tf.points[:468]), tgt, tf.points[:468])
            tris = classic.delaunay(tf.points[:468], tgt.shape[:2])  # the classic loop's triangles
            row = {
                "source": source,
                "image": name,
                "source_target_distance": emb.distance(d_src, d_tgt),
                "target_clipped": clipped_share(tgt, inside),
                "fastswap": score(ours, tf, inside, d_src, d_tgt, det, emb, photos.lm68, *photos.blocks[name]),
                "classic": score(old, tf, inside, d_src, d_tgt, det, emb, photos.lm68, *photos.blocks[name]),
            }
            # the share of the target's face drawn from texture stretched more than 2x (by area)
            row["fastswap"]["stretched"] = stretched_share(
                *drawn_triangles(fs.prepared, fs.triangle_source, tf.points[:468])
            )
            row["classic"]["stretched"] = stretched_share(src_face.points[:468][tris], tf.points[:468][tris])
            rows.append(row)
            print(
                source,
                name,
                {
                    k: {kk: round(vv, 3) for kk, vv in v.items() if isinstance(vv, float)}
                    for k, v in row.items()
                    if isinstance(v, dict)
                },
                flush=True,
            )
            if tiles is not None and len(tiles) < grid:
                crops = [
                    (name, face_crop(img, tf, 0.35))
                    for name, img in (("target", tgt), ("classic", old), ("fastswap", ours))
                ]
                tiles.append(panel([("source", src), *crops], height=220))
    return rows


def summarise(rows: list[dict], method: str) -> dict:
    """Shares and means of one method's scores over ``rows``."""
    ok = [r[method] for r in rows if r[method]["found"]]
    # dlib's own threshold: pairs closer than SAME_PERSON show the same person, where "closer to the
    # source than to the target" is close to a coin toss
    other = [r[method] for r in rows if r["source_target_distance"] >= SAME_PERSON and r[method]["found"]]
    return {
        "targets": len(rows),
        "face_found_in_result": len(ok),
        "closer_to_source_share": sum(s["to_source"] < s["to_target"] for s in ok) / max(len(rows), 1),
        "different_person_targets": len(other),
        "closer_to_source_share_different_person": sum(s["to_source"] < s["to_target"] for s in other)
        / max(len(other), 1),
        "mean_distance_to_source": float(np.mean([s["to_source"] for s in ok])),
        "mean_distance_to_target": float(np.mean([s["to_target"] for s in ok])),
        "mean_landmark_error": float(np.mean([s["landmark_error"] for s in ok])),
        "mean_landmark_error_dlib68": float(np.mean([s["landmark_error_dlib68"] for s in ok])),
        # blown highlights inside the target's face outline, beside the target's own share
        "mean_clipped_share": float(np.mean([r[method]["clipped"] for r in rows])),
        "mean_target_clipped_share": float(np.mean([r["target_clipped"] for r in rows])),
        "mean_stretched_share": float(np.mean([r[method]["stretched"] for r in rows])),
        "mean_tone_error": float(np.nanmean([r[method]["tone"] for r in rows])),
        "mean_seam": float(np.nanmean([r[method]["seam"] for r in rows])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument(
        "--all-sources",
        action="store_true",
        help="every photo as the source in turn (writes <name>_all_sources.json, no grid)",
    )
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
    options = parse_options(args.option)
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir} not found: the benchmark needs the shared photo set")
    det, emb = FaceDetector(), FaceEmbedder()
    photos = Photos(args.faces_dir, det, emb)
    methods = ("fastswap", "classic")
    if args.all_sources:
        rows: list[dict] = []
        per_source = {}
        for source in photos.entries:
            mine = evaluate(photos, source, options)
            rows += mine
            per_source[source] = {m: summarise(mine, m) for m in methods}
        summary = {m: summarise(rows, m) for m in methods}
        for m in methods:
            shares = [s[m]["closer_to_source_share"] for s in per_source.values()]
            summary[m]["sources"] = len(shares)
            summary[m]["worst_source_share"] = float(min(shares))
            summary[m]["sources_at_97_percent"] = int(sum(s >= 0.97 for s in shares))
        print(summary)
        payload = {"meta": metadata(), "options": options, "per_source": per_source, "rows": rows, "summary": summary}
        print(f"wrote {write_json(args.name + '_all_sources.json', payload)}")
        det.close()
        return
    if args.source not in photos.entries:
        sys.exit(f"{args.source}: not in {args.faces_dir}, or no face found in it")
    tiles: list = []
    rows = evaluate(photos, args.source, options, tiles, args.grid)
    summary = {m: summarise(rows, m) for m in methods}
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
