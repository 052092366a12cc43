"""Flicker over the frames of a video: a face swapped one frame at a time (what ``swap`` and ``batch`` do
with a folder of frames), against ``FaceSwapper.swap_frames`` (``fastswap video``: each face tracked,
its landmarks smoothed over time, its decisions kept with hysteresis, its blend correction low-passed),
and the classic loop.

The clips are made from the photos of ../shared/faces: each photo, scaled to at most 640 pixels
across, as ``--frames`` frames with sensor noise (sigma 3) and JPEG at quality 90, standing still or
moving (each frame a rotation about the middle, a translation and a scale: "drift" 1 pixel and 0.2
degrees per frame, "fast" 4 pixels and 0.8 degrees). The known motion is undone on every result
before frames are compared, so what is left is what the swap adds:

- flicker: the mean absolute change between consecutive (motion-undone) frames over the target face
  (its outline), in grey levels; the input clip's own change is given beside it (its noise);
- jitter: how far the landmarks the swap used move from frame to frame beyond the true motion (the
  first frame's detection moved by the known motion), mean over the 468 mesh points, in % of the face
  size; the classic loop and one frame at a time use each frame's detection;
- error: the mean distance of those landmarks to the true ones once their constant offset is taken
  out (a detector's fixed bias is not the swap's), in % of the face size: lag behind a moving face
  shows here.

    python bench/flicker.py [--source img2.jpg] [--frames 24] [--targets img5.jpg,img14.jpg] [--replot]

Writes bench/results/flicker.json and bench/results/flicker.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, bar_groups, metadata, spread, write_json  # noqa: E402

from fastswap import FaceDetector, FaceSwapper, mesh, quality, temporal  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402

MOTIONS = {"still": 0.0, "drift": 1.0, "fast": 4.0}  # pixels per frame (and 0.2 degrees per pixel)
SIDE = 640  # frames scaled to at most this many pixels across, as a video's


def clip(image: np.ndarray, n: int, speed: float, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` frames of ``image`` moving at ``speed`` (see the module's docstring) and their 2 x 3 motions."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    frames, motions = [], []
    for t in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.2 * speed * t, 1.0 + 0.02 * speed * np.sin(t / 4))
        m[:, 2] += (speed * (t - n / 2), 0.4 * speed * t)
        moved = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noisy = np.clip(moved + rng.normal(0.0, 3.0, moved.shape), 0, 255).astype(np.uint8)
        frames.append(cv2.imdecode(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR))
        motions.append(m)
    return frames, motions


def undo(image: np.ndarray, motion: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    back = cv2.invertAffineTransform(motion)
    return cv2.warpAffine(image, back, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def flicker(frames: list[np.ndarray], motions: list[np.ndarray], inside: np.ndarray) -> float:
    still = [undo(f, m).astype(np.float32) for f, m in zip(frames, motions)]
    return float(np.mean([np.abs(b - a)[inside].mean() for a, b in zip(still[:-1], still[1:])]))


def landmark_scores(used: list[np.ndarray], truth: list[np.ndarray], size: float) -> dict[str, float]:
    off = np.array(used) - np.array(truth)  # (frames, 468, 2)
    jitter = np.linalg.norm(np.diff(off, axis=0), axis=2).mean()
    error = np.linalg.norm(off - off.mean(axis=0), axis=2).mean()
    return {"jitter": float(100 * jitter / size), "error": float(100 * error / size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument("--targets", default="all", help="comma-separated names, or all (every other photo)")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--name", default="flicker", help="results file stem")
    ap.add_argument("--replot", action="store_true", help="only draw the picture again from the results file")
    args = ap.parse_args()
    if args.replot:
        plot(json.loads((RESULTS / f"{args.name}.json").read_text())["summary"], RESULTS / f"{args.name}.png")
        return
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir}: absent (the shared photo set sits beside the checkout)")
    names = sorted(p.name for p in args.faces_dir.glob("img*.jpg"))
    targets = [n for n in names if n != args.source] if args.targets == "all" else args.targets.split(",")
    det = FaceDetector()
    source = read_image(args.faces_dir / args.source)
    src_face = max(det.detect(source), key=lambda f: f.size)
    src_pts = src_face.points[: mesh.NUM_MESH_POINTS]
    rows = []
    t_start = time.perf_counter()
    with FaceSwapper(source, detector=det) as fs:
        for name in targets:
            photo = read_image(args.faces_dir / name)
            scale = SIDE / max(photo.shape[:2])
            if scale < 1:
                photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            found = det.detect(photo)
            if not found:
                print(f"{name}: no face at {SIDE} pixels, left out", flush=True)
                continue
            face = max(found, key=lambda f: f.size)
            inside = quality.fill(photo.shape[:2], face.points[mesh.FACE_OUTLINE]) > 0
            rest = face.points[: mesh.NUM_MESH_POINTS].astype(np.float64)
            for motion, speed in MOTIONS.items():
                frames, motions = clip(photo, args.frames, speed)
                truth = [rest @ m[:, :2].T + m[:, 2] for m in motions]
                detected = [max(det.detect(f), key=lambda g: g.size, default=None) for f in frames]
                if any(d is None for d in detected):
                    print(f"{name} {motion}: a frame without a face, left out", flush=True)
                    continue
                raw = [d.points[: mesh.NUM_MESH_POINTS] for d in detected]
                tracks = temporal.FaceTracks(args.fps)  # what swap_frames does with the detections
                smooth = [tracks.update([d])[0][0].points[: mesh.NUM_MESH_POINTS] for d in detected]
                each = [fs.swap(f, faces="largest") for f in frames]
                steady = [r.image for r in fs.swap_frames(frames, faces="largest", fps=args.fps)]
                old = [classic.blend(classic.warp(source, src_pts, f, p), f, p) for f, p in zip(frames, raw)]
                row = {
                    "target": name,
                    "motion": motion,
                    "face_size": face.size,
                    "input": {"flicker": flicker(frames, motions, inside)},
                    "each_frame": {"flicker": flicker(each, motions, inside), **landmark_scores(raw, truth, face.size)},
                    "swap_frames": {
                        "flicker": flicker(steady, motions, inside),
                        **landmark_scores(smooth, truth, face.size),
                    },
                    "classic": {"flicker": flicker(old, motions, inside), **landmark_scores(raw, truth, face.size)},
                }
                rows.append(row)
                print(
                    f"{name} {motion:5s} flicker: input {row['input']['flicker']:.2f}, each frame "
                    f"{row['each_frame']['flicker']:.2f}, swap_frames {row['swap_frames']['flicker']:.2f}, classic "
                    f"{row['classic']['flicker']:.2f}; jitter {row['each_frame']['jitter']:.3f} -> "
                    f"{row['swap_frames']['jitter']:.3f}%, error {row['each_frame']['error']:.3f} -> "
                    f"{row['swap_frames']['error']:.3f}%",
                    flush=True,
                )
    methods = ("input", "each_frame", "swap_frames", "classic")
    summary = {}
    for motion in MOTIONS:
        sel = [r for r in rows if r["motion"] == motion]
        if not sel:
            continue
        summary[motion] = {m: {k: spread([r[m][k] for r in sel]) for k in sel[0][m]} for m in methods} | {
            "clips": len(sel)
        }
        ratio = [r["swap_frames"]["flicker"] / r["each_frame"]["flicker"] for r in sel]
        summary[motion]["swap_frames_over_each_frame"] = spread(ratio)
    payload = {
        "meta": metadata(),
        "source": args.source,
        "frames": args.frames,
        "fps": args.fps,
        "side": SIDE,
        "motions": MOTIONS,
        "filter": {
            "min_cutoff": temporal.MIN_CUTOFF,
            "beta": temporal.BETA,
            "beta_local": temporal.BETA_LOCAL,
            "speed_cutoff": temporal.SPEED_CUTOFF,
            "margin": temporal.MARGIN,
        },
        "seconds": time.perf_counter() - t_start,
        "summary": summary,
        "rows": rows,
    }
    path = write_json(f"{args.name}.json", payload)
    print(f"wrote {path}")
    for motion, s in summary.items():
        med = {m: {k: v["median"] for k, v in s[m].items()} for m in methods}
        print(
            f"{motion:5s} ({s['clips']} clips) flicker medians: input {med['input']['flicker']:.2f}, "
            f"each frame {med['each_frame']['flicker']:.2f}, swap_frames {med['swap_frames']['flicker']:.2f} "
            f"({s['swap_frames_over_each_frame']['median']:.2f} x), classic {med['classic']['flicker']:.2f}; "
            f"landmark jitter {med['each_frame']['jitter']:.3f} -> {med['swap_frames']['jitter']:.3f}%, "
            f"error {med['each_frame']['error']:.3f} -> {med['swap_frames']['error']:.3f}%"
        )
    plot(summary, RESULTS / f"{args.name}.png")


def plot(summary: dict, path: Path) -> None:
    methods = [("input", "input clip (noise)"), ("each_frame", "one frame at a time"), ("swap_frames", "swap_frames")]
    methods.append(("classic", "classic loop"))
    motions = list(summary)
    bar_groups(
        path,
        [f"{mo} ({summary[mo]['clips']} clips)" for mo in motions],
        [(label, [summary[mo][m]["flicker"] for mo in motions]) for m, label in methods],
        "frame-to-frame change over the face\n(grey levels, motion undone; median, p25-p75)",
    )


if __name__ == "__main__":
    main()
