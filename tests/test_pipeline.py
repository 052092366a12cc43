from __future__ import annotations

import numpy as np
import pytest
from conftest import psnr

from fastswap import FaceSwapper, NoSourceFaceError, mesh, swap


def face_region(face, shape):
    import cv2

    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(face.points[mesh.FACE_OUTLINE]).astype(np.int32)], 1)
    return m.astype(bool)


def test_swap_changes_the_face_and_little_else(demo, demo_faces, detector):
    target = demo["astronaut"]
    with FaceSwapper(demo["grace_hopper"], detector=detector) as fs:
        res = fs.swap_report(target)
    assert res.faces_found == 1 and res.faces_swapped == [0]
    out = res.image
    region = face_region(demo_faces["astronaut"][0], target.shape)
    changed = np.abs(out.astype(int) - target).max(axis=2) > 8
    assert changed[region].mean() > 0.5  # the face is replaced
    assert changed[~region].mean() < 0.01  # the rest of the picture is not
    # The result's landmarks follow the target's pose: the swapped face is found where the old one was.
    new = detector.detect(out)
    assert len(new) == 1
    eye_dist = np.linalg.norm(demo_faces["astronaut"][0].points[33] - demo_faces["astronaut"][0].points[263])
    err = np.linalg.norm(new[0].points - demo_faces["astronaut"][0].points, axis=1).mean() / eye_dist
    assert err < 0.08


def test_array_targets_are_left_alone_unless_inplace(demo, detector):
    target = demo["astronaut"].copy()
    before = target.copy()
    with FaceSwapper(demo["grace_hopper"], detector=detector) as fs:
        res = fs.swap_report(target)
        assert np.array_equal(target, before) and res.image is not target  # a copy was drawn into
        res_in = fs.swap_report(target, inplace=True)
    assert res_in.image is target  # drawn into the caller's array, the same result
    assert np.array_equal(target, res.image) and not np.array_equal(target, before)


def test_backends_agree_on_a_full_swap(demo, detector):
    from fastswap import available_backends

    results = {}
    for name in available_backends():
        with FaceSwapper(demo["astronaut"], detector=detector, backend=name) as fs:
            results[name] = fs.swap(demo["grace_hopper"])
    ref = results["numpy"]
    for name, img in results.items():
        assert psnr(img, ref) > 40, name


def test_no_face_in_target_returns_it_unchanged(demo, detector):
    flat = np.full((240, 320, 3), 77, np.uint8)
    with FaceSwapper(demo["grace_hopper"], detector=detector) as fs:
        res = fs.swap_report(flat)
    assert res.faces_found == 0 and res.faces_swapped == [] and "no face" in res.message
    assert np.array_equal(res.image, flat)


def test_no_face_in_source_raises():
    with pytest.raises(NoSourceFaceError, match="no face found in the source"):
        swap(np.full((200, 200, 3), 10, np.uint8), np.zeros((10, 10, 3), np.uint8))


def test_face_touching_the_border(demo, demo_faces, detector):
    face = demo_faces["grace_hopper"][0]
    x0 = int(face.points[:, 0].min()) + 25  # cut off the left of the face
    target = np.ascontiguousarray(demo["grace_hopper"][:, x0:])
    with FaceSwapper(demo["astronaut"], detector=detector) as fs:
        res = fs.swap_report(target)
    assert res.faces_swapped == [0]
    assert res.image.shape == target.shape
    assert np.abs(res.image.astype(int) - target).max(axis=2)[:, :10].max() > 8  # swapped up to the edge


def test_rgb_in_rgb_out(demo, detector):
    with FaceSwapper(demo["astronaut"][:, :, ::-1].copy(), detector=detector, color="rgb") as fs:
        rgb = fs.swap(demo["grace_hopper"][:, :, ::-1].copy())
    with FaceSwapper(demo["astronaut"], detector=detector) as fs:
        bgr = fs.swap(demo["grace_hopper"])
    assert psnr(rgb[:, :, ::-1], bgr) > 45


