"""Face detection: MediaPipe FaceLandmarker (Tasks API, IMAGE mode), 478 landmarks per face."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import weakref
import zipfile
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InputError
from .imageio import ImageLike, load
from .model import model_path

_live: weakref.WeakSet = weakref.WeakSet()
_fd2_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_native_logs():
    """Send file descriptor 2 to /dev/null for the block (unless FASTSWAP_VERBOSE=1)."""
    if os.environ.get("FASTSWAP_VERBOSE") == "1":
        yield
        return
    with _fd2_lock:  # one redirect at a time: batch threads create detectors side by side
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _close_all() -> None:  # close MediaPipe graphs before the interpreter tears its modules down
    for det in list(_live):
        det.close()


_hooked = False


def _hook_exit() -> None:
    """Close live detectors at exit, before MediaPipe's dispatcher thread pool is shut down.

    MediaPipe's close() goes through a concurrent.futures executor, which refuses work once
    threading's pre-shutdown hooks have run; a plain ``atexit`` hook runs after them and fails
    ("cannot schedule new futures after shutdown"). threading runs its hooks last-registered first,
    so one registered after MediaPipe (and concurrent.futures) is imported runs before theirs.
    """
    global _hooked
    if _hooked:
        return
    _hooked = True
    import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered before ours)

    register = getattr(threading, "_register_atexit", None)  # CPython 3.9+
    (register or atexit.register)(_close_all)


@dataclass(frozen=True)
class Face:
    """One detected face; all data on the host.

    Attributes:
        landmarks: (478, 3) float32. x and y in pixels of the image it was found in (pixel centres at
            integer coordinates); z in the same pixel scale, smaller is nearer the camera.
        bbox: (x0, y0, x1, y1) float pixel box around the 478 landmarks.
        score: the face detector's confidence in [0, 1] for this face (0.0 if the box detector missed it).
    """

    landmarks: np.ndarray
    bbox: tuple[float, float, float, float]
    score: float

    @property
    def points(self) -> np.ndarray:
        """(478, 2) float32 landmark pixel coordinates (x, y)."""
        return self.landmarks[:, :2]

    @property
    def size(self) -> float:
        """Geometric mean of the box's width and height, in pixels."""
        x0, y0, x1, y1 = self.bbox
        return float(np.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)))


