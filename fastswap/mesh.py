"""The fixed face-mesh topology, derived once from MediaPipe's canonical face mesh.

All arrays live on the host. Indices refer to MediaPipe FaceLandmarker's 478 landmarks (the 468 mesh
points plus 10 iris points, which no triangle uses).

* ``TRIANGLES``: (898, 3) int32. Vertex order makes a camera-facing triangle's signed area positive in
  image coordinates (x right, y down); a triangle seen from behind (a profile's far side) is negative.
* ``FACE_OUTLINE``: (36,) int32, the mesh's boundary loop, counter-clockwise on screen.
* ``LIPS_INNER``, ``LEFT_EYE``, ``RIGHT_EYE``: ordered contour loops (int32) of the mouth opening and of
  the eyes' openings; ``LIPS_OUTER``: the lips' outer contour loop; ``LEFT_EYEBROW``, ``RIGHT_EYEBROW``:
  the (10,) points of each eyebrow (upper and lower edge, unordered: use their convex hull).
* ``MIRROR``: (468,) int32, each mesh point's mirror image across the face's midline (the canonical
  mesh is exactly symmetric; the 28 midline points are their own mirror). ``MIRROR[TRIANGLES]`` is
  each triangle's mirror triangle, with the reverse winding; ``MIRROR_TRIANGLE``: (898,) int32, the
  row of ``TRIANGLES`` that is each row's mirror triangle.
* ``REGION_TRIANGLES``: per region ("face", "mouth", "left_eye", "right_eye") the int32 indices of the
  triangles that lie inside it (mouth and eyes: triangles whose vertices all lie on or inside the loop).
* ``EYE_RINGS``: per eye ("left_eye", "right_eye") the int32 indices of the 32 triangles around its
  opening (a vertex on the eye's loop, not inside it): the lids and lashes up to the next loop.
"""

from __future__ import annotations

import numpy as np

from . import _mesh_data as _d

NUM_LANDMARKS = 478
NUM_MESH_POINTS = 468

TRIANGLES: np.ndarray = np.asarray(_d.TRIANGLES, np.int32).reshape(-1, 3)
FACE_OUTLINE: np.ndarray = np.asarray(_d.FACE_OUTLINE, np.int32)
LIPS_INNER: np.ndarray = np.asarray(_d.LIPS_INNER, np.int32)
LEFT_EYE: np.ndarray = np.asarray(_d.LEFT_EYE, np.int32)
RIGHT_EYE: np.ndarray = np.asarray(_d.RIGHT_EYE, np.int32)
MIRROR: np.ndarray = np.asarray(_d.MIRROR, np.int32)
LIPS_OUTER: np.ndarray = np.asarray(_d.LIPS_OUTER, np.int32)
LEFT_EYEBROW: np.ndarray = np.asarray(_d.LEFT_EYEBROW, np.int32)
RIGHT_EYEBROW: np.ndarray = np.asarray(_d.RIGHT_EYEBROW, np.int32)
_rows = {tuple(sorted(t)): k for k, t in enumerate(TRIANGLES.tolist())}
MIRROR_TRIANGLE: np.ndarray = np.array([_rows[tuple(sorted(t))] for t in MIRROR[TRIANGLES].tolist()], np.int32)
for _a in (
    TRIANGLES,
    FACE_OUTLINE,
    LIPS_INNER,
    LEFT_EYE,
    RIGHT_EYE,
    MIRROR,
    MIRROR_TRIANGLE,
    LIPS_OUTER,
    LEFT_EYEBROW,
    RIGHT_EYEBROW,
):
    _a.setflags(write=False)


def _triangles_within(loop: np.ndarray) -> np.ndarray:
    """Triangles of the closed fan spanned by a contour loop: those whose 3 vertices all lie on it."""
    on_loop = np.isin(TRIANGLES, loop).all(axis=1)
    return np.flatnonzero(on_loop).astype(np.int32)


REGION_TRIANGLES: dict[str, np.ndarray] = {
    "face": np.arange(len(TRIANGLES), dtype=np.int32),
    "mouth": _triangles_within(LIPS_INNER),
    "left_eye": _triangles_within(LEFT_EYE),
    "right_eye": _triangles_within(RIGHT_EYE),
}


def _ring_around(loop: np.ndarray) -> np.ndarray:
    """Triangles with a vertex on a contour loop, outside its fan: the ring of mesh around it."""
    touches = np.isin(TRIANGLES, loop)
    return np.flatnonzero(touches.any(axis=1) & ~touches.all(axis=1)).astype(np.int32)


# the ring of triangles around each eye's opening: its lids and lashes up to the next loop of points
EYE_RINGS: dict[str, np.ndarray] = {"left_eye": _ring_around(LEFT_EYE), "right_eye": _ring_around(RIGHT_EYE)}
REGION_LOOPS: dict[str, np.ndarray] = {
    "face": FACE_OUTLINE,
    "mouth": LIPS_INNER,
    "left_eye": LEFT_EYE,
    "right_eye": RIGHT_EYE,
}
