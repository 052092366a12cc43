"""The swap pipeline: detect -> align (fixed mesh, region of interest, mask) -> warp -> blend."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import mesh, quality, temporal
from .backends import get_backend
from .detect import Face, FaceDetector
from .errors import InputError, NoSourceFaceError
from .imageio import DEFAULT_MAX_PIXELS, ImageLike, load

FaceSelection = str | int | Sequence[int]
BLENDS = ("poisson", "mixed", "alpha", "multiband", "normal")  # "normal" is an alias of "poisson"
MASK_REGIONS = ("face", "brows")
SHAPE = 0.2  # default share of the source's face proportions (see quality.identity_shape)
MIN_SOURCE_VISIBLE = 0.6  # a source seen more from the side than this is refused (stretched texture)
# A source face drawn at less than half its size is drawn from a copy halved (cv2.pyrDown) k times,
# k = floor(log2(the source's face outline area / the target's) / 2): bilinear sampling from the full
# crop skipped pixels (stubble and pores came out as dark speckles on the group photo's small faces).
# One drawn larger than it is, from the face's box doubled by bicubic interpolation (MAGNIFY): the
# bilinear samples between the source's pixels are then a bicubic's (sharper).
SOURCE_LEVELS_MIN_SIDE = 16  # the crop is not halved below this many pixels on its shorter side
MAGNIFY = True  # build and use the doubled face (level -1 of source_levels)


@dataclass
class FaceInfo:
    """What happened to one target face. ``mask`` and ``warped`` ((h, w) uint8 and (h, w, 3) uint8,
    host, in ROI coordinates) are kept only when the swapper was made with ``debug=True``."""

    index: int
    confidence: float  # detector score x share of the mesh facing the camera
    swapped: bool
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1
    # "mouth", "left_eye", "right_eye"; "outline": part of it (source triangles stretched over STRETCH_MAX);
    # "hair": the target's hair (or background) over its face, left in front (quality.hair_over)
    kept_from_target: list[str] = field(default_factory=list)
    reason: str = ""
    mask: np.ndarray | None = None
    warped: np.ndarray | None = None


@dataclass
class SwapResult:
    """What :meth:`FaceSwapper.swap_report` returns. ``image`` is host (H, W, 3) uint8 in the input's order."""

    image: np.ndarray
    faces_found: int
    faces_swapped: list[int] = field(default_factory=list)
    message: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)  # "detect", "swap"
    faces: list[FaceInfo] = field(default_factory=list)  # one per selected face


@dataclass(frozen=True)
class PreparedSource:
    """A source face ready to be swapped in (picklable, so batch workers need not detect it again).

    Attributes:
        image: (h, w, 3) uint8 BGR host crop around the face.
        points: (468, 2) float32 mesh landmarks in the crop's pixel coordinates.
        face: the detected :class:`Face` in the original image's coordinates.
        skin: (h, w) uint8, 255 where the crop shows the face's own skin, 0 where hair or background
            reaches inside the mesh outline (:func:`fastswap.quality.source_skin`); None when nothing
            does. Mesh triangles with less than SKIN_SHARE_MIN of their area on skin are drawn from
            the face's other side, or not at all (:func:`_source_triangles`), so hair and background
            there never reach a target.
        hair: (h, w) uint8, 255 where light hair over the face was painted over with the skin's
            colour in ``image`` (:meth:`without_hair`); None when nothing was.
    """

    image: np.ndarray
    points: np.ndarray
    face: Face
    skin: np.ndarray | None = None
    hair: np.ndarray | None = None

    def without_hair(self, backend: str = "auto") -> PreparedSource:
        """This source with light hair over its face (:func:`fastswap.quality.hair_mask`) painted over
        by the skin around it (:func:`fastswap.quality.fill_hair`, its Poisson solve on ``backend``)
        and its ``skin`` found again on the result; itself when it has none, or when that was done
        already."""
        if self.hair is not None:
            return self
        hair = quality.hair_mask(self.image, self.points, self.face.size)
        if hair is None:
            return self
        image = quality.fill_hair(self.image, self.points, hair, self.face.size, backend)
        skin = quality.source_skin(image, self.points, self.face.size)
        return PreparedSource(image=image, points=self.points, face=self.face, skin=skin, hair=hair)