def _direct_landmarks(landmarker):
    """A function mp.Image -> per face (478, 3) float32 normalised landmarks that calls the C entry
    points behind ``FaceLandmarker.detect`` from the calling thread and reads the landmarks straight
    from MediaPipe's result struct: the same numbers as ``detect``, without its hop to a dispatcher
    thread and back and without building 478 Python objects per face (about 1 ms, all of it holding
    the GIL). None when this mediapipe is laid out differently (``detect`` is used then).

    Callers serialise calls per landmarker (FaceDetector's lock), which is all the dispatcher does.
    """
    try:
        import ctypes

        from mediapipe.tasks.python.components.containers import landmark_c
        from mediapipe.tasks.python.vision import face_landmarker as fl

        lib = landmarker._lib._lib  # the ctypes library under the dispatcher
        detect, close, free = lib.MpFaceLandmarkerDetectImage, lib.MpFaceLandmarkerCloseResult, lib.MpErrorFree
        handle = landmarker._handle
        result_type, point_type = fl.MpFaceLandmarkerResultC, landmark_c.MpNormalizedLandmarkC
        if len(detect.argtypes) != 5 or [f[0] for f in point_type._fields_[:3]] != ["x", "y", "z"]:
            return None
        dtype = np.dtype(
            {
                "names": ["x", "y", "z"],
                "formats": ["<f4"] * 3,
                "offsets": [point_type.x.offset, point_type.y.offset, point_type.z.offset],
                "itemsize": ctypes.sizeof(point_type),
            }
        )
    except Exception:
        return None

    def run(mp_image) -> list[np.ndarray]:
        result, err = result_type(), ctypes.c_char_p()
        status = detect(handle, mp_image._image_ptr, None, ctypes.byref(result), ctypes.byref(err))
        if status != 0:
            msg = err.value.decode(errors="replace") if err.value else f"status {status}"
            if err.value:
                free(err)
            raise RuntimeError(f"MediaPipe face landmark detection failed: {msg}")
        try:
            faces = []
            for i in range(result.face_landmarks_count):
                lms = result.face_landmarks[i]
                n = int(lms.landmarks_count)
                raw = (ctypes.c_char * (n * dtype.itemsize)).from_address(ctypes.addressof(lms.landmarks.contents))
                pts = np.frombuffer(raw, dtype=dtype, count=n)
                faces.append(np.stack([pts["x"], pts["y"], pts["z"]], axis=1))  # a copy, float32
            return faces
        finally:
            close(ctypes.byref(result))

    return run


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceDetector:
    """Reusable MediaPipe FaceLandmarker. Not thread-safe across threads; use one per worker.

    Args:
        model: path of ``face_landmarker.task`` (default: ``FASTSWAP_MODEL`` or the packaged copy).
        max_faces: the most faces returned per image.
        min_confidence: minimum face-detection confidence.
        min_face_size: faces whose box is smaller than this many pixels (geometric mean of its sides)
            are dropped as too small to swap.
        tiles: also search a 3x3 grid of overlapping tiles, which finds the small faces of group
            photos that MediaPipe's short-range detector misses on the whole image. "auto" (default):
            only when the whole image gives no face, or only faces smaller than a sixth of its
            shorter side; True: always; False: never.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        max_faces: int = 8,
        min_confidence: float = 0.5,
        min_face_size: float = 24.0,
        tiles: str | bool = "auto",
    ) -> None:
        if max_faces < 1:
            raise InputError(f"max_faces must be >= 1, got {max_faces}")
        if not 0.0 <= min_confidence <= 1.0:
            raise InputError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if tiles not in ("auto", True, False):
            raise InputError(f"tiles must be 'auto', True or False, got {tiles!r}")
        from mediapipe.tasks.python import BaseOptions, vision

        self.model = model_path(model)
        self.min_face_size = float(min_face_size)
        with _quiet_native_logs():  # MediaPipe's C++ start-up chatter goes to fd 2 (FASTSWAP_VERBOSE=1 keeps it)
            self._create(vision, BaseOptions, max_faces, min_confidence)
        self.tiles = tiles
        self._lock = threading.Lock()
        _live.add(self)
        _hook_exit()  # after MediaPipe has made its executor

    def _create(self, vision, BaseOptions, max_faces: int, min_confidence: float) -> None:
        data = self.model.read_bytes()
        self._landmarker = vision.FaceLandmarker.create_from_options(
            vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=data),
                running_mode=vision.RunningMode.IMAGE,
                num_faces=max_faces,
                min_face_detection_confidence=min_confidence,
                min_face_presence_confidence=min_confidence,
            )
        )
        with zipfile.ZipFile(self.model) as z:  # the bundle's own box detector gives per-face scores
            box_model = z.read("face_detector.tflite")
        self._boxes = vision.FaceDetector.create_from_options(
            vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_buffer=box_model),
                running_mode=vision.RunningMode.IMAGE,
                min_detection_confidence=min(min_confidence, 0.3),
            )
        )
        import mediapipe as mp

        blank = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
        self._landmarker.detect(blank)  # the first inference logs too
        self._boxes.detect(blank)
        self._direct = _direct_landmarks(self._landmarker)

    def _landmarks(self, mp_image) -> list[np.ndarray]:
        """Per face, (478, 3) float32 normalised landmarks (x, y, z) of ``mp_image``."""
        if self._direct is not None:
            return self._direct(mp_image)
        result = self._landmarker.detect(mp_image)
        return [np.array([(p.x, p.y, p.z) for p in lms], np.float32) for lms in result.face_landmarks]

    def detect(self, image: ImageLike, *, color: str = "bgr") -> list[Face]:
        """Detect faces, sorted left to right by box centre.

        Args:
            image: path, or host array (H, W[, 3|4]) uint8 (also uint16/float/gray, see ``imageio``).
            color: channel order of an array input, "bgr" (OpenCV) or "rgb".
        Returns:
            list of :class:`Face` (landmarks in this image's pixel coordinates).
        """
        bgr = load(image, name="image", color=color)
        h, w = bgr.shape[:2]
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces = self._detect_rgb(rgb, 0, 0)
        big = max((f.size for f in faces), default=0.0) >= min(h, w) / 6
        if self.tiles is True or (self.tiles == "auto" and not big and min(h, w) >= 400):
            n = 3
            tw, th = int(w * 1.5 / n), int(h * 1.5 / n)
            for i in range(n):
                for j in range(n):
                    x0, y0 = (w - tw) * j // (n - 1), (h - th) * i // (n - 1)
                    tile = np.ascontiguousarray(rgb[y0 : y0 + th, x0 : x0 + tw])
                    for f in self._detect_rgb(tile, x0, y0):
                        dup = [k for k, g in enumerate(faces) if _iou(f.bbox, g.bbox) > 0.3]
                        if not dup:
                            faces.append(f)
                        elif all(f.score > faces[k].score for k in dup):
                            faces = [g for k, g in enumerate(faces) if k not in dup] + [f]
        kept = [face for face in faces if face.size >= self.min_face_size]
        kept.sort(key=lambda f: f.bbox[0] + f.bbox[2])
        return kept

    def _detect_rgb(self, rgb: np.ndarray, x_off: int, y_off: int) -> list[Face]:
        """Faces of a C-contiguous RGB uint8 array, in coordinates shifted by (x_off, y_off)."""
        import mediapipe as mp

        h, w = rgb.shape[:2]
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        with self._lock:
            if self._landmarker is None:
                raise RuntimeError("FaceDetector is closed")
            landmarks = self._landmarks(mp_image)
            boxes = self._boxes.detect(mp_image).detections if landmarks else []
        det_boxes = [
            (
                (b := d.bounding_box).origin_x + x_off,
                b.origin_y + y_off,
                b.origin_x + b.width + x_off,
                b.origin_y + b.height + y_off,
                d.categories[0].score if d.categories else 0.0,
            )
            for d in boxes
        ]
        faces = []
        scale = np.array([w, h, w], np.float64)
        for lms in landmarks:
            arr = (lms * scale).astype(np.float32)  # as MediaPipe's own objects' floats times the size
            # MediaPipe's normalised coordinates put pixel centres at (i + 0.5) / size.
            arr[:, :2] += (x_off - 0.5, y_off - 0.5)
            x0, y0 = arr[:, :2].min(axis=0)
            x1, y1 = arr[:, :2].max(axis=0)
            bbox = (float(x0), float(y0), float(x1), float(y1))
            score = max((db[4] for db in det_boxes if _iou(bbox, db[:4]) > 0.3), default=0.0)
            faces.append(Face(landmarks=arr, bbox=bbox, score=float(score)))
        return faces

    def close(self) -> None:
        """Release the MediaPipe graphs. Safe to call twice."""
        with self._lock:
            for attr in ("_landmarker", "_boxes"):
                task = getattr(self, attr, None)
                if task is not None:
                    task.close()
                    setattr(self, attr, None)

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
