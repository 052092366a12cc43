from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from fastswap import mesh, quality
from fastswap.backends import numpy_backend
from fastswap.model import model_path

ROOT = Path(__file__).resolve().parents[1]


def _edges(tris):
    c = Counter()
    for t in tris:
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            c[(min(a, b), max(a, b))] += 1
    return c


def test_triangles_index_valid_points():
    t = mesh.TRIANGLES
    assert t.shape == (898, 3) and t.dtype == np.int32
    assert t.min() >= 0 and t.max() < mesh.NUM_MESH_POINTS
    assert len(np.unique(t)) == mesh.NUM_MESH_POINTS  # every mesh point is used
    assert all(len(set(row)) == 3 for row in t.tolist())  # no repeated vertex


def test_mesh_is_a_manifold_disk_bounded_by_the_outline():
    count = _edges(mesh.TRIANGLES)
    assert set(count.values()) <= {1, 2}
    boundary = {e for e, n in count.items() if n == 1}
    loop = mesh.FACE_OUTLINE.tolist()
    outline_edges = {(min(a, b), max(a, b)) for a, b in zip(loop, loop[1:] + loop[:1], strict=True)}
    assert boundary == outline_edges
    # Euler characteristic of a disk: V - E + F = 1
    assert mesh.NUM_MESH_POINTS - len(count) + len(mesh.TRIANGLES) == 1


def _generator():
    spec = importlib.util.spec_from_file_location("gen_mesh", ROOT / "tools" / "gen_mesh.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_generated_tables_match_mediapipe_data():
    _, tris = _generator().canonical_mesh(model_path())
    as_sets = lambda a: sorted(tuple(sorted(r)) for r in a.tolist())  # noqa: E731
    assert as_sets(tris) == as_sets(mesh.TRIANGLES)


def test_mirror_maps_the_canonical_mesh_onto_itself():
    verts, _ = _generator().canonical_mesh(model_path())
    m = mesh.MIRROR
    assert m.shape == (mesh.NUM_MESH_POINTS,) and m.dtype == np.int32
    assert (m[m] == np.arange(mesh.NUM_MESH_POINTS)).all()  # an involution
    v = verts[:, :3].astype(np.float64)
    np.testing.assert_allclose(v[m] * (-1.0, 1.0, 1.0), v, atol=1e-5)  # x -> -x, y and z kept
    assert set(m[mesh.LEFT_EYE].tolist()) == set(mesh.RIGHT_EYE.tolist())
    assert set(m[mesh.FACE_OUTLINE].tolist()) == set(mesh.FACE_OUTLINE.tolist())
    # every triangle's mirror is a triangle of the mesh, and MIRROR_TRIANGLE names its row
    mt = mesh.MIRROR_TRIANGLE
    assert mt.shape == (len(mesh.TRIANGLES),) and (mt[mt] == np.arange(len(mt))).all()
    assert (np.sort(m[mesh.TRIANGLES], axis=1) == np.sort(mesh.TRIANGLES[mt], axis=1)).all()


def test_region_triangles_lie_inside_their_loops():
    for region in ("mouth", "left_eye", "right_eye"):
        idx = mesh.REGION_TRIANGLES[region]
        assert len(idx) == len(mesh.REGION_LOOPS[region]) - 2, region  # a closed fan
        assert np.isin(mesh.TRIANGLES[idx], mesh.REGION_LOOPS[region]).all()


def test_eye_rings_surround_the_eye_openings(demo_faces):
    """Each eye's ring: the 32 triangles with a vertex on its loop and none inside its fan, one the
    other's mirror image; on a real face they enclose the opening (its loop's points are inside
    the ring's filled triangles) and reach beyond it on every side."""
    for name, loop in (("left_eye", mesh.LEFT_EYE), ("right_eye", mesh.RIGHT_EYE)):
        ring = mesh.EYE_RINGS[name]
        assert len(ring) == 32 and not np.isin(ring, mesh.REGION_TRIANGLES[name]).any()
        touches = np.isin(mesh.TRIANGLES[ring], loop)
        assert touches.any(axis=1).all() and not touches.all(axis=1).any()
    mirrored = np.sort(mesh.MIRROR_TRIANGLE[mesh.EYE_RINGS["left_eye"]])
    assert np.array_equal(mirrored, np.sort(mesh.EYE_RINGS["right_eye"]))
    pts = demo_faces["grace_hopper"][0].points[: mesh.NUM_MESH_POINTS]
    shape = tuple(int(v) + 2 for v in np.ceil(pts.max(axis=0))[::-1])
    for name, loop in (("left_eye", mesh.LEFT_EYE), ("right_eye", mesh.RIGHT_EYE)):
        ring = quality.fill_triangles(shape, pts[mesh.TRIANGLES[mesh.EYE_RINGS[name]]])
        opening = quality.fill(shape, pts[loop])
        union = ring | opening
        contours, _ = cv2.findContours(union, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        assert len(contours) == 1, name  # one piece around the opening
        solid = cv2.drawContours(np.zeros_like(union), contours, -1, 255, cv2.FILLED)
        assert cv2.countNonZero(solid & ~union) <= 2, name  # no hole left in it
        x, y, w, h = cv2.boundingRect(opening)
        rx, ry, rw, rh = cv2.boundingRect(ring)
        assert ry < y - 1 and ry + rh > y + h + 1 and rx <= x and rx + rw >= x + w, name


def test_mesh_covers_face_outline_without_overlaps(demo_faces):
    """On a real frontal face every pixel inside the outline is drawn by exactly one triangle."""
    pts = demo_faces["grace_hopper"][0].points[: mesh.NUM_MESH_POINTS].astype(np.float32)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 2
    dst = pts - (x0, y0)
    h, w = (np.ceil(dst.max(axis=0)).astype(int) + 3)[::-1]
    src = np.zeros((4, 4, 1), np.uint8)
    counts = np.zeros((h, w), np.int32)
    for t in range(len(mesh.TRIANGLES)):
        _, cov = numpy_backend.warp_triangles(src, dst, dst, mesh.TRIANGLES[t : t + 1], (h, w))
        counts += cov > 0
    outline = np.zeros((h, w), np.uint8)
    cv2.fillPoly(outline, [np.round(dst[mesh.FACE_OUTLINE] * 16).astype(np.int32)], 1, shift=4)
    inner = cv2.erode(outline, np.ones((3, 3), np.uint8)) > 0
    # A frontal face may fold slightly at the nose sides; allow a tiny fraction of double cover.
    assert (counts[inner] >= 1).all(), "cracks inside the face outline"
    assert (counts > 1).mean() < 0.002
    # Front-facing triangles have positive signed area in image coordinates.
    p = dst[mesh.TRIANGLES]
    area = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    assert (area > 0).mean() > 0.97
