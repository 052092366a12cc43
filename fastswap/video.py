"""Video files: read frames with OpenCV, swap them with :meth:`FaceSwapper.swap_frames`, write atomically.

OpenCV reads whatever its FFmpeg can decode. ``.mp4``, ``.mov`` and ``.mkv`` are written in H.264 by
the ``ffmpeg`` that the ``imageio-ffmpeg`` package ships (:class:`FfmpegWriter`: what browsers and
phones play), ``.avi`` in Motion JPEG by OpenCV; without that ffmpeg, OpenCV writes MPEG-4 Part 2 or
Xvid instead (``FALLBACK``). The input's sound is then carried over by the same ffmpeg
(:func:`carry_audio`): its streams copied as they are, or re-encoded where the output's container
cannot hold them.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError
from .imageio import discard_partial, same_file
from .temporal import FaceTracks

CODECS = {".mp4": "h264", ".mov": "h264", ".avi": "MJPG", ".mkv": "h264"}  # by the output's extension
FALLBACK = {".mp4": "mp4v", ".mov": "mp4v", ".mkv": "XVID"}  # OpenCV's own codecs, where there is no ffmpeg
# libx264's speed preset (the default) and constant rate factor. On a filmed clip at 1280 x 720, one
# thread of this project's machine: "ultrafast" 4.9 ms a frame, 1.8 times the size of OpenCV's MPEG-4
# Part 2 file (3.9 ms) at the same PSNR; "superfast" 8.7 ms, the same size, 0.8 dB better; "veryfast"
# 12.9 ms, 0.6 times the size. `fastswap video` on two cores (bench_video's clip): 38, 31 and 30 frames/s.
H264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
H264_PRESET, H264_CRF = "ultrafast", 20
# the sound's codec where the input's cannot be copied into the output's container (AVI's usual is MP3)
AUDIO_CODECS = {".mp4": "aac", ".mov": "aac", ".avi": "libmp3lame", ".mkv": "aac"}
DEFAULT_FPS = 30.0  # when the input does not say


@dataclass
class VideoReport:
    """What :func:`swap_video` did: frame counts, faces swapped, time."""

    frames: int = 0
    fps: float = DEFAULT_FPS
    size: tuple[int, int] = (0, 0)  # width, height
    frames_with_faces: int = 0  # frames where a face was found
    faces_swapped: int = 0  # over all frames
    seconds: float = 0.0
    per_frame: list[int] = field(default_factory=list)  # faces swapped in each frame
    # the sound: "copied", "re-encoded (codec)", "none in the input", "off" (not asked for), or
    # "dropped: why" (no ffmpeg, or it failed: the video is written without sound)
    audio: str = "off"
    codec: str = ""  # the video's: "h264" (ffmpeg), or OpenCV's "mp4v", "MJPG", "XVID"


def read_frames(path: str | os.PathLike) -> tuple[Iterator[np.ndarray], float, tuple[int, int]]:
    """Open a video: an iterator over its frames (host (H, W, 3) uint8 BGR, decoded one at a time),
    its frame rate (DEFAULT_FPS when the file does not give one) and its (width, height).

    Raises:
        InputError: the file is missing, or OpenCV cannot open it or read a first frame from it.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise InputError(f"{p}: cannot open as a video (not a video, or a format OpenCV cannot decode)")
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        raise InputError(f"{p}: no frame could be read (empty, truncated or not a video)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if np.isfinite(fps) and 1.0 <= fps <= 1000.0 else DEFAULT_FPS
    size = (first.shape[1], first.shape[0])

    def frames() -> Iterator[np.ndarray]:
        try:
            frame = first
            while frame is not None:
                yield frame
                ok, frame = cap.read()
                if not ok:
                    break
        finally:
            cap.release()

    return frames(), fps, size


def frame_count(path: str | os.PathLike) -> int:
    """The frame count a video file declares (its container's header; 0 when it does not say), -1 when
    OpenCV cannot open it."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
    finally:
        cap.release()


QUEUE = 4  # frames decoded ahead of the swap, and swapped frames waiting for the encoder, at most


def read_ahead(items: Iterator, depth: int = QUEUE) -> Iterator:
    """``items`` produced on a background thread, at most ``depth`` ahead of the consumer (OpenCV's
    decoder releases the GIL: decoding overlaps the swap). An exception in the producer is raised in
    the consumer; a consumer that stops early stops the producer."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as e:  # handed to the consumer
            box.put((done, e))

    worker = threading.Thread(target=produce, name="fastswap-read", daemon=True)
    worker.start()
    try:
        while True:
            item, error = box.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)


