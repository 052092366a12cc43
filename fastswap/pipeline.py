"""The swap pipeline: detect -> align (fixed mesh, region of interest, mask) -> warp -> blend."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import mesh
from .backends import BLEND_MODES, get_backend
from .detect import Face, FaceDetector
from .errors import InputError, NoSourceFaceError
from .imageio import DEFAULT_MAX_PIXELS, ImageLike, load

FaceSelection = str | int | Sequence[int]


@dataclass
class SwapResult:
    """What :meth:`FaceSwapper.swap_report` returns. ``image`` is host (H, W, 3) uint8 in the input's order."""

    image: np.ndarray
    faces_found: int
    faces_swapped: list[int] = field(default_factory=list)
    message: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)  # "detect", "swap"


@dataclass(frozen=True)
class PreparedSource:
    """A source face ready to be swapped in (picklable, so batch workers need not detect it again).

    Attributes:
        image: (h, w, 3) uint8 BGR host crop around the face.
        points: (468, 2) float32 mesh landmarks in the crop's pixel coordinates.
        face: the detected :class:`Face` in the original image's coordinates.
    """

    image: np.ndarray
    points: np.ndarray
    face: Face


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
    return PreparedSource(
        image=np.ascontiguousarray(img[y0:y1, x0:x1]),
        points=np.ascontiguousarray(pts - (x0, y0), np.float32),
        face=face,
    )


def face_roi(points: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) box around (N, 2) points, padded by ``pad`` px, clipped to ``shape``."""
    h, w = shape
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def face_mask(dst_pts: np.ndarray, covered: np.ndarray, face_size: float) -> np.ndarray:
    """(H, W) uint8 blend mask in ROI coordinates: the face outline polygon, within the warped area,
    eroded by about 2% of the face size so the seam falls on skin the warp really covers."""
    mask = np.zeros(covered.shape, np.uint8)
    poly = np.round(dst_pts[mesh.FACE_OUTLINE] * 16).astype(np.int32)
    cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_8, shift=4)
    mask &= covered
    r = max(1, int(round(face_size * 0.02)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(mask, kernel)


class FaceSwapper:
    """Prepare one source face once, then swap it into many targets.

    Args:
        source: path or host array (see ``color``) holding the source face, or a
            :class:`PreparedSource`.
        backend: "auto" (fastest usable), "numpy", "cpu" or "cuda".
        source_face: which face of the source to use: "largest" or an index (left to right).
        blend: "normal" or "mixed" Poisson guidance.
        detector: a :class:`FaceDetector` to reuse (one is created otherwise and closed by :meth:`close`).
        model: model path for a detector created here.
        max_pixels: refuse images with more pixels than this.
        color: channel order of array inputs and outputs: "bgr" (OpenCV) or "rgb".
    Raises:
        NoSourceFaceError: the source has no usable face.
    """

    def __init__(
        self,
        source: ImageLike | PreparedSource,
        *,
        backend: str = "auto",
        source_face: str | int = "largest",
        blend: str = "normal",
        detector: FaceDetector | None = None,
        model: str | os.PathLike | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        color: str = "bgr",
    ) -> None:
        if blend not in BLEND_MODES:
            raise InputError(f"blend must be one of {BLEND_MODES}, got {blend!r}")
        self.backend = get_backend(backend)
        self.blend = blend
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
        self.prepared = prepared
        self.source_face: Face = prepared.face
        self.source_image = prepared.image
        self.source_points = prepared.points

    def swap(self, target: ImageLike, *, faces: FaceSelection = "all") -> np.ndarray:
        """Swap the source face into ``target`` and return the new host (H, W, 3) uint8 image.

        ``faces``: "all", "largest", an index or a list of indices (faces sorted left to right).
        A target without a face comes back unchanged (see :meth:`swap_report` to tell).
        """
        return self.swap_report(target, faces=faces).image

    def swap_report(self, target: ImageLike, *, faces: FaceSelection = "all") -> SwapResult:
        """Like :meth:`swap`, also saying how many faces were found and which were swapped."""
        img = load(target, name=_name(target, "target"), color=self.color, max_pixels=self.max_pixels)
        t0 = time.perf_counter()
        found = self.detector.detect(img)
        chosen = _select(found, faces)
        t1 = time.perf_counter()
        out = img.copy()
        for i in chosen:
            self._swap_one(out, found[i])
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
        )

    def _swap_one(self, image: np.ndarray, face: Face) -> None:
        pts = face.points[: mesh.NUM_MESH_POINTS]
        pad = max(4.0, 0.04 * face.size)
        x0, y0, x1, y1 = face_roi(pts, image.shape[:2], pad)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        dst_pts = np.ascontiguousarray(pts - (x0, y0), np.float32)
        shape = (y1 - y0, x1 - x0)
        warped, covered = self.backend.warp_triangles(
            self.source_image, self.source_points, dst_pts, mesh.TRIANGLES, shape
        )
        mask = face_mask(dst_pts, covered, face.size)
        roi = np.ascontiguousarray(image[y0:y1, x0:x1])
        image[y0:y1, x0:x1] = self.backend.poisson_blend(warped, roi, mask, mode=self.blend)

    def close(self) -> None:
        """Close the detector if this swapper created it."""
        if self._own_detector and getattr(self, "detector", None) is not None:
            self.detector.close()

    def __enter__(self) -> FaceSwapper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
    blend: str = "normal",
    model: str | os.PathLike | None = None,
    color: str = "bgr",
) -> np.ndarray:
    """Swap the largest face of ``source`` into the faces of ``target``.

    Args:
        source, target: paths, or host arrays (H, W[, 3|4]) uint8 in ``color`` order.
    Returns:
        host (H, W, 3) uint8 array in ``color`` order (the target unchanged if it has no face).
    """
    with FaceSwapper(source, backend=backend, blend=blend, model=model, color=color) as fs:
        return fs.swap(target, faces=faces)