def prepare_source(
    source: ImageLike,
    detector: FaceDetector,
    *,
    source_face: str | int = "largest",
    color: str = "bgr",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PreparedSource:
    """Detect the source's face once and keep only its neighbourhood.

    Raises:
        NoSourceFaceError: no face in the source; InputError: a bad ``source_face``.
    """
    img = load(source, name=_name(source, "source"), color=color, max_pixels=max_pixels)
    faces = detector.detect(img)
    if not faces:
        raise NoSourceFaceError(f"{_name(source, 'source')}: no face found in the source image")
    if source_face == "largest":
        face = max(faces, key=lambda f: f.size)
    elif isinstance(source_face, int) and not isinstance(source_face, bool) and 0 <= source_face < len(faces):
        face = faces[source_face]
    else:
        raise InputError(f"source_face must be 'largest' or 0..{len(faces) - 1}, got {source_face!r}")
    pts = face.points[: mesh.NUM_MESH_POINTS]
    x0, y0, x1, y1 = face_roi(pts, img.shape[:2], pad=2.0)
    image = img[y0:y1, x0:x1].copy()  # its own pixels: never a view of the caller's array
    points = np.ascontiguousarray(pts - (x0, y0), np.float32)
    return PreparedSource(image=image, points=points, face=face, skin=quality.source_skin(image, points, face.size))


def face_roi(points: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) box around (N, 2) points, padded by ``pad`` px, clipped to ``shape``."""
    h, w = shape
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def face_mask(dst_pts: np.ndarray, covered: np.ndarray, face_size: float) -> np.ndarray:
    """(H, W) uint8 blend mask in ROI coordinates: the face outline polygon, within the warped area,
    eroded by about 2% of the face size so the seam falls on skin the warp really covers."""
    mask = quality.fill(covered.shape, dst_pts[mesh.FACE_OUTLINE]) & covered
    return quality.erode_round(mask, max(1, int(round(face_size * 0.02))))


def mask_box(mask: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the (H, W) ``mask``'s bounding box and its 1-pixel frame (clipped):
    all a Poisson solve over the mask reads."""
    bx, by, bw, bh = cv2.boundingRect(mask)
    return slice(max(by - 1, 0), by + bh + 1), slice(max(bx - 1, 0), bx + bw + 1)


class FaceSwapper:
    """Prepare one source face once, then swap it into many targets.

    Args:
        source: path or host array (see ``color``) holding the source face, or a
            :class:`PreparedSource`.
        backend: "auto" (fastest usable), "numpy", "cpu" or "cuda".
        source_face: which face of the source to use: "largest" or an index (left to right).
        blend: "poisson" (default; alias "normal"), "mixed" (Poisson with the stronger of source and
            target gradients), "alpha" (feathered alpha) or "multiband" (Laplacian pyramid).
        color_correct: match the warped face's colour and lighting to the target's first
            (:func:`fastswap.quality.match_colour`, its local means over the skin of both faces only:
            :func:`fastswap.quality.skin_statistics`). Off, the Poisson solve alone matches the colours.
        fade: with "poisson" and colour correction, the solve's correction (the target's edge carried
            into the face) fades from the mask's edge inwards over this share of the face size
            (:func:`fastswap.quality.fade_correction`), so that an edge the corrected face does not
            match does not lift or darken its whole middle; 0 keeps the plain Poisson solve.
        keep_mouth: keep the target's mouth interior (teeth, tongue) when its mouth is open. Either way
            a closed target mouth is drawn from the source with the inside of its open mouth painted
            over by its lips (:func:`fastswap.quality.paint_mouth`), and gets the target's lip line.
        keep_eyes: keep the target's eyes when their openness differs much from the source's; a
            closed target eye is pasted by its gradients, at the colour of the face around it
            (:func:`fastswap.quality.paste_lids`); a shut one (openness under
            ``quality.EYE_CLOSED``) with the ring of lids around its opening (``mesh.EYE_RINGS``),
            by its lightness alone.
        keep_hair: leave the target's own hair (and background) where it reaches over its face from the
            outline (a fringe, strands over a temple, hair hanging over the cheeks) in front of the new
            face (:func:`fastswap.quality.hair_over`; about 5 ms per face). Off by default: the
            recognizer of bench/quality.py then finds faces framed by img3's hair closer to img3
            (over all 420 pairs, 413 closer to the source against 419, distance to the source 0.463
            against 0.455); off, the source's face is drawn over that hair.
        cull_backfacing: do not draw triangles that face away from the camera in the target.
        mirror: draw the source's triangles that are covered by hair or background, or that face
            away (or nearly) in a turned source (in any source, along the outline), from their mirror
            triangles on the face's other side, fitted in by a Poisson blend (see
            :func:`_source_triangles`); off: such triangles are left out (hair) or drawn stretched
            (turned away).
        fill_hair: paint light hair that reaches over the source face from its outline (blond strands
            over the cheeks and temples, which the brightness test of ``mirror`` takes for skin) over
            with the skin's smooth colour before the face is drawn (:meth:`PreparedSource.without_hair`);
            off: such strands are drawn onto the target's face (a source given as a PreparedSource
            that :meth:`PreparedSource.without_hair` made is used as it is).
        mask_region: "face" (the whole mesh outline) or "brows" (no forehead: only below the brows).
        shape: share in [0, 1] of the source face's own proportions (eye spacing and size, nose size,
            the mouth's place) carried into the target's mesh, pose and expression removed
            (:func:`fastswap.quality.identity_shape`); the lips keep the target's shape (expression);
            0 warps onto the target's landmarks exactly. The default 0.2 was chosen with
            bench/quality.py: over all 420 pairs the recognizer's distance to the source drops from
            0.476 to 0.452, the landmark error rises from 0.0155 to 0.0164 (the classic loop: 0.468, 0.0167).
        min_confidence: target faces with a lower confidence (detector score x visible share of the
            mesh) are left alone and reported.
        debug: keep each face's mask and warped face in the result (for the debug picture).
        detector: a :class:`FaceDetector` to reuse (one is created otherwise and closed by :meth:`close`).
        model: model path for a detector created here.
        max_pixels: refuse images with more pixels than this.
        color: channel order of array inputs and outputs: "bgr" (OpenCV) or "rgb".
    Attributes:
        triangle_source: (898,) int8 host array, per ``mesh.TRIANGLES`` row, where its texture comes
            from in the source: 0 the triangle itself, 1 its mirror triangle (``mirror``), -1 nowhere
            (not drawn: hair or background on both sides). Shown in the ``--debug`` picture.
    Raises:
        NoSourceFaceError: the source has no usable face.
    """

    def __init__(
        self,
        source: ImageLike | PreparedSource,
        *,
        backend: str = "auto",
        source_face: str | int = "largest",
        blend: str = "poisson",
        color_correct: bool = True,
        keep_mouth: bool = True,
        keep_eyes: bool = True,
        keep_hair: bool = False,
        cull_backfacing: bool = True,
        mirror: bool = True,
        fill_hair: bool = True,
        mask_region: str = "face",
        shape: float = SHAPE,
        fade: float = quality.FADE,
        min_confidence: float = 0.0,
        debug: bool = False,
        detector: FaceDetector | None = None,
        model: str | os.PathLike | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        color: str = "bgr",
    ) -> None:
        if blend not in BLENDS:
            raise InputError(f"blend must be one of {BLENDS}, got {blend!r}")
        if mask_region not in MASK_REGIONS:
            raise InputError(f"mask_region must be one of {MASK_REGIONS}, got {mask_region!r}")
        self.backend = get_backend(backend)
        self.blend = "poisson" if blend == "normal" else blend
        self.color_correct, self.keep_mouth, self.keep_eyes = color_correct, keep_mouth, keep_eyes
        self.keep_hair = keep_hair
        self.cull_backfacing, self.mask_region = cull_backfacing, mask_region
        if not 0.0 <= float(shape) <= 1.0:
            raise InputError(f"shape must be in [0, 1], got {shape!r}")
        self.shape = float(shape)
        if not 0.0 <= float(fade) <= 1.0:
            raise InputError(f"fade must be in [0, 1] (a share of the face size), got {fade!r}")
        self.fade = float(fade)
        self.min_confidence, self.debug = float(min_confidence), debug
        self.color = color
        self.max_pixels = max_pixels
        self._own_detector = detector is None
        self.detector = detector if detector is not None else FaceDetector(model)
        if isinstance(source, PreparedSource):
            prepared = source
        else:
            try:
                prepared = prepare_source(
                    source, self.detector, source_face=source_face, color=color, max_pixels=max_pixels
                )
            except BaseException:
                self.close()
                raise
        visible = quality.visible_fraction(prepared.points)
        if visible < MIN_SOURCE_VISIBLE:
            self.close()
            raise NoSourceFaceError(
                f"{_name(source, 'source')}: the source face is turned away (only {visible:.0%} of its mesh "
                "faces the camera); its far side would be stretched. Use a more frontal photo."
            )
        if fill_hair:
            prepared = prepared.without_hair(backend)
        self.prepared = prepared
        self.triangle_source, self._mirror_guide = _source_triangles(prepared, mirror)
        self._triangles = np.ascontiguousarray(mesh.TRIANGLES[self.triangle_source == 0])
        self._outer = OUTER_BAND[self.triangle_source == 0]  # per row of _triangles
        self._mirror_points = np.ascontiguousarray(prepared.points[mesh.MIRROR])  # point i's mirror image
        # an open-mouthed source with the inside of its mouth painted over by its lips (quality.paint_mouth),
        # drawn into closed mouths (and open ones whose inside is kept); None when the source's is closed
        self._mouth_painted = None
        if quality.mouth_openness(prepared.points, prepared.face.size) > quality.MOUTH_OPEN / 2:
            self._mouth_painted = quality.paint_mouth(prepared.image, prepared.points, prepared.face.size, backend)
        # `shape`'s smoothing over the mesh, measured on the source face: once, not per target face
        self._shape_weights = quality.mesh_smoothing(prepared.points, prepared.face.size) if self.shape > 0 else None
        # each source crop halved again and again, and its face doubled (built here, once: batch
        # threads share the swapper)
        self._levels = source_levels(prepared.image, prepared.points)
        self._mouth_painted_levels = None
        if self._mouth_painted is not None:
            self._mouth_painted_levels = source_levels(self._mouth_painted, prepared.points)
        self._outline_area = outline_area(prepared.points)

    def swap(self, target: ImageLike, *, faces: FaceSelection = "all") -> np.ndarray:
        """Swap the source face into ``target`` and return the new host (H, W, 3) uint8 image.

        ``faces``: "all", "largest", an index or a list of indices (faces sorted left to right), or
        "reference" (the faces that resemble the image given to :meth:`set_reference`).
        A target without a face comes back unchanged (see :meth:`swap_report` to tell).
        """
        return self.swap_report(target, faces=faces).image

    def swap_report(self, target: ImageLike, *, faces: FaceSelection = "all", inplace: bool = False) -> SwapResult:
        """Like :meth:`swap`, also saying how many faces were found and which were swapped.

        ``inplace``: with a host array target that needs no conversion ((H, W, 3) uint8, C-contiguous,
        BGR swapper), draw the faces into that array itself instead of a copy (``.image`` is then
        ``target``): saves copying the whole image. Otherwise a target array is never changed.
        """
        img = load(target, name=_name(target, "target"), color=self.color, max_pixels=self.max_pixels)
        t0 = time.perf_counter()
        found = self.detector.detect(img)
        chosen = self._select_reference(img, found) if faces == "reference" else _select(found, faces)
        return self._draw(target, img, found, chosen, None, inplace, t0)

    def swap_frames(
        self,
        frames: Iterable[ImageLike],
        *,
        faces: FaceSelection = "all",
        fps: float = 30.0,
        smooth: bool = True,
        min_cutoff: float = temporal.MIN_CUTOFF,
        beta: float = temporal.BETA,
        beta_local: float = temporal.BETA_LOCAL,
    ) -> Iterator[SwapResult]:
        """Swap the source face into the frames of a video, in order: one :class:`SwapResult` per frame,
        as each frame is consumed (``frames`` may be a generator; nothing is held beyond one frame).

        Unlike :meth:`swap` on each frame, each face is followed from frame to frame
        (:class:`fastswap.temporal.FaceTracks`): its landmarks are smoothed over time (``smooth``, a One
        Euro filter with ``min_cutoff`` Hz at rest and ``beta`` more per face size per second of the
        face's motion as a whole, ``beta_local`` more per face size per second of a point's own
        motion: :class:`fastswap.temporal.LandmarkFilter`), so a face standing still does not
        shimmer while a moving face or mouth is followed closely; and its yes-or-no decisions (its
        open mouth or an eye kept from the target, culling, the outline's stretched triangles,
        ``min_confidence``) keep the previous frame's until clearly reversed, so a kept region does
        not switch on and off. ``faces``: as for :meth:`swap`, but held by track
        (:class:`TrackPick`), so the swap does not jump between people: "largest" keeps its face until
        another is clearly larger; an index keeps the face it counted in the first frame where it
        existed (left to right) until that face is lost; with "reference" each face is compared with
        the reference once, when its track starts. A face that scores under
        ``temporal.TRACK_CONFIRM_SCORE`` is swapped (and counted) only from the
        ``temporal.TRACK_CONFIRM_FRAMES``-th frame of its track on: a false detection that lasts a frame
        does not flash a face. A cut to another shot (:class:`fastswap.temporal.ShotCuts`) ends every
        track: a face at the same place in the next shot is another face (its own decisions, its own
        comparison with the reference).

        Args:
            frames: host arrays (H, W[, 3|4]) uint8 in the swapper's colour order, or paths.
            fps: the frames' rate (frames per second): the filter's time scale.
        Raises:
            InputError: a bad ``fps``, ``min_cutoff``, ``beta`` or ``beta_local``, or an unusable frame.
        """
        tracks = temporal.FaceTracks(fps, smooth=smooth, min_cutoff=min_cutoff, beta=beta, beta_local=beta_local)
        return self._swap_tracked(((frame, None) for frame in frames), faces, tracks)

    def _swap_tracked(
        self, items: Iterable[tuple[ImageLike, list[Face] | None]], faces: FaceSelection, tracks: temporal.FaceTracks
    ) -> Iterator[SwapResult]:
        """:meth:`swap_frames` over (frame, its faces) pairs: faces None are detected here; a list is what
        ``self.detector`` found in that frame already (``fastswap.video`` detects on its reading
        thread, ahead of the swap)."""
        _select([], faces if faces != "reference" else "all")  # a bad selection fails before the first frame
        picked = TrackPick(faces)
        cuts = temporal.ShotCuts()
        for n, (frame, detected) in enumerate(items):
            img = load(frame, name=_name(frame, f"frame {n}"), color=self.color, max_pixels=self.max_pixels)
            t0 = time.perf_counter()
            if cuts(img):  # another shot: its faces start tracks of their own (a reference is asked again)
                tracks.reset()
            tracked = tracks.update(self.detector.detect(img) if detected is None else detected)
            found = [face for face, _ in tracked]
            # only confirmed tracks are swapped, counted and compared (a passing false face is not)
            real = [i for i, (_, track) in enumerate(tracked) if track.confirmed]
            if faces == "reference":
                chosen = []
                for i in real:
                    face, track = tracked[i]
                    if "reference" not in track.state:
                        track.state["reference"] = bool(self._select_reference(img, [face]))
                    if track.state["reference"]:
                        chosen.append(i)
            else:
                live = {t.id for t in tracks.tracks if t.confirmed}
                chosen = [real[j] for j in picked([tracked[i] for i in real], live)]
            yield self._draw(frame, img, found, chosen, [track.state for _, track in tracked], False, t0)

    def _draw(
        self,
        target: ImageLike,
        img: np.ndarray,
        found: list[Face],
        chosen: list[int],
        states: list[dict] | None,
        inplace: bool,
        t0: float,
    ) -> SwapResult:
        """Swap into the ``chosen`` faces of ``found`` in ``img`` (``target`` loaded); ``states``: per
        face of ``found``, its decisions in the previous frame (:meth:`_swap_one`), or None."""
        t1 = time.perf_counter()
        # a path, or an array that had to be converted, was loaded into an array of our own
        out = img if img is not target or inplace else img.copy()
        infos = [self._swap_one(out, found[i], i, None if states is None else states[i]) for i in chosen]
        chosen = [f.index for f in infos if f.swapped]
        if self.color == "rgb":
            out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
        t2 = time.perf_counter()
        msg = "" if found else "no face found in the target; returned unchanged"
        return SwapResult(
            image=out,
            faces_found=len(found),
            faces_swapped=chosen,
            message=msg,
            timings_ms={"detect": (t1 - t0) * 1e3, "swap": (t2 - t1) * 1e3},
            faces=infos,
        )

    def set_reference(self, reference: ImageLike, threshold: float | None = None) -> None:
        """Make ``faces="reference"`` select the target faces that resemble ``reference``'s largest face
        (dlib descriptor distance below ``threshold``, default 0.6; see :mod:`fastswap.identity`)."""
        from .identity import SAME_PERSON, FaceEmbedder

        img = load(reference, name=_name(reference, "reference"), color=self.color, max_pixels=self.max_pixels)
        faces = self.detector.detect(img)
        if not faces:
            raise InputError(f"{_name(reference, 'reference')}: no face found in the reference image")
        self._embedder = FaceEmbedder()
        self._reference = self._embedder.describe(img, max(faces, key=lambda f: f.size))
        self._threshold = SAME_PERSON if threshold is None else float(threshold)

    def _select_reference(self, img: np.ndarray, found: list[Face]) -> list[int]:
        if getattr(self, "_reference", None) is None:
            raise InputError('faces="reference" needs set_reference() (or --reference) first')
        dist = [self._embedder.distance(self._embedder.describe(img, f), self._reference) for f in found]
        return [i for i, d in enumerate(dist) if d < self._threshold]

    def _swap_one(self, image: np.ndarray, face: Face, index: int, state: dict | None = None) -> FaceInfo:
        """Swap into one target face of ``image`` (host (H, W, 3) uint8 BGR, drawn in place).

        ``state``: this face's decisions in the previous frame of a video (a dict kept per tracked face,
        :class:`fastswap.temporal.FaceTracks`; updated here): each yes-or-no decision taken on a
        measure against a threshold (confidence, culling, an open mouth, an eye kept, an outline
        triangle too stretched) is then reversed only when its measure has gone clearly past the
        threshold (:func:`fastswap.temporal.hysteresis`), so a kept region does not switch on and off
        from frame to frame. None (single images): plain thresholds."""

        def decide(key: str, value: float, threshold: float, margin: float = temporal.MARGIN) -> bool:
            """``value > threshold``, with the hysteresis of the previous frame's decision in ``state``."""
            if state is None:
                return value > threshold
            state[key] = temporal.hysteresis(value, threshold, state.get(key), margin)
            return state[key]

        pts = face.points[: mesh.NUM_MESH_POINTS]
        visible = quality.visible_fraction(pts)
        confidence = face.score * visible
        info = FaceInfo(index=index, confidence=confidence, swapped=False)
        if state is None or self.min_confidence <= 0:
            confident = confidence >= self.min_confidence
        else:
            confident = decide("confident", confidence, self.min_confidence)
        if not confident:
            info.reason = f"confidence {confidence:.2f} below {self.min_confidence:.2f}"
            return info
        pad = max(4.0, 0.04 * face.size)
        if self.blend == "multiband":  # room for the coarse bands to fade out before the region's edge
            pad += 3 * 2**quality.MULTIBAND_LEVELS
        x0, y0, x1, y1 = face_roi(pts, image.shape[:2], pad)
        info.roi = (x0, y0, x1, y1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            info.reason = "face region too small"
            return info
        dst_pts = np.ascontiguousarray(pts - (x0, y0), np.float32)
        shape = (y1 - y0, x1 - x0)
        # A frontal face has a few folded triangles (lip corners, nostrils) from landmark noise; culling
        # them would punch holes in the face. Cull only for a real turn of the head.
        if state is None:
            cull = self.cull_backfacing and visible < quality.TURNED
        else:  # turned: the hidden share over 1 - TURNED, reversed past 2% or 4% hidden
            cull = self.cull_backfacing and decide("turned", 1.0 - visible, 1.0 - quality.TURNED, margin=1 / 3)
        # Regions kept from the target: pasted back after blending, so that they never act as a
        # boundary inside the face (a Poisson boundary there would tint the whole face).
        keep = np.zeros(shape, np.uint8)
        lids = np.zeros(shape, np.uint8)  # kept eyes that are closed in the target: pasted by gradients
        shut = np.zeros(shape, np.uint8)  # ... those whose lids touch, with the ring around them: by lightness
        # Mesh points that `shape` leaves on the target's: the lips (the mouth's shape is mostly
        # expression: a smile, pursed lips; carried over, it cost landmark error for little identity,
        # bench/quality.py over all sources) and the edges of regions kept from the target.
        pinned: list[np.ndarray] = [mesh.LIPS_OUTER, mesh.LIPS_INNER]
        grow = max(1, int(round(face.size * 0.015)))
        mouth_open = decide("mouth_open", quality.mouth_openness(dst_pts, face.size), quality.MOUTH_OPEN)
        # the inside of the source's mouth only where it is asked for: an open target mouth not kept
        source, levels = self.prepared.image, self._levels
        if self._mouth_painted is not None and (self.keep_mouth or not mouth_open):
            source, levels = self._mouth_painted, self._mouth_painted_levels
        if self.keep_mouth and mouth_open:
            keep |= quality.fill(shape, dst_pts[mesh.LIPS_INNER], dilate=grow)
            info.kept_from_target.append("mouth")  # its edge, the inner lips, is pinned already
        if self.keep_eyes:
            for name, loop in (("left_eye", mesh.LEFT_EYE), ("right_eye", mesh.RIGHT_EYE)):
                a = quality.eye_openness(self.prepared.points, loop)
                b = quality.eye_openness(dst_pts, loop)
                if decide(name, max(a, b) / max(min(a, b), 1e-3), quality.EYE_RATIO_DIFF):
                    # Closed in the target (its lids touch): the source's open eye squeezed onto the
                    # thin opening still showed its white and lashes just outside it (the group
                    # photo's eyes are 0.2 to 2 pixels tall), so the lids are pasted over the ring of
                    # mesh around the opening too, up to the next loop of points (pinned, so that
                    # the source's surroundings of its eye are drawn inside it). A squint that
                    # shows the iris keeps the lids around it the source's.
                    if b < a and decide(name + "_shut", quality.EYE_CLOSED / max(b, 1e-3), 1.0):
                        tris = mesh.TRIANGLES[np.r_[mesh.REGION_TRIANGLES[name], mesh.EYE_RINGS[name]]]
                        region = quality.fill_triangles(shape, dst_pts[tris], dilate=grow)
                        shut |= region
                        pinned.append(np.unique(tris))
                    else:
                        region = quality.fill(shape, dst_pts[loop], dilate=grow)
                        if b < a:
                            lids |= region
                        pinned.append(loop)
                    keep |= region
                    info.kept_from_target.append(name)
        warp_pts = dst_pts
        if self.shape > 0:
            src_lm = np.column_stack([self.prepared.points, self.prepared.face.landmarks[: mesh.NUM_MESH_POINTS, 2]])
            dst_lm = np.column_stack([dst_pts, face.landmarks[: mesh.NUM_MESH_POINTS, 2]])
            warp_pts = quality.identity_shape(
                src_lm,
                dst_lm,
                face.size,
                self.shape,
                pinned=np.concatenate(pinned),
                weights=self._shape_weights,
            )
        triangles = self._triangles
        before = None if state is None else state.get("stretched")
        stretched = outline_stretched(self.prepared.points[triangles], warp_pts[triangles], self._outer, before)
        if state is not None:
            state["stretched"] = stretched
        if stretched.any():  # the target's own face stays there (the mask is built from what is drawn)
            triangles = np.ascontiguousarray(triangles[~stretched])
            info.kept_from_target.append("outline")
        # the source at about the scale it is drawn at (the warp's bilinear sampling then halves it at
        # most, or enlarges the doubled face at most twice)
        level = source_level(self._outline_area, outline_area(dst_pts), min(levels), max(levels), state)
        drawn_from = levels[level]
        warped, covered = self.backend.warp_triangles(
            drawn_from.image, drawn_from.map(self.prepared.points), warp_pts, triangles, shape, cull_backfacing=cull
        )
        # a copy, always: the face is drawn into `image` in place, and `roi` must keep the target's pixels
        # (a region as wide as the image is contiguous, and ascontiguousarray returned a view of it)
        roi = image[y0:y1, x0:x1].copy()
        if len(self._mirror_guide):
            self._fill_from_mirror(drawn_from, warped, covered, roi, warp_pts, shape, cull)
        if self.keep_hair:  # the target's hair over its face stays in front (the mask is built from `covered`)
            over = quality.hair_over(roi, dst_pts, face.size)
            if state is not None:  # a video: the region low-passed over frames (its test flickers)
                over = temporal.steady_mask(over, "hair", shape, pts, (x0, y0), state)
            if over is not None:
                covered &= cv2.bitwise_not(over)
                info.kept_from_target.append("hair")
        mask = face_mask(dst_pts, covered, face.size)
        if self.mask_region == "brows":
            mask &= quality.below_brows(shape, dst_pts)
        # Only the mask's bounding box and its 1-pixel frame matter from here on: the blends read the
        # warped face inside the mask, the Poisson solve its boundary too.
        box = mask_box(mask)
        poisson = self.blend in ("poisson", "mixed")
        target_skin = None  # the target's own skin over the box (quality.skin_tests), for the Poisson boundary
        if self.color_correct or poisson:
            w_box, r_box = np.ascontiguousarray(warped[box]), np.ascontiguousarray(roi[box])
            # Each layer's skin, judged against its own cheeks: the colour correction takes its local
            # means over both faces' skin only (features, glasses' frames, a beard left out), and the
            # target's tells the Poisson boundary's skin from hair, beard and background.
            features = quality.feature_mask(shape, dst_pts, face.size)
            features |= quality.feature_mask(shape, warp_pts, face.size)  # the source's, moved by `shape`
            cheeks = quality.cheek_band(shape, dst_pts)
            layers = (r_box, w_box) if self.color_correct else (r_box,)
            inner = (mask & ~keep)[box]
            tests = quality.skin_tests(cv2.bitwise_and(inner, ~features[box]), layers, face.size, cheeks[box])
            target_skin = tests[0] if tests else None
            if self.color_correct:
                skin = quality.skin_statistics(inner, layers, features[box], face.size, tests=tests)
                warped[box] = quality.match_colour(w_box, r_box, skin, face.size)
        if poisson:
            mode = "normal" if self.blend == "poisson" else "mixed"
            w_box, m_box, r_box = warped[box], mask[box], roi[box]  # views: the backends copy what they must
            ring = quality.boundary_ring(m_box)
            boundary = quality.robust_boundary(w_box, r_box, m_box, ring=ring, skin=target_skin)
            solved = self.backend.poisson_blend(w_box, boundary, m_box, mode=mode)  # `boundary` off the mask
            if self.fade > 0 and self.color_correct and mode == "normal":  # the middle is matched already
                solved = quality.fade_correction(solved, w_box, m_box, face.size, self.fade)
            solved = quality.edge_feather(solved, r_box, boundary, m_box, ring, face.size)
            if state is not None:  # a video: the blend's correction low-passed over frames
                origin = (x0 + box[1].start, y0 + box[0].start)
                solved = temporal.steady_correction(solved, w_box, m_box, pts, origin, state)
            cv2.copyTo(r_box, ring, solved)  # the target's own pixels back on the boundary
            out = image[y0:y1, x0:x1]  # drawn in place: `roi` keeps the target's pixels
            out[box] = solved
            in_place = True
        else:
            alpha = quality.feather(mask, face.size)
            filled = np.where(mask[:, :, None] > 0, warped, roi)  # no black outside the face in any band
            blend = quality.alpha_blend if self.blend == "alpha" else quality.multiband_blend
            out = blend(filled, roi, alpha)
            in_place = False
        for region, colour in ((lids, "target"), (shut, "around")):
            if region.any():
                quality.paste_lids(out, roi, region, self.backend, colour=colour)
                keep &= ~region
        kx, ky, kw, kh = cv2.boundingRect(keep)
        if kw:
            sigma = max(1.0, grow / 2)
            m = int(np.ceil(4 * sigma))  # the blurred edge's reach
            kb = (slice(max(ky - m, 0), ky + kh + m), slice(max(kx - m, 0), kx + kw + m))
            k_box = keep[kb]
            a = cv2.GaussianBlur(k_box.astype(np.float32) / 255.0, (0, 0), sigmaX=sigma)
            a = np.maximum(a, k_box > 0)[:, :, None]  # the kept region itself is exactly the target's
            out[kb] = np.clip(roi[kb] * a + out[kb] * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        if source is self._mouth_painted and not mouth_open:  # the painted mouth gets the target's line
            quality.lip_line(out, roi, dst_pts, face.size)
        if not in_place:
            image[y0:y1, x0:x1] = out
        info.swapped = True
        if self.debug:
            info.mask, info.warped = mask & ~keep, warped
        return info

    def _fill_from_mirror(
        self,
        source: SourceLevel,
        warped: np.ndarray,
        covered: np.ndarray,
        roi: np.ndarray,
        warp_pts: np.ndarray,
        shape,
        cull: bool,
    ) -> None:
        """Draw the triangles taken from the ``source`` crop's other side (see :func:`_source_triangles`;
        one of the :func:`source_levels` of the prepared crop or of its copy with the mouth painted
        over) into ``warped`` and ``covered``
        (host, ROI coordinates, changed in place), Poisson-blended into what
        surrounds them (the face drawn so far, else the target): the other side is lit differently,
        and pasted as it is each patch would show its own edge."""
        # target point i drawn from source point MIRROR[i]: each triangle from its mirror triangle
        extra, drawn = self.backend.warp_triangles(
            source.image, source.map(self._mirror_points), warp_pts, self._mirror_guide, shape, cull_backfacing=cull
        )
        fill = cv2.bitwise_and(drawn, cv2.bitwise_not(covered))
        contours, _ = cv2.findContours(fill, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        h, w = fill.shape
        for contour in contours:  # each patch in its own box (1-pixel frame)
            x, y, bw, bh = cv2.boundingRect(contour)
            x0, y0 = max(x - 1, 0), max(y - 1, 0)
            box = slice(y0, min(y + bh + 1, h)), slice(x0, min(x + bw + 1, w))
            # only this patch: another one reaching into the box would be solved again against the
            # box's edge (the target's pixels there), which left an axis-aligned wedge of the target's
            # colour in it (img14 into img11_reflection)
            own = np.zeros(fill[box].shape, np.uint8)
            cv2.drawContours(own, [contour], -1, 255, cv2.FILLED, offset=(-x0, -y0))
            own &= fill[box]
            around = roi[box].copy()
            cv2.copyTo(warped[box], covered[box], around)  # the face drawn so far, else the target
            guide = around.copy()
            cv2.copyTo(extra[box], drawn[box], guide)
            # The solve takes the guide's differences across the patch's edge too. Where the mirror
            # triangles end at its edge with the face drawn so far, the guide's pixel beyond it was that
            # face, and the step between the two sides' lighting was carried into the patch: a dark box
            # on the cheek (img1 into img18). There the guide is the patch's own texture, carried one
            # pixel out. (Beyond its edge with the target, guide and boundary are both the target's
            # pixel, which cancels: the patch keeps its own level there, as it should.)
            face_only = cv2.bitwise_and(covered[box], cv2.bitwise_not(drawn[box]))
            beyond = cv2.bitwise_and(quality.boundary_ring(own), face_only)
            if beyond.any():
                weight = (own > 0).astype(np.float32)
                num = cv2.blur(extra[box].astype(np.float32) * weight[:, :, None], (3, 3))
                den = cv2.blur(weight, (3, 3))
                near = np.clip(num / np.maximum(den, 1e-6)[:, :, None] + 0.5, 0, 255).astype(np.uint8)
                cv2.copyTo(near, beyond, guide)
            solved = self.backend.poisson_blend(guide, around, own, mode="normal")
            np.copyto(warped[box], solved, where=own[:, :, None] > 0)
        np.bitwise_or(covered, fill, out=covered)

    def close(self) -> None:
        """Close the detector if this swapper created it."""
        if self._own_detector and getattr(self, "detector", None) is not None:
            self.detector.close()

    def __enter__(self) -> FaceSwapper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


SKIN_SHARE_MIN = 0.9  # a source triangle with less of its area on skin than this is not drawn from
MIRROR_AREA_MIN = 0.7  # a mirror triangle smaller than this share of the triangle's own area is not used
OBLIQUE_MAX = 0.5  # in a turned source, a triangle under this share of its mirror's area is taken as hidden
OUTER_RINGS = 2  # triangle rings along the outline where even a near-frontal source's oblique ones are mirrored
STRETCH_MAX = 3.0  # within OUTER_RINGS, a triangle stretched more than this onto a target face is not drawn there


@dataclass(frozen=True)
class SourceLevel:
    """A source crop at another scale: ``image`` (host (h, w, 3) uint8), where point p of the crop is
    ``p * scale + offset``."""

    image: np.ndarray
    scale: float
    offset: tuple[float, float] = (0.0, 0.0)

    def map(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) float32 points of the crop, in this level's pixels."""
        return np.ascontiguousarray(points * np.float32(self.scale) + np.asarray(self.offset, np.float32))


def source_levels(image: np.ndarray, points: np.ndarray) -> dict[int, SourceLevel]:
    """The source crop ``image`` (host (h, w, 3) uint8) at the scales a face is drawn from, by level:
    0 itself; k = 1, 2, ... halved k times by ``cv2.pyrDown`` (Gaussian 5x5, then every other pixel:
    point p is p / 2**k), down to SOURCE_LEVELS_MIN_SIDE pixels on the shorter side; -1 (when
    MAGNIFY) the box around the face's mesh ``points`` ((468, 2) float32), 4 pixels wider, doubled by
    bicubic interpolation (``cv2.resize``: point p is 2 (p - corner) + 0.5)."""
    levels = {0: SourceLevel(image, 1.0)}
    k = 0
    while min(levels[k].image.shape[:2]) >= 2 * SOURCE_LEVELS_MIN_SIDE:
        levels[k + 1] = SourceLevel(cv2.pyrDown(levels[k].image), 0.5 ** (k + 1))
        k += 1
    if MAGNIFY:
        h, w = image.shape[:2]
        x0, y0 = (max(0, int(np.floor(v)) - 4) for v in points.min(axis=0))
        x1, y1 = (int(np.ceil(v)) + 5 for v in points.max(axis=0))
        box = image[y0 : min(y1, h), x0 : min(x1, w)]
        up = cv2.resize(box, (2 * box.shape[1], 2 * box.shape[0]), interpolation=cv2.INTER_CUBIC)
        levels[-1] = SourceLevel(up, 2.0, (0.5 - 2.0 * x0, 0.5 - 2.0 * y0))
    return levels


def outline_area(points: np.ndarray) -> float:
    """The area, in square pixels, inside the face outline of mesh ``points`` ((468, 2) host float)."""
    return float(cv2.contourArea(np.ascontiguousarray(points[mesh.FACE_OUTLINE], np.float32)))


def source_level(source_area: float, target_area: float, bottom: int, top: int, state: dict | None = None) -> int:
    """Which of the source's :func:`source_levels` (``bottom``..``top``: -1 where the doubled face was
    built, else 0) to draw a face from: the source's face outline area ``source_area`` drawn onto
    ``target_area`` shrinks the face linearly by s = sqrt(source_area / target_area); level
    k = floor(log2 s) leaves the warp's bilinear sampling at most a halving (or, from the doubled face,
    at most a doubling). ``state`` (a video's face, see :meth:`FaceSwapper._swap_one`): the previous
    frame's level is kept until log2 s leaves its octave by a tenth of one, so that the face's
    sharpness does not switch back and forth."""
    octave = 0.5 * np.log2(max(source_area, 1.0) / max(target_area, 1.0))
    level = int(np.clip(np.floor(octave), bottom, top))
    if state is not None:
        before = state.get("level")
        if before is not None and before - 0.1 <= octave < before + 1.1 and bottom <= before <= top:
            level = before
        state["level"] = level
    return level


def _touching(points: np.ndarray) -> np.ndarray:
    """(898,) bool per ``mesh.TRIANGLES`` row: the triangles with a vertex among ``points`` (indices)."""
    return np.isin(mesh.TRIANGLES, points).any(axis=1)


def _outer_band(rings: int) -> np.ndarray:
    """(898,) bool per ``mesh.TRIANGLES`` row: the triangles within ``rings`` rings of the outline."""
    band = _touching(mesh.FACE_OUTLINE)
    for _ in range(rings - 1):
        band = _touching(mesh.TRIANGLES[band])
    return band


OUTER_BAND = _outer_band(OUTER_RINGS)


def _source_triangles(prepared: PreparedSource, mirror: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Where each mesh triangle's texture comes from in the source (host arrays).

    A source triangle is usable when at least SKIN_SHARE_MIN of its area is the face's own skin (see
    PreparedSource.skin: hair or background reaching inside the outline) and it faces the camera
    with at least OBLIQUE_MAX of its mirror triangle's area (the far side of a turned head is seen
    edge-on: drawn from there it is smeared across the target's face); in a near-frontal source
    (visible share at least quality.TURNED) the latter only within OUTER_RINGS rings of the outline,
    where a slight turn foreshortens the far cheek. With ``mirror``, a triangle that
    is not usable is drawn from its mirror triangle across the face's midline (``mesh.MIRROR``) when
    that one is usable and not seen much more obliquely (area at least MIRROR_AREA_MIN of its own),
    so that hair over one temple, or the far side of a turned head, takes the other side's skin
    instead of leaving a hole (or stretched texture) in the face. Otherwise a triangle on skin is
    drawn from itself (facing away or not), and one off the skin is not drawn: never drawn, never
    blended (the mask is built from what was drawn, and eroded from its edge).

    Returns:
        use: (898,) int8 per ``TRIANGLES`` row: 0 drawn from itself, 1 from its mirror triangle, -1
            not drawn (``FaceSwapper.triangle_source``).
        guide: (M, 3) int32 ``TRIANGLES`` rows to draw from their mirror triangles (the source's
            points taken through ``MIRROR``): those to fill and, around them, those drawn from
            themselves whose mirror side is usable too (the guidance of the Poisson blend that fits
            the filled ones in); (0, 3) when nothing is filled.
    """
    pts = prepared.points
    n = len(mesh.TRIANGLES)
    if prepared.skin is None:
        skin_ok = np.ones(n, bool)
    else:
        h, w = prepared.skin.shape
        ids = np.full((h, w), -1, np.int32)
        tri = np.round(pts[mesh.TRIANGLES] * 16).astype(np.int32)
        for k, t in enumerate(tri):
            cv2.fillConvexPoly(ids, t, k, lineType=cv2.LINE_8, shift=4)
        sel = ids >= 0
        area = np.bincount(ids[sel], minlength=n)
        good = np.bincount(ids[sel], weights=(prepared.skin[sel] > 0).astype(np.float64), minlength=n)
        skin_ok = (area == 0) | (good >= SKIN_SHARE_MIN * np.maximum(area, 1))
    signed = quality.triangle_areas(pts[mesh.TRIANGLES])  # > 0 facing the camera
    partner = mesh.MIRROR_TRIANGLE
    # the far side of a turned head: facing away, or seen far more obliquely than its mirror
    facing_ok = (signed > 0) & (signed >= OBLIQUE_MAX * signed[partner])
    if quality.visible_fraction(pts) >= quality.TURNED:
        # a near-frontal face: only along the outline, where a slight turn foreshortens the far cheek
        # and temple (stretched into a smeared stripe on a frontal target); inside, landmark noise
        # folds a few triangles (nostrils, lip corners) that must not be taken for a turn
        facing_ok |= ~OUTER_BAND
    usable = skin_ok & facing_ok
    # a mirror triangle seen much more obliquely than the triangle itself would be stretched
    wide = np.abs(signed[partner]) >= MIRROR_AREA_MIN * np.abs(signed) if mirror else np.zeros(n, bool)
    own = usable | ~(usable[partner] & wide) & skin_ok
    mirrored = ~own & usable[partner] & wide
    use = np.where(own, 0, np.where(mirrored, 1, -1)).astype(np.int8)
    # the mirror side's texture on the filled triangles and on their neighbours (sharing a vertex)
    # drawn by the face itself: the guidance of the blend that fits them in, on and around them
    near = _touching(mesh.TRIANGLES[mirrored])
    guide = mirrored | (near & own & usable[partner])
    return use, np.ascontiguousarray(mesh.TRIANGLES[guide])


def outline_stretched(
    src_tri: np.ndarray, dst_tri: np.ndarray, outer: np.ndarray, before: np.ndarray | None = None
) -> np.ndarray:
    """(T,) bool: the triangles along the outline (``outer``, (T,) bool: within OUTER_RINGS of it) whose
    source texture would be stretched more than STRETCH_MAX times by area onto this target face,
    against the face's own scale (:func:`fastswap.quality.stretch_factors`; ``src_tri``, ``dst_tri``
    (T, 3, 2) float host arrays, pixels). A source's outline is seen edge-on, and its last pixels mix
    in the background and the cheek's rim light; where a target shows that part of its face wide (the
    near cheek of a turned head, a face four times the source's size) those pixels came out as a
    bright or smeared stripe along the face's edge (img14 into img11_reflection: 21 times). Not
    drawn, the target's own face stays there. ``before``: (T,) bool, the previous video frame's answer
    for the same triangles (:meth:`FaceSwapper._swap_one`'s state): a triangle's answer is then
    reversed only past STRETCH_MAX times (1 +- ``temporal.MARGIN``)."""
    factor = quality.stretch_factors(src_tri, dst_tri)
    if before is None:
        return outer & (factor > STRETCH_MAX)
    return outer & (factor > STRETCH_MAX * np.where(before, 1.0 - temporal.MARGIN, 1.0 + temporal.MARGIN))


def drawn_triangles(prepared: PreparedSource, use: np.ndarray, dst_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The source and target triangles that a swap draws, row for row: (K, 3, 2) float32 host arrays.

    ``use``: (898,) int8, :attr:`FaceSwapper.triangle_source`; ``dst_points``: (468, 2) the target
    face's mesh points (pixels), as the warp gets them. Triangles drawn from their mirror take the
    source's points through ``mesh.MIRROR``; those not drawn are left out, and so are those drawn from
    themselves that :func:`outline_stretched` leaves to the target."""
    use = use.copy()
    own = use == 0
    tri = mesh.TRIANGLES[own]
    use[np.flatnonzero(own)[outline_stretched(prepared.points[tri], dst_points[tri], OUTER_BAND[own])]] = -1
    rows = use >= 0
    src = np.where(
        (use[rows] == 1)[:, None, None],
        prepared.points[mesh.MIRROR][mesh.TRIANGLES[rows]],
        prepared.points[mesh.TRIANGLES[rows]],
    )
    return src.astype(np.float32), np.asarray(dst_points, np.float32)[mesh.TRIANGLES[rows]]


class TrackPick:
    """Which faces of a video's frame to swap (``faces`` of :meth:`FaceSwapper.swap_frames`), by track,
    so that the swap does not jump from one person to another between frames.

    "all": every face. "largest": the largest face's track, kept until another face is more than
    ``temporal.MARGIN`` larger or the track is lost (while it is missing from a frame, no face is).
    Indices: counted left to right in the first frame where they exist; each then follows its face's
    track, and is counted again in the current frame only once that track is lost (the person left
    the picture)."""

    def __init__(self, faces: FaceSelection) -> None:
        self.faces = faces
        self.slots: dict[int, int] = {}  # index (or 0 for "largest") -> track id

    def __call__(self, tracked: list[tuple[Face, temporal.Track]], live: set[int]) -> list[int]:
        """Positions in ``tracked`` (this frame's faces with their tracks) to swap; ``live``: the ids of
        the tracks still kept."""
        if self.faces == "all":
            return list(range(len(tracked)))
        where = {track.id: i for i, (_, track) in enumerate(tracked)}
        if self.faces == "largest":
            if not tracked:
                return []
            sizes = {track.id: face.size for face, track in tracked}
            best = max(sizes, key=sizes.get)
            held = self.slots.get(0)
            if held in live and held not in sizes:
                return []  # its face was not found in this frame: no other face in its place meanwhile
            if held not in sizes or sizes[best] > sizes[held] * (1.0 + temporal.MARGIN):
                self.slots[0] = held = best
            return [where[held]]
        for k in [self.faces] if isinstance(self.faces, int) else list(self.faces):
            if self.slots.get(k) not in live and 0 <= k < len(tracked):
                claimed = set(self.slots.values()) & live
                if tracked[k][1].id not in claimed:
                    self.slots[k] = tracked[k][1].id
        return sorted({where[t] for t in self.slots.values() if t in where})


def _name(obj: object, default: str) -> str:
    return str(obj) if isinstance(obj, (str, os.PathLike)) else default


def _select(found: list[Face], faces: FaceSelection) -> list[int]:
    n = len(found)
    if faces == "all":
        return list(range(n))
    if faces == "largest":
        return [max(range(n), key=lambda i: found[i].size)] if n else []
    idx = [faces] if isinstance(faces, int) else list(faces)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
        raise InputError(f"faces must be 'all', 'largest', an index or a list of indices, got {faces!r}")
    return sorted({i for i in idx if 0 <= i < n})


def swap(
    source: ImageLike,
    target: ImageLike,
    *,
    faces: FaceSelection = "all",
    backend: str = "auto",
    blend: str = "poisson",
    model: str | os.PathLike | None = None,
    color: str = "bgr",
    **options,
) -> np.ndarray:
    """Swap the largest face of ``source`` into the faces of ``target``.

    Args:
        source, target: paths, or host arrays (H, W[, 3|4]) uint8 in ``color`` order.
        options: the quality options of :class:`FaceSwapper` (``color_correct``, ``keep_mouth``, ...).
    Returns:
        host (H, W, 3) uint8 array in ``color`` order (the target unchanged if it has no face).
    """
    with FaceSwapper(source, backend=backend, blend=blend, model=model, color=color, **options) as fs:
        return fs.swap(target, faces=faces)