class _Writer:
    """``cv2.VideoWriter.write`` on a background thread fed by a bounded queue (encoding overlaps the
    swap); :meth:`close` waits for it and raises what it raised."""

    def __init__(self, writer: cv2.VideoWriter, depth: int = QUEUE) -> None:
        self._writer, self._box = writer, queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fastswap-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._box.get()
            if frame is None:
                return
            if self._error is None:
                try:
                    self._writer.write(frame)
                except BaseException as e:
                    self._error = e

    def write(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._box.put(frame)

    def close(self) -> None:
        self._box.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class FfmpegWriter:
    """A video writer with OpenCV's ``VideoWriter`` interface (``isOpened``, ``write``, ``release``) that
    pipes the frames ((h, w, 3) uint8 BGR, host, all of the size given) to ffmpeg, which encodes them in
    H.264 (libx264, ``preset``: one of ``H264_PRESETS``, None for ``H264_PRESET``; ``H264_CRF``; 4:2:0,
    an odd width or height padded by a pixel, which 4:2:0 needs). ``release`` raises
    :class:`fastswap.OutputError` if ffmpeg failed."""

    def __init__(
        self, path: str | os.PathLike, fps: float, size: tuple[int, int], exe: str, preset: str | None = None
    ) -> None:
        w, h = size
        self.path = os.fspath(path)
        cmd = [exe, "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24"]
        cmd += ["-s", f"{w}x{h}", "-r", f"{fps:.6f}", "-i", "-", "-an"]  # frames on stdin, no sound yet
        cmd += ["-c:v", "libx264", "-preset", preset or H264_PRESET]
        cmd += ["-crf", str(H264_CRF), "-pix_fmt", "yuv420p"]
        if w % 2 or h % 2:
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        if Path(self.path).suffix.lower() in (".mp4", ".mov"):
            cmd += ["-movflags", "+faststart"]  # the index first: playable while it downloads
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen([*cmd, self.path], stdin=subprocess.PIPE, stderr=self._log)
        self._shape = (h, w, 3)

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self._proc.poll() is None

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self._shape:
            raise ValueError(f"frame of shape {frame.shape}, the writer's is {self._shape}")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, np.uint8).data)
        except (BrokenPipeError, OSError) as e:
            raise OutputError(f"{self.path}: ffmpeg stopped taking frames ({self._message() or e})") from e

    def release(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass  # it stopped already: the exit status says why
        code = self._proc.wait()
        message = self._message()
        self._log.close()
        if code != 0:
            raise OutputError(f"{self.path}: ffmpeg could not encode the video ({message or f'exit status {code}'})")

    def _message(self) -> str:
        if self._log.closed:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""


def open_writer(path: str | os.PathLike, fps: float, size: tuple[int, int], preset: str | None = None):
    """A writer for ``path`` by its extension (``CODECS``): :class:`FfmpegWriter` for H.264 (at
    ``preset``), where imageio-ffmpeg's ffmpeg is there, else ``cv2.VideoWriter`` with the ``FALLBACK``
    codec; and the codec's name."""
    ext = Path(path).suffix.lower()
    codec = CODECS[ext]
    if codec == "h264":
        try:
            return FfmpegWriter(path, fps, size, ffmpeg_exe(), preset), codec
        except FfmpegError:
            codec = FALLBACK[ext]
    return cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*codec), fps, size), codec


class FfmpegError(Exception):
    """imageio-ffmpeg's ffmpeg is missing, or could not do what was asked (the message says why)."""


def ffmpeg_exe() -> str:
    """The ``ffmpeg`` executable that the ``imageio-ffmpeg`` package ships (or its ``IMAGEIO_FFMPEG_EXE``).

    Raises:
        FfmpegError: imageio-ffmpeg is not installed, or has no executable for this platform.
    """
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise FfmpegError(f"imageio-ffmpeg is not installed ({e})") from e
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise FfmpegError(f"imageio-ffmpeg has no ffmpeg here ({e})") from e


