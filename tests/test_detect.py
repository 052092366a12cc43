from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fastswap import FaceDetector, InputError, ModelError
from fastswap.model import model_path


@pytest.mark.parametrize("name", ["grace_hopper", "astronaut"])
def test_package_portraits_have_one_face(demo, demo_faces, name):
    faces = demo_faces[name]
    assert len(faces) == 1
    f = faces[0]
    h, w = demo[name].shape[:2]
    assert f.landmarks.shape == (478, 3) and f.landmarks.dtype == np.float32
    assert (f.points[:, 0] > 0).all() and (f.points[:, 0] < w).all()
    assert (f.points[:, 1] > 0).all() and (f.points[:, 1] < h).all()
    assert 0.5 < f.score <= 1.0
    assert 60 < f.size < min(h, w)


def test_rgb_and_bgr_inputs_agree(demo, detector):
    bgr = demo["astronaut"]
    a = detector.detect(bgr)[0].points
    b = detector.detect(np.ascontiguousarray(bgr[:, :, ::-1]), color="rgb")[0].points
    assert np.abs(a - b).max() < 0.5


def test_direct_landmarks_equal_mediapipes_own_objects(demo, detector, monkeypatch):
    """FaceDetector reads the landmarks straight from MediaPipe's result struct (no dispatcher hop,
    no per-point Python objects); the numbers must be exactly those of FaceLandmarker.detect."""
    if detector._direct is None:
        pytest.skip("this mediapipe's C result layout is not the one fastswap reads directly")
    img = demo["astronaut"]
    direct = detector.detect(img)
    monkeypatch.setattr(detector, "_direct", None)
    public = detector.detect(img)
    assert len(direct) == len(public) == 1
    assert np.array_equal(direct[0].landmarks, public[0].landmarks)
    assert direct[0].bbox == public[0].bbox and direct[0].score == public[0].score


def test_every_shared_photo_has_a_face(shared_faces, detector):
    counts = {p.name: len(detector.detect(p)) for p in sorted(shared_faces.glob("img*.jpg"))}
    assert len(counts) >= 20
    assert all(n >= 1 for n in counts.values()), counts


def test_group_photo_gives_all_six_faces_left_to_right(shared_faces, detector):
    faces = detector.detect(shared_faces / "group-t1.jpg")
    assert len(faces) == 6
    centres = [(f.bbox[0] + f.bbox[2]) / 2 for f in faces]
    assert centres == sorted(centres)


def test_tiny_faces_are_dropped(demo, detector):
    small = demo["grace_hopper"][::6, ::6].copy()  # face about 30 px
    with FaceDetector(min_face_size=60) as d:
        assert d.detect(small) == []


def test_no_face_in_a_flat_image(detector):
    assert detector.detect(np.full((300, 300, 3), 128, np.uint8)) == []


def test_model_lookup_order_and_checks(tmp_path, monkeypatch):
    good = model_path()
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="sha256"):
        model_path(bad)
    monkeypatch.setenv("FASTSWAP_MODEL", str(tmp_path / "missing.task"))
    with pytest.raises(ModelError, match="FASTSWAP_MODEL"):
        model_path()
    assert model_path(good) == good  # an explicit argument wins over the environment
    with pytest.raises(ModelError, match="does not exist"):
        FaceDetector()


def test_detector_arguments_and_close():
    with pytest.raises(InputError, match="max_faces"):
        FaceDetector(max_faces=0)
    d = FaceDetector()
    d.close()
    d.close()
    with pytest.raises(RuntimeError, match="closed"):
        d.detect(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("prelude", ["", "import mediapipe\n"])
def test_a_detector_left_open_exits_cleanly(prelude):
    """A script that never closes its detector must not print tracebacks at exit (MediaPipe's close
    needs its dispatcher thread pool, which Python shuts down before plain atexit hooks); the failure
    showed when the script imported mediapipe itself before fastswap."""
    code = prelude + (
        "import numpy as np\n"
        "from fastswap import FaceDetector\n"
        "det = FaceDetector()\n"
        "det.detect(np.zeros((64, 64, 3), np.uint8))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr


def test_a_found_portrait_face_needs_no_tiled_pass(shared_faces, detector, monkeypatch):
    """The 3x3 tiled pass (9 more landmarker runs) is for small faces; img15's face, found on the
    whole image at about a quarter of its shorter side, must not trigger it."""
    from fastswap.imageio import read_image

    img = read_image(shared_faces / "img15.jpg")
    calls = []
    real = detector._detect_rgb
    monkeypatch.setattr(detector, "_detect_rgb", lambda *a: calls.append(a[1:]) or real(*a))
    faces = detector.detect(img)
    assert len(faces) == 1 and faces[0].size < min(img.shape[:2]) / 4
    assert calls == [(0, 0)]
