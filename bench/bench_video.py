"""End-to-end video throughput: ``fastswap video`` against the classic loop over the same frames, in one run.

The clip: one photo of ../shared/faces (``--target``) placed in a 1280 x 720 frame, drifting by a pixel
and 0.2 degrees per frame, with sensor noise, written as an .mp4 file (``--frames`` frames at 30 per
second; H.264, as ``fastswap video`` writes it, ``fastswap.video.open_writer``). Each round decodes,
detects, swaps and encodes the whole clip three ways, on fresh outputs:

- classic: one thread; for each frame MediaPipe's detection, the classic warp and cv2.seamlessClone
  (``bench/classic.py``), the frame encoded by the writer ``fastswap video`` uses (``open_writer``);
- fastswap, one thread: ``fastswap.video.swap_video(..., threads=False)``;
- fastswap (default): ``swap_video``, the decoder reading ahead and the encoder writing behind on
  threads of their own.

A ratio is against its own round's classic loop; medians over ``--repeat`` rounds, with every round's
value (the machine is shared).

    python bench/bench_video.py [--frames 90] [--repeat 3] [--source img2.jpg] [--target img14.jpg]

Writes bench/results/video.json and bench/results/video.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classic  # noqa: E402
from common import RESULTS, SHARED_FACES, metadata, spread, write_json  # noqa: E402

from fastswap import FaceDetector, FaceSwapper  # noqa: E402
from fastswap.imageio import read_image  # noqa: E402
from fastswap.video import open_writer, read_frames, swap_video  # noqa: E402

SIZE = (1280, 720)


def make_clip(photo: np.ndarray, path: Path, n: int, fps: float = 30.0) -> None:
    w, h = SIZE
    scale = 0.9 * h / photo.shape[0]
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 200, np.uint8)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    rng = np.random.default_rng(0)
    writer, _ = open_writer(path, fps, SIZE)
    for t in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.2 * t, 1.0)
        m[:, 2] += (t - n / 2, 0.4 * t)
        frame = cv2.warpAffine(canvas, m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        writer.write(np.clip(frame + rng.normal(0.0, 3.0, frame.shape), 0, 255).astype(np.uint8))
    writer.release()


def classic_run(source: np.ndarray, clip: Path, out: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    frames, fps, size = read_frames(clip)
    writer, _ = open_writer(out, fps, size)  # the writer fastswap video uses: the same encoding cost
    n = 0
    with FaceDetector() as det:
        src_pts = max(det.detect(source), key=lambda f: f.size).points[:468]
        for frame in frames:
            faces = det.detect(frame)
            if faces:
                pts = max(faces, key=lambda f: f.size).points[:468]
                frame = classic.blend(classic.warp(source, src_pts, frame, pts), frame, pts)
            writer.write(frame)
            n += 1
    writer.release()
    return time.perf_counter() - t0, n


def fastswap_run(source: np.ndarray, clip: Path, out: Path, threads: bool) -> tuple[float, int]:
    t0 = time.perf_counter()
    with FaceSwapper(source) as fs:
        rep = swap_video(fs, clip, out, faces="largest", threads=threads)
    return time.perf_counter() - t0, rep.frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces-dir", type=Path, default=SHARED_FACES)
    ap.add_argument("--source", default="img2.jpg")
    ap.add_argument("--target", default="img14.jpg")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not args.faces_dir.is_dir():
        sys.exit(f"{args.faces_dir}: absent (the shared photo set sits beside the checkout)")
    source = read_image(args.faces_dir / args.source)
    methods = ("classic", "fastswap_one_thread", "fastswap")
    rounds: dict[str, list[float]] = {m: [] for m in methods}
    ratios: dict[str, list[float]] = {m: [] for m in methods[1:]}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(read_image(args.faces_dir / args.target), clip, args.frames)
        fastswap_run(source, clip, Path(tmp) / "warm.mp4", True)  # warm-up: model load, caches
        for r in range(args.repeat):
            rate = {}
            for m in methods:
                out = Path(tmp) / f"{m}_{r}.mp4"
                if m == "classic":
                    sec, n = classic_run(source, clip, out)
                else:
                    sec, n = fastswap_run(source, clip, out, threads=(m == "fastswap"))
                rate[m] = n / sec
                rounds[m].append(rate[m])
            for m in methods[1:]:
                ratios[m].append(rate[m] / rate["classic"])
            print(
                f"round {r + 1}: "
                + ", ".join(f"{m} {rate[m]:.1f} frames/s" for m in methods)
                + " | "
                + ", ".join(f"{m} {ratios[m][-1]:.2f}x" for m in methods[1:]),
                flush=True,
            )
    payload = {
        "meta": metadata(),
        "clip": {"size": SIZE, "frames": args.frames, "fps": 30.0, "source": args.source, "target": args.target},
        "frames_per_second": {m: spread(v) | {"rounds": v} for m, v in rounds.items()},
        "ratio_vs_classic": {m: spread(v) | {"rounds": v} for m, v in ratios.items()},
    }
    path = write_json("video.json", payload)
    print(f"wrote {path}")
    for m in methods[1:]:
        print(f"{m}: median {np.median(ratios[m]):.2f}x the classic loop ({np.median(rounds[m]):.1f} frames/s)")
    plot(payload, RESULTS / "video.png")


def plot(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fps = payload["frames_per_second"]
    names = list(fps)
    med = [fps[m]["median"] for m in names]
    err = [[med[i] - fps[m]["min"] for i, m in enumerate(names)], [fps[m]["max"] - med[i] for i, m in enumerate(names)]]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(range(len(names)), med, yerr=err, capsize=3, color=["tab:red", "tab:orange", "tab:green"])
    ax.set_xticks(range(len(names)), ["classic loop", "fastswap, one thread", "fastswap video"])
    ax.set_ylabel("frames per second (1280 x 720)\nmedian, min-max over rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