def _streams(path: str | os.PathLike, kind: str) -> list[str]:
    """The streams of one ``kind`` ("Audio", "Video") of a media file as ffmpeg describes them."""
    run = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", os.fspath(path)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    if "Input #0" not in run.stderr:  # without an output ffmpeg always exits 1; no "Input" is an error
        raise FfmpegError(f"ffmpeg cannot read {path}: {run.stderr.strip().splitlines()[-1:] or run.returncode}")
    return [m.group(1).strip() for m in re.finditer(rf"Stream #\S+.*?: {kind}: (.*)", run.stderr)]


def audio_streams(path: str | os.PathLike) -> list[str]:
    """The audio streams of a media file as ffmpeg describes them (one line each, e.g. "aac (LC) ...,
    48000 Hz, stereo"); [] for none.

    Raises:
        FfmpegError: no ffmpeg (see :func:`ffmpeg_exe`), or it could not read the file.
    """
    return _streams(path, "Audio")


def video_streams(path: str | os.PathLike) -> list[str]:
    """The video streams of a media file as ffmpeg describes them (e.g. "h264 (High) ..., 640x360");
    raises as :func:`audio_streams`."""
    return _streams(path, "Video")


def video_packets(path: str | os.PathLike) -> int:
    """The frames (packets) of the first video stream of ``path``, counted by ffmpeg without decoding
    them (OpenCV's count is the container's estimate: an AVI whose sound outlasts its frames by a
    little reads a frame more); -1 when ffmpeg cannot tell.

    Raises:
        FfmpegError: no ffmpeg (see :func:`ffmpeg_exe`).
    """
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", os.fspath(path), "-map", "0:v:0", "-c", "copy"]
    run = subprocess.run([*cmd, "-f", "null", "-"], capture_output=True, text=True, errors="replace")
    counts = re.findall(r"frame=\s*(\d+)", run.stderr)
    return int(counts[-1]) if run.returncode == 0 and counts else -1


def carry_audio(source: str | os.PathLike, silent: str | os.PathLike, out: str | os.PathLike) -> str:
    """Write ``out``: the video stream of ``silent`` (copied, not re-encoded) with every audio stream of
    ``source``, copied as they are, or re-encoded to ``AUDIO_CODECS[out's extension]`` when the
    container cannot hold them (the first try's error says so). Returns what was done: "copied",
    "re-encoded (codec)", or "none in the input" (``out`` is then not written). Timestamps are kept:
    the sound plays against the frames as it did in ``source`` when its video started at 0.

    Raises:
        FfmpegError: no ffmpeg, or it failed (its last message line given).
    """
    if not audio_streams(source):
        return "none in the input"
    base = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", os.fspath(silent)]
    base += ["-i", os.fspath(source), "-map", "0:v:0", "-map", "1:a", "-c:v", "copy"]
    codec = AUDIO_CODECS.get(Path(out).suffix.lower(), "aac")
    last = ""
    for audio, done in ((["-c:a", "copy"], "copied"), (["-c:a", codec], f"re-encoded ({codec})")):
        run = subprocess.run([*base, *audio, os.fspath(out)], capture_output=True, text=True, errors="replace")
        if run.returncode == 0:
            return done
        last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
    raise FfmpegError(f"ffmpeg could not add the sound: {last}")


def _with_audio(source, tmp: str, out: Path, frames: int) -> str:
    """The sound of ``source`` added to the silent video ``tmp`` (replaced in place on success, through
    a second temporary file beside it, read back like the first); what :func:`carry_audio` did, or
    "dropped: why"."""
    if not isinstance(source, (str, os.PathLike)):
        return "dropped: the input is not a file"
    fd, both = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".part{out.suffix.lower()}", dir=os.path.dirname(tmp))
    os.close(fd)
    try:
        done = carry_audio(source, tmp, both)
        if done == "none in the input":
            return done
        stored = video_packets(both)
        if stored != frames:
            raise FfmpegError(f"the video with sound holds {stored} of {frames} frames")
        os.replace(both, tmp)
        return done
    except FfmpegError as e:
        return f"dropped: {e}"
    finally:
        if os.path.exists(both):
            os.unlink(both)


