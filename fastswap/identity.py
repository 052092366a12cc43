"""Face identity descriptors for choosing which faces to swap (``--reference``) and for scoring.

fastswap does not train or ship a recognizer: it uses dlib's ResNet face descriptor (128-d, the model
behind the ``face_recognition`` package; 99.38% on LFW), from the PyPI packages ``dlib-bin`` and
``face-recognition-models`` (``pip install 'fastswap[reference]'``). Two faces whose descriptors are
closer than 0.6 (Euclidean) are taken as the same person, dlib's own threshold.
"""

from __future__ import annotations

import numpy as np

from .detect import Face
from .errors import InputError

SAME_PERSON = 0.6


class FaceEmbedder:
    """dlib face descriptors for faces found by :class:`fastswap.FaceDetector` (host arrays)."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as models
        except ImportError as e:
            raise InputError(
                "comparing faces needs dlib's recognizer: pip install 'fastswap[reference]' "
                f"(dlib-bin and face-recognition-models): {e}"
            ) from e
        self._dlib = dlib
        self._shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def describe(self, image: np.ndarray, face: Face) -> np.ndarray:
        """(128,) float64 descriptor of ``face`` in ``image`` ((H, W, 3) uint8 BGR, host)."""
        x0, y0, x1, y1 = face.bbox
        rect = self._dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        shape = self._shape(rgb, rect)
        return np.asarray(self._net.compute_face_descriptor(rgb, shape, 1), dtype=np.float64)

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        """Euclidean distance of two (128,) descriptors; below 0.6: the same person."""
        return float(np.linalg.norm(a - b))
