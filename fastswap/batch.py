"""Batch swapping over large image sets: pipelined over worker processes, resumable, losing nothing.

Every input gets one JSON Lines report record; one bad file never stops the batch; outputs are written
atomically (temporary file, then rename) and never over an input; a re-run skips finished outputs.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import FastswapError, InputError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv"}  # = fastswap.video.CODECS (not imported: cv2; a test checks)
FORMATS = {"jpg": ".jpg", "jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp", "tiff": ".tiff"}
TMP_GLOB = ".*.part"  # temporaries of imageio.write_image_atomic
VIDEO_TMP_GLOB = ".*.part.*"  # temporaries of video.swap_video (the extension picks the container)


@dataclass(frozen=True)
class Job:
    """One swap: the face of ``source`` into ``target``, written to ``output`` (all host paths)."""

    source: Path
    target: Path
    output: Path


@dataclass
class Record:
    """One line of the JSON Lines report."""

    target: str
    source: str
    output: str | None
    status: str  # swapped | no-face | skipped | failed
    faces: int = 0  # faces swapped (in all frames, for a video)
    frames: int | None = None  # a video's frames
    audio: str | None = None  # a video's sound (fastswap.video.VideoReport.audio)
    reason: str | None = None
    ms: dict[str, float] = field(default_factory=dict)
    # one entry per selected target face: index (left to right), confidence (detector score x visible
    # share of the mesh; filter with --min-confidence), swapped, kept (regions kept from the target),
    # reason (why a face was left alone)
    face_details: list[dict] = field(default_factory=list)


@dataclass
class BatchOptions:
    """What every job of a batch shares: face selection, FaceSwapper options, limits, output rules."""

    faces: str | list[int] = "all"  # "all", "largest" or indices
    swapper: dict = field(default_factory=dict)  # FaceSwapper keyword arguments (backend, blend, ...)
    model: str | None = None
    max_pixels: int = 100_000_000
    overwrite: bool = False
    out_format: str | None = None  # extension to force, e.g. "png"


# ----------------------------------------------------------------------------------------------
# Job lists


def _out_path(outdir: Path, rel: Path, fmt: str | None) -> Path:
    rel = rel.with_suffix(FORMATS[fmt]) if fmt and rel.suffix.lower() not in VIDEO_EXTS else rel  # images only
    return outdir / rel


def _inside(outdir: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(outdir.resolve())
        return True
    except ValueError:
        return False


def target_jobs(source: Path, targets: str, outdir: Path, fmt: str | None) -> Iterator[Job | Record]:
    """Jobs for one source into a directory (recursively), a glob pattern, or a list file."""
    spec = Path(targets)
    if spec.is_dir():
        root = spec
        paths: Iterable[Path] = (p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
    elif spec.is_file() and spec.suffix.lower() in (".txt", ".lst", ".list"):
        lines = [ln.strip() for ln in spec.read_text().splitlines()]
        listed = [Path(ln) if Path(ln).is_absolute() else spec.parent / ln for ln in lines if ln and ln[0] != "#"]
        root = Path(os.path.commonpath([str(p.parent.resolve()) for p in listed])) if listed else spec.parent
        paths = listed
    elif glob.has_magic(targets):
        root = Path(targets.split("*")[0].split("?")[0].split("[")[0] or ".")
        root = root if root.is_dir() else root.parent
        paths = (Path(p) for p in sorted(glob.glob(targets, recursive=True)))
    else:
        raise InputError(f"--targets {targets}: not a directory, a .txt list or a glob pattern")
    for p in paths:
        try:
            rel = p.resolve().relative_to(root.resolve())
        except ValueError:
            rel = Path(p.name)
        yield Job(source, p, _out_path(outdir, rel, fmt))


def pair_jobs(pairs_csv: Path, outdir: Path, fmt: str | None) -> Iterator[Job | Record]:
    """Jobs from a CSV with columns source,target[,output] (header optional; relative paths are taken
    from the CSV's folder; outputs relative to OUTDIR and never outside it)."""
    try:
        text = pairs_csv.read_text()
    except OSError as e:
        raise InputError(f"{pairs_csv}: cannot read pairs file ({e.strerror or e})") from e
    rows = list(csv.reader(text.splitlines()))
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["source", "target"]:
        rows = rows[1:]
    base = pairs_csv.parent
    for n, row in enumerate(rows, start=2):
        row = [c.strip() for c in row]
        if not row or not any(row):
            continue
        if len(row) < 2 or not row[0] or not row[1]:
            yield Record(
                target=str(row[1] if len(row) > 1 else ""),
                source=str(row[0]),
                output=None,
                status="failed",
                reason=f"{pairs_csv}:{n}: expected source,target[,output]",
            )
            continue
        src, tgt = (Path(c) if Path(c).is_absolute() else base / c for c in row[:2])
        rel = Path(row[2]) if len(row) > 2 and row[2] else Path(tgt.name)
        out = _out_path(outdir, rel, fmt)
        if rel.is_absolute() or not _inside(outdir, out):
            yield Record(
                target=str(tgt),
                source=str(src),
                output=None,
                status="failed",
                reason=f"{pairs_csv}:{n}: output {row[2]!r} would leave the output folder",
            )
            continue
        yield Job(src, tgt, out)


# ----------------------------------------------------------------------------------------------
# The worker side: one detector per worker, source faces prepared once per worker (or handed over).

_W: dict = {}


def _set_options(opts: BatchOptions, prepared: dict) -> None:
    """The options and prepared sources every worker of this process reads."""
    _W.clear()
    _W["opts"] = opts
    _W["prepared"] = dict(prepared)


def _init_process_worker(opts: BatchOptions, prepared: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _set_options(opts, prepared)


def _state() -> dict:
    """Per-worker state (per thread when the executor is a thread pool)."""
    import threading

    from .detect import FaceDetector

    key = threading.get_ident()
    st = _W.setdefault(("state", key), {})
    if "detector" not in st:
        st["detector"] = FaceDetector(_W["opts"].model)
        st["swappers"] = {}
        try:  # workers run side by side: one kernel thread each (OpenMP settings are per thread)
            from . import _cpu

            _cpu.set_num_threads(1)
        except ImportError:
            pass
    return st


def run_job(job: Job) -> Record:
    """Decode, detect, swap, encode one job; never raises for a bad input (returns a failed record)."""
    from .imageio import read_image, write_image_atomic
    from .pipeline import FaceSwapper, prepare_source

    opts: BatchOptions = _W["opts"]
    rec = Record(target=str(job.target), source=str(job.source), output=str(job.output), status="failed")
    try:
        st = _state()
        key = str(job.source)
        fs = st["swappers"].get(key)
        if fs is None:
            prepared = _W["prepared"].get(key) or prepare_source(job.source, st["detector"], max_pixels=opts.max_pixels)
            fs = FaceSwapper(prepared, detector=st["detector"], max_pixels=opts.max_pixels, **opts.swapper)
            if len(st["swappers"]) > 32:
                st["swappers"].clear()
            st["swappers"][key] = fs
        if job.target.suffix.lower() in VIDEO_EXTS:
            return _run_video(job, fs, rec)
        t0 = time.perf_counter()
        img = read_image(job.target, max_pixels=opts.max_pixels)
        t1 = time.perf_counter()
        res = fs.swap_report(img, faces=opts.faces, inplace=True)  # the decoded image is ours
        t2 = time.perf_counter()
        write_image_atomic(job.output, res.image, inputs=(job.source, job.target))
        t3 = time.perf_counter()
        rec.faces = len(res.faces_swapped)
        rec.face_details = [
            {
                "index": f.index,
                "confidence": round(f.confidence, 3),
                "swapped": f.swapped,
                "kept": f.kept_from_target,
                **({"reason": f.reason} if f.reason else {}),
            }
            for f in res.faces
        ]
        rec.status = "swapped" if res.faces_swapped else "no-face"
        if not res.faces_swapped:
            rec.reason = res.message or "no selected face in the target; written unchanged"
        rec.ms = {"decode": (t1 - t0) * 1e3, **res.timings_ms, "encode": (t3 - t2) * 1e3}
    except FastswapError as e:
        rec.reason = str(e)
    except Exception as e:  # a batch never stops for one file: report it
        rec.reason = f"{type(e).__name__}: {e}"
    return rec


def _run_video(job: Job, fs, rec: Record) -> Record:
    """A video job (``fastswap.video.swap_video``, its frames in order on this worker; other workers
    take other files)."""
    from .video import swap_video

    if job.output.suffix.lower() not in VIDEO_EXTS:
        raise InputError(f"{job.output}: a video's output must be a video ({', '.join(sorted(VIDEO_EXTS))})")
    t0 = time.perf_counter()
    rep = swap_video(fs, job.target, job.output, faces=_W["opts"].faces, inputs=(job.source,), threads=False)
    rec.faces, rec.frames, rec.audio = rep.faces_swapped, rep.frames, rep.audio
    rec.status = "swapped" if rep.faces_swapped else "no-face"
    if not rep.faces_swapped:
        rec.reason = "no selected face in any frame; written without a swap"
    rec.ms = {"video": (time.perf_counter() - t0) * 1e3}
    return rec


# ----------------------------------------------------------------------------------------------
# The driver


class Progress:
    """tqdm bar on a terminal; plain lines (every 5 s and at the end) otherwise; nothing when quiet."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet, self.done, self.t0, self.last = total, quiet, 0, time.time(), 0.0
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", file=sys.stderr, smoothing=0.1)

    def update(self, rec: Record) -> None:
        """Count one finished input."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(rec.status)
        elif not self.quiet and (time.time() - self.last > 5 or self.done == self.total):
            rate = self.done / max(time.time() - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(f"[{self.done}/{self.total}] {rate:.1f} img/s, ETA {eta:.0f} s", file=sys.stderr, flush=True)
            self.last = time.time()

    def close(self) -> None:
        """Close the progress bar, if any."""
        if self.bar is not None:
            self.bar.close()


@dataclass
class Summary:
    """Counts by status, the failures (target, reason) and the wall time of a batch."""

    total: int = 0
    swapped: int = 0
    no_face: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when no input failed, else 1."""
        return 1 if self.failed else 0


def clean_temporaries(outdir: Path) -> int:
    """Remove temporaries an interrupted run left behind (never a finished output)."""
    n = 0
    if outdir.is_dir():
        videos = (p for p in outdir.rglob(VIDEO_TMP_GLOB) if p.suffix.lower() in VIDEO_EXTS)
        for p in (*outdir.rglob(TMP_GLOB), *videos):
            if p.is_file():
                p.unlink(missing_ok=True)
                n += 1
    return n


class Reporter:
    """The driver's side of a batch, shared by every engine: the JSON Lines report, the summary, the
    progress display, and the checks made before a job is handed out."""

    def __init__(self, outdir: Path, items: list, opts: BatchOptions, report: Path | None, quiet: bool) -> None:
        outdir.mkdir(parents=True, exist_ok=True)
        clean_temporaries(outdir)
        self.opts = opts
        self.summary = Summary(total=len(items))
        self.progress = Progress(len(items), quiet)
        self.t0 = time.time()
        self._file = open(report or outdir / "report.jsonl", "w")  # noqa: SIM115 (closed in close())

    def emit(self, rec: Record) -> None:
        """Write one report line and count it."""
        self._file.write(json.dumps(asdict(rec)) + "\n")
        self._file.flush()
        key = rec.status.replace("-", "_")
        setattr(self.summary, key, getattr(self.summary, key) + 1)
        if rec.status == "failed":
            self.summary.failures.append((rec.target, rec.reason or ""))
        self.progress.update(rec)

    def precheck(self, item: Job | Record) -> Job | None:
        """Report what needs no work (bad rows, outputs that would overwrite an input, finished
        outputs); return the job when it is to be done."""
        from .imageio import same_file

        if isinstance(item, Record):
            self.emit(item)
            return None
        clash = next((i for i in (item.source, item.target) if same_file(item.output, i)), None)
        if clash is not None:
            reason = f"{item.output}: output path is the same file as input {clash}"
            self.emit(Record(str(item.target), str(item.source), str(item.output), "failed", reason=reason))
            return None
        if item.output.exists() and not self.opts.overwrite:
            reason = "output exists (use --overwrite)"
            self.emit(Record(str(item.target), str(item.source), str(item.output), "skipped", reason=reason))
            return None
        return item

    def close(self) -> Summary:
        """Close the report and return the summary with its wall time."""
        self._file.close()
        self.progress.close()
        self.summary.seconds = time.time() - self.t0
        return self.summary


def default_workers(executor: str = "thread") -> int:
    """Workers when none are asked for: one per CPU, plus one for threads (measured on 2 cores: 3
    thread workers beat 2 in each of 6 paired runs of bench/bench_batch.py, by 3 to 16%: a worker
    waiting on MediaPipe's graph, the disk or the GIL leaves its core to the third)."""
    cpus = os.cpu_count() or 1
    return cpus + 1 if executor == "thread" else cpus


def run_batch(
    jobs: Iterable[Job | Record],
    outdir: Path,
    opts: BatchOptions,
    *,
    workers: int | None = None,
    executor: str = "thread",
    report: Path | None = None,
    quiet: bool = False,
    prepared: dict | None = None,
) -> Summary:
    """Run jobs with bounded in-flight work; write the report; return the summary."""
    items = list(jobs)
    rep = Reporter(outdir, items, opts, report, quiet)
    workers = workers or default_workers(executor)
    in_flight: dict[Future, Job] = {}
    if executor == "process":
        import multiprocessing as mp

        os.environ.setdefault("OMP_NUM_THREADS", "1")  # one kernel thread per worker process
        pool_cls, pool_kw = (
            ProcessPoolExecutor,
            {
                "max_workers": workers,
                "initializer": _init_process_worker,
                "initargs": (opts, prepared or {}),
                "mp_context": mp.get_context("spawn"),  # MediaPipe's threads do not survive fork
            },
        )
    else:  # worker threads share this process's state
        _set_options(opts, prepared or {})
        pool_cls, pool_kw = ThreadPoolExecutor, {"max_workers": workers}
    try:
        with pool_cls(**pool_kw) as pool:
            try:
                for item in items:
                    job = rep.precheck(item)
                    if job is None:
                        continue
                    while len(in_flight) >= 2 * workers:  # bounded: memory stays flat whatever the set's size
                        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                        for fut in done:
                            rep.emit(_result(fut, in_flight.pop(fut)))
                    in_flight[pool.submit(run_job, job)] = job
                while in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        rep.emit(_result(fut, in_flight.pop(fut)))
            except KeyboardInterrupt:
                for fut in in_flight:
                    fut.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                clean_temporaries(outdir)
                raise
    finally:
        summary = rep.close()
    return summary


def _result(fut: Future, job: Job) -> Record:
    try:
        return fut.result()
    except Exception as e:  # a worker died (for example killed by the OS)
        return Record(
            str(job.target),
            str(job.source),
            str(job.output),
            "failed",
            reason=f"worker failed: {type(e).__name__}: {e}",
        )