def swap_video(
    swapper,
    video_in: str | os.PathLike,
    video_out: str | os.PathLike,
    *,
    faces="all",
    smooth: bool = True,
    inputs: tuple = (),
    progress: Callable[[int], None] | None = None,
    threads: bool = True,
    audio: bool = True,
    preset: str | None = None,
) -> VideoReport:
    """Swap ``swapper``'s source face (a :class:`fastswap.FaceSwapper`) into every frame of ``video_in``
    and write ``video_out``, at the input's frame rate and size, with the codec of its extension
    (``CODECS``, :func:`open_writer`), and with the input's sound (``audio``; :func:`carry_audio`: copied, or re-encoded
    where the container needs it). If the sound cannot be carried over (no ffmpeg, or it fails), the
    video is written without it and ``report.audio`` says why. ``preset``: libx264's, for H.264
    (``H264_PRESETS``; None: ``H264_PRESET``): slower ones write smaller files.

    The frames go through what :meth:`FaceSwapper.swap_frames` does (faces tracked, landmarks smoothed
    over time unless ``smooth`` is off, decisions with hysteresis), in order; with ``threads`` each
    frame is decoded and its faces detected ahead on one thread of their own, and encoded behind on
    another, at most QUEUE frames each way, so memory does not grow with the video's length. The
    video is written to a temporary file beside ``video_out``, read back (its declared frame count),
    and renamed over it only then, so a failed or interrupted run leaves no half-written output.
    ``progress`` is called with the number of frames done after each frame.

    Raises:
        InputError: an unreadable input, an output extension not in ``CODECS``, or an output path that
            is the input (or one of ``inputs``).
        OutputError: the output cannot be created or written.
    """
    out = Path(video_out)
    ext = out.suffix.lower()
    if ext not in CODECS:
        raise InputError(f"{out}: the output must end in one of {', '.join(sorted(CODECS))} (got {ext or 'none'!r})")
    if preset is not None and preset not in H264_PRESETS:
        raise InputError(f"preset must be one of {', '.join(H264_PRESETS)}, got {preset!r}")
    for src in (video_in, *inputs):
        if isinstance(src, (str, os.PathLike)) and same_file(out, src):
            raise InputError(f"{out}: output path is the same file as input {src}; refusing to overwrite")
    frames, fps, size = read_frames(video_in)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".part{ext}", dir=parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{out}: cannot create output ({e})") from e
    writer, codec = open_writer(tmp, fps, size, preset)
    report = VideoReport(fps=fps, size=size, codec=codec)
    t0 = time.perf_counter()
    sink = items = None
    try:
        if not writer.isOpened():
            raise OutputError(f"{out}: cannot open a {codec} video writer here")
        rgb = swapper.color == "rgb"  # the file's frames are BGR; such a swapper takes and gives RGB
        if rgb:
            frames = (cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames)
        if threads:  # decoded and detected ahead (MediaPipe and OpenCV release the GIL), encoded behind
            detector, colour = swapper.detector, swapper.color
            items, sink = read_ahead((f, detector.detect(f, color=colour)) for f in frames), _Writer(writer)
            results = swapper._swap_tracked(items, faces, FaceTracks(fps, smooth=smooth))
        else:
            results = swapper.swap_frames(frames, faces=faces, fps=fps, smooth=smooth)
        for res in results:
            image = cv2.cvtColor(res.image, cv2.COLOR_RGB2BGR) if rgb else res.image
            if image.shape[1::-1] != size:  # a stream that changes size: the writer would drop the frame
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            (sink or writer).write(image)
            report.frames += 1
            report.frames_with_faces += res.faces_found > 0
            report.faces_swapped += len(res.faces_swapped)
            report.per_frame.append(len(res.faces_swapped))
            if progress is not None:
                progress(report.frames)
        if sink is not None:  # cleared first: if closing raises, the handler below must not close it again
            sink, closing = None, sink
            closing.close()
        writer.release()
        stored = frame_count(tmp)  # OpenCV's writer fails silently (a full disk): read the file back
        if stored != report.frames:
            got = "a file OpenCV cannot read back" if stored < 0 else f"{stored} of {report.frames} frames"
            raise OutputError(f"{out}: the video writer stored {got} (disk full?)")
        if audio:
            report.audio = _with_audio(video_in, tmp, out, report.frames)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException as e:
        if sink is not None:
            try:
                sink.close()
            except BaseException:
                pass  # the first error is the one to report
        for gen in (items, frames):
            if hasattr(gen, "close"):
                gen.close()  # a reader thread stops; the input is released
        try:
            writer.release()
        except BaseException:
            pass  # the first error is the one to report
        discard_partial(tmp, out, e)
    report.seconds = time.perf_counter() - t0
    return report
