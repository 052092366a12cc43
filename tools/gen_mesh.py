"""Regenerate ``fastswap/_mesh_data.py`` from MediaPipe's own face-mesh data.

Run once by a developer (``python tools/gen_mesh.py``); the output is committed.

* Triangles: the index buffer of the canonical face mesh stored in the model bundle
  (``geometry_pipeline_metadata_landmarks.binarypb`` inside ``face_landmarker.task``),
  re-ordered so that every triangle facing the camera has a positive signed area in
  image coordinates (x right, y down).
* Face outline: the boundary loop of that mesh (edges used by one triangle only).
* Lips (inner contour) and eyes: MediaPipe's ``FaceLandmarksConnections`` lists.
* Mirror: each point's mirror image across the face's midline (the canonical mesh is exactly
  symmetric in x; checked).
"""

from __future__ import annotations

import struct
import sys
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        c = buf[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return result, i


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message (wire types 0, 2, 5)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 5:
            value = struct.unpack_from("<f", buf, i)[0]
            i += 4
        elif wire == 2:
            n, i = _varint(buf, i)
            value = buf[i : i + n]
            i += n
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, value


def canonical_mesh(task_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (vertices (468, 5) float32 [x, y, z, u, v], triangles (898, 3) int32)."""
    with zipfile.ZipFile(task_path) as z:
        meta = z.read("geometry_pipeline_metadata_landmarks.binarypb")
    # GeometryPipelineMetadata.canonical_mesh (field 1) is a Mesh3d: vertex_buffer = 3, index_buffer = 4.
    mesh = next(v for f, _, v in _fields(meta) if f == 1)
    items = list(_fields(mesh))
    verts = np.array([v for f, _, v in items if f == 3], np.float32).reshape(-1, 5)
    tris = np.array([v for f, _, v in items if f == 4], np.int32).reshape(-1, 3)
    return verts, tris


def boundary_loops(tris: np.ndarray) -> list[list[int]]:
    count: Counter[tuple[int, int]] = Counter()
    for t in tris:
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            count[(min(a, b), max(a, b))] += 1
    return _loops([e for e, n in count.items() if n == 1])


def _loops(edges) -> list[list[int]]:
    adj: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        adj[int(a)].append(int(b))
        adj[int(b)].append(int(a))
    seen: set[int] = set()
    loops = []
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as C

    from fastswap.model import model_path

    verts, tris = canonical_mesh(model_path())
    # Image coordinates: x right, y down (the canonical model has y up, z towards the viewer).
    img = np.stack([verts[:, 0], -verts[:, 1]], axis=1).astype(np.float64)
    v3 = verts[:, :3].astype(np.float64)
    normal_z = np.cross(v3[tris[:, 1]] - v3[tris[:, 0]], v3[tris[:, 2]] - v3[tris[:, 0]])[:, 2]
    tris = np.where((normal_z < 0)[:, None], tris[:, [0, 2, 1]], tris)  # all normals towards the viewer
    p = img[tris]
    area = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    sign = Counter(np.sign(area).tolist())
    if sign[-1.0] > sign[1.0]:  # make camera-facing triangles positive in image coordinates
        tris = tris[:, [0, 2, 1]]
    (outline,) = boundary_loops(tris)
    if _area(img[outline]) < 0:
        outline = outline[::-1]

    def loop_of(conns, pick_smallest: bool) -> list[int]:
        loops = _loops([(c.start, c.end) for c in conns])
        loops.sort(key=lambda lp: abs(_area(img[lp])))
        lp = loops[0] if pick_smallest else loops[-1]
        return lp if _area(img[lp]) > 0 else lp[::-1]

    lips_inner = loop_of(C.FACE_LANDMARKS_LIPS, pick_smallest=True)
    left_eye = loop_of(C.FACE_LANDMARKS_LEFT_EYE, pick_smallest=True)
    right_eye = loop_of(C.FACE_LANDMARKS_RIGHT_EYE, pick_smallest=True)
    lips_outer = loop_of(C.FACE_LANDMARKS_LIPS, pick_smallest=False)
    left_brow = sorted({i for c in C.FACE_LANDMARKS_LEFT_EYEBROW for i in (c.start, c.end)})
    right_brow = sorted({i for c in C.FACE_LANDMARKS_RIGHT_EYEBROW for i in (c.start, c.end)})
    oval_mp = {c.start for c in C.FACE_LANDMARKS_FACE_OVAL}
    assert set(outline) == oval_mp, "mesh boundary differs from MediaPipe's FACE_OVAL"

    # The canonical mesh is symmetric about x = 0: each vertex's mirror is the vertex at (-x, y, z).
    gap = np.linalg.norm((v3 * (-1.0, 1.0, 1.0))[:, None] - v3[None], axis=2)
    mirror = gap.argmin(axis=1)
    assert gap.min(axis=1).max() < 1e-4, "canonical mesh is not symmetric"
    assert (mirror[mirror] == np.arange(len(v3))).all(), "mirror map is not an involution"
    tri_keys = {tuple(sorted(t)) for t in tris.tolist()}
    assert all(tuple(sorted(mirror[t])) in tri_keys for t in tris), "a triangle has no mirror triangle"

    def fmt(name: str, values, per_line: int) -> str:
        flat = [str(int(v)) for v in np.asarray(values).ravel()]
        lines = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
        return f"{name} = (\n" + "".join(f"    {ln},\n" for ln in lines) + ")\n"

    out = ROOT / "fastswap" / "_mesh_data.py"
    tables = [
        ("TRIANGLES", tris, 15),
        ("FACE_OUTLINE", outline, 18),
        ("LIPS_INNER", lips_inner, 20),
        ("LEFT_EYE", left_eye, 16),
        ("RIGHT_EYE", right_eye, 16),
        ("LIPS_OUTER", lips_outer, 20),
        ("LEFT_EYEBROW", left_brow, 20),
        ("RIGHT_EYEBROW", right_brow, 20),
        ("MIRROR", mirror, 20),
    ]
    out.write_text(
        '"""Generated by tools/gen_mesh.py from MediaPipe\'s canonical face mesh. Do not edit."""\n\n'
        + "\n".join(fmt(name, values, per_line) for name, values, per_line in tables)
    )
    print(f"wrote {out}: {len(tris)} triangles, outline {len(outline)} points, winding {dict(sign)}")


if __name__ == "__main__":
    main()
