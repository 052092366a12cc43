"""Benchmark method shared by every bench script: warm-up, repeats, median and spread, metadata."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "faces"
RESULTS = ROOT / "bench" / "results"


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None):
    """Run ``fn`` ``warmup`` times, then ``repeat`` timed times; returns (median_s, list_of_s).

    ``sync`` (for device work) is called inside the timed region after each run.
    """
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), times


def spread(values) -> dict[str, float]:
    v = np.asarray(values, float)
    return {
        "median": float(np.median(v)),
        "p25": float(np.percentile(v, 25)),
        "p75": float(np.percentile(v, 75)),
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }


def metadata() -> dict:
    import cv2
    import scipy

    try:
        import mediapipe

        mp_version = mediapipe.__version__
    except ImportError:  # the device machine replays recorded calls without it
        mp_version = "not installed"

    import fastswap
    from fastswap import backends

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = bool(
            subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        )
    except OSError:
        commit, dirty = "unknown", False
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = None
    if backends.status()["cpu"] is None:
        from fastswap import _cpu

        threads = _cpu.num_threads()
    return {
        "commit": commit,
        "dirty": dirty,
        "fastswap": fastswap.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
        "mediapipe": mp_version,
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_backend_threads": threads,
        "backends": backends.status(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def face_crop(image: np.ndarray, face, margin: float) -> np.ndarray:
    """``image`` (H, W, 3) cut to ``face``'s box grown by ``margin`` of its width, clipped (a view)."""
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    m = int(margin * (x1 - x0))
    return image[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m]


def write_rows_picture(stem: str, lines: list[np.ndarray], payload: dict) -> None:
    """Write ``payload`` as RESULTS/stem.json and the picture lines ((h, w_i, 3) uint8 BGR, stacked
    top to bottom, the narrower padded with black on the right) as RESULTS/stem.png."""
    import cv2

    width = max(line.shape[1] for line in lines)
    picture = np.vstack([np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines])
    RESULTS.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(RESULTS / f"{stem}.png"), picture)
    write_json(f"{stem}.json", payload)
    print(f"wrote {RESULTS / f'{stem}.json'} and {RESULTS / f'{stem}.png'}")


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def bar_groups(path: Path, groups: list[str], series: list[tuple[str, list[dict]]], ylabel: str) -> None:
    """Grouped bars, one group per entry of ``groups`` (its tick label), one bar per ``series`` entry
    (its legend label, and per group a :func:`spread` dict): the median, whiskers from p25 to p75.
    Written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(series)
    for k, (label, spreads) in enumerate(series):
        med = [s["median"] for s in spreads]
        lo = [s["median"] - s["p25"] for s in spreads]
        hi = [s["p75"] - s["median"] for s in spreads]
        offset = (k - (len(series) - 1) / 2) * width
        ax.bar(np.arange(len(groups)) + offset, med, width, yerr=[lo, hi], label=label, capsize=2)
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=7 if any("\n" in g for g in groups) else None)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, ncol=len(series), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")