def test_face_selection(shared_faces, demo, detector):
    group = shared_faces / "group-t1.jpg"
    with FaceSwapper(demo["astronaut"], detector=detector) as fs:
        all_ = fs.swap_report(group, faces="all")
        one = fs.swap_report(group, faces=[2])
    assert all_.faces_found == 6 and all_.faces_swapped == list(range(6))
    assert one.faces_swapped == [2]
    from fastswap.imageio import read_image

    orig = read_image(group)
    faces = detector.detect(orig)
    for i, f in enumerate(faces):
        region = face_region(f, orig.shape)
        changed_all = (np.abs(all_.image.astype(int) - orig).max(axis=2) > 8)[region].mean()
        changed_one = (np.abs(one.image.astype(int) - orig).max(axis=2) > 8)[region].mean()
        assert changed_all > 0.3, i
        assert (changed_one > 0.3) == (i == 2), i


def test_peak_memory_of_a_12_megapixel_swap(tmp_path, demo, detector):
    """Host allocations (tracemalloc sees NumPy's and OpenCV's arrays, not MediaPipe's own memory)
    stay under 4x the image's size while one 12-megapixel photo is read, swapped and kept."""
    import tracemalloc

    import cv2

    big = cv2.resize(demo["astronaut"], (4000, 3000), interpolation=cv2.INTER_LINEAR)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    with FaceSwapper(demo["grace_hopper"], detector=detector) as fs:
        fs.swap(demo["astronaut"])  # warm-up: buffers that persist across calls are not per-photo cost
        tracemalloc.start()
        try:
            res = fs.swap_report(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert res.faces_swapped == [0]
    assert peak < 4 * big.nbytes, f"peak {peak / 1e6:.0f} MB for a {big.nbytes / 1e6:.0f} MB image"


def test_source_levels_halve_the_crop_double_the_face_and_keep_its_points():
    import cv2

    from fastswap.pipeline import SOURCE_LEVELS_MIN_SIDE, source_levels

    img = np.zeros((96, 128, 3), np.uint8)
    cv2.circle(img, (40, 24), 3, (255, 255, 255), -1)  # a dot at (40, 24): (10, 6) two halvings down
    points = np.array([[30.0, 20.0], [70.0, 60.0]], np.float32)  # its box 4 px wider: x 26..74, y 16..64
    levels = source_levels(img, points)
    assert sorted(levels) == [-1, 0, 1, 2]
    assert [levels[k].image.shape[:2] for k in (0, 1, 2)] == [(96, 128), (48, 64), (24, 32)]
    assert min(levels[2].image.shape[:2]) < 2 * SOURCE_LEVELS_MIN_SIDE  # not halved below the floor
    assert levels[-1].image.shape[:2] == (2 * 49, 2 * 49)  # that box, doubled
    for k in (-1, 0, 1, 2):
        lv = levels[k]
        grey = lv.image[:, :, 0].astype(np.float64)
        ys, xs = np.mgrid[: grey.shape[0], : grey.shape[1]]
        x, y = (grey * xs).sum() / grey.sum(), (grey * ys).sum() / grey.sum()  # the dot's centre
        want = lv.map(np.array([[40.0, 24.0]], np.float32))[0]
        assert np.hypot(x - want[0], y - want[1]) < 0.1, (k, (x, y), want)
    assert np.allclose(levels[2].map(np.array([[40.0, 24.0]], np.float32)), [[10.0, 6.0]])


def test_source_level_by_octave_with_a_videos_hysteresis():
    from fastswap.pipeline import source_level

    area = 1000.0**2
    assert source_level(area, area, -1, 5) == 0  # drawn at its size
    assert source_level(area, area / 3.9, -1, 5) == 0  # shrunk 1.97x: the warp's bilinear sampling
    assert source_level(area, area / 4.1, -1, 5) == 1  # shrunk 2.02x
    assert source_level(area, area / 64.5, -1, 5) == 3
    assert source_level(area, area / 64.5, -1, 2) == 2  # no deeper than the levels there are
    assert source_level(area, area * 1.1, -1, 5) == -1  # enlarged: from the doubled face
    assert source_level(area, area * 16, -1, 5) == -1
    assert source_level(area, area * 16, 0, 5) == 0  # where there is no doubled face
    state: dict = {}
    # a face shrinking past 2x and back: the level changes a tenth of an octave past 2x (2.14x), and
    # back a tenth of an octave under it (1.87x)
    seen = [source_level(area, area / s**2, -1, 5, state) for s in (1.9, 2.05, 2.2, 1.95, 2.05, 1.9, 1.85, 2.1)]
    assert seen == [0, 0, 1, 1, 1, 1, 0, 0]
    # its first frame takes the plain level
    assert source_level(area, area / 2.05**2, -1, 5, {}) == 1


def test_a_large_source_drawn_small_has_no_speckle(shared_faces, detector, monkeypatch):
    """img13's stubble and pores drawn from the full crop onto the group photo's ~110-pixel faces (a
    sixth of its size) came out as dark speckles; drawn from the halved crops they are averaged away."""
    import cv2

    from fastswap import pipeline
    from fastswap.imageio import read_image

    group = read_image(shared_faces / "group-t1.jpg")

    def fine_detail(out):
        """Mean |grey - its 3x3 median| over the changed pixels (eroded: not their edge)."""
        grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        changed = (np.abs(out.astype(int) - group).max(axis=2) > 0).astype(np.uint8)
        changed = cv2.erode(changed, np.ones((5, 5), np.uint8)) > 0
        detail = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3))
        return float(detail[changed].mean()), changed

    source = read_image(shared_faces / "img13.jpg")
    with FaceSwapper(source, detector=detector) as fs:
        levels, changed = fine_detail(fs.swap(group))
    with monkeypatch.context() as m:
        m.setattr(pipeline, "source_level", lambda *a, **k: 0)
        with FaceSwapper(source, detector=detector) as fs:
            full, _ = fine_detail(fs.swap(group))
    own = np.abs(
        cv2.cvtColor(group, cv2.COLOR_BGR2GRAY).astype(np.float32)
        - cv2.medianBlur(cv2.cvtColor(group, cv2.COLOR_BGR2GRAY), 3)
    )[changed].mean()
    assert levels < 0.5 * full  # measured 1.4 against 3.8
    assert levels < 1.6 * own  # about the target's own (1.0)


def test_a_small_source_drawn_large_is_drawn_from_its_doubled_face(shared_faces, detector, monkeypatch):
    """img12's face (about 140 pixels) drawn onto img4's (about 700): bilinear sampling from the crop
    itself blurs it; from the face's box doubled by bicubic interpolation (``pipeline.MAGNIFY``) the
    result keeps more detail at the scale of the source's own pixels there (a band of 1 to 2 target
    pixels: measured 0.469 against 0.417 grey levels; 4.5% more below it, 7% more above)."""
    import cv2

    from fastswap import pipeline
    from fastswap.imageio import read_image

    source, target = read_image(shared_faces / "img12.jpg"), read_image(shared_faces / "img4.jpg")
    face = max(detector.detect(target), key=lambda f: f.size)
    inside = pipeline.quality.fill(target.shape[:2], face.points[mesh.FACE_OUTLINE])
    inside = pipeline.quality.erode_round(inside, int(0.1 * face.size)) > 0

    def detail(magnify: bool) -> float:
        """Mean |Gaussian blur of 1 pixel - of 2 pixels| of the result's grey inside the face."""
        monkeypatch.setattr(pipeline, "MAGNIFY", magnify)
        with FaceSwapper(source, detector=detector) as fs:
            grey = cv2.cvtColor(fs.swap(target, faces="largest"), cv2.COLOR_BGR2GRAY).astype(np.float32)
        return float(np.abs(cv2.GaussianBlur(grey, (0, 0), 1.0) - cv2.GaussianBlur(grey, (0, 0), 2.0))[inside].mean())

    doubled, plain = detail(True), detail(False)
    assert doubled > 1.08 * plain, (doubled, plain)
