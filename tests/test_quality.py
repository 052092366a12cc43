from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import FaceSwapper, NoSourceFaceError, mesh, pipeline, quality
from fastswap.imageio import read_image


def swap_info(demo, detector, target="astronaut", **kw):
    with FaceSwapper(demo["grace_hopper"], detector=detector, debug=True, **kw) as fs:
        res = fs.swap_report(demo[target] if isinstance(target, str) else target)
    return res, res.faces[0]


def layer_step(warped: np.ndarray, target: np.ndarray, mask: np.ndarray, face_size: float) -> float:
    """Colour difference (CIELAB, medians) between the two layers that meet across the mask's border:
    the warped face and the target, in the band where the feathered alpha goes from 0 to 1."""
    alpha = quality.feather(mask, face_size)
    band = (alpha > 0.05) & (alpha < 0.95) & (mask > 0)  # outside the mask the target shows alone
    lw = cv2.cvtColor(warped, cv2.COLOR_BGR2LAB).astype(float)[band]
    lt = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(float)[band]
    return float(np.linalg.norm(np.median(lw, axis=0) - np.median(lt, axis=0)))


def colour_steps(source, target, detector) -> dict[bool, float]:
    size = detector.detect(target)[0].size
    steps = {}
    for cc in (False, True):
        with FaceSwapper(source, detector=detector, debug=True, blend="alpha", color_correct=cc) as fs:
            info = fs.swap_report(target).faces[0]
        x0, y0, x1, y1 = info.roi
        steps[cc] = layer_step(info.warped, target[y0:y1, x0:x1], info.mask, size)
    return steps


def triangle_areas(p: np.ndarray) -> np.ndarray:
    """Areas of (T, 3, 2) triangles."""
    return np.abs(quality.triangle_areas(p))


def most_turned_group_face(shared_faces, detector) -> tuple[np.ndarray, list, int]:
    """The group photo, its faces, and the index of the one turned furthest from the camera."""
    group = read_image(shared_faces / "group-t1.jpg")
    faces = detector.detect(group)
    return group, faces, min(range(len(faces)), key=lambda i: quality.visible_fraction(faces[i].points))


def painted_hair(demo, detector):
    """The astronaut's prepared face (clean), and a copy of its crop with dark hair painted over one
    side of the outline after detection (as when hair falls over a cheek): (clean, image, painted)."""
    from fastswap.pipeline import prepare_source

    clean = prepare_source(demo["astronaut"], detector)
    img, pts, size = clean.image.copy(), clean.points, clean.face.size
    x0 = int(pts[mesh.FACE_OUTLINE, 0].max() - 0.08 * size)
    y0, y1 = int(pts[:, 1].min() + 0.2 * size), int(pts[:, 1].min() + 0.6 * size)
    painted = np.zeros(img.shape[:2], bool)
    painted[y0:y1, x0:] = True
    img[painted] = (20, 22, 25)
    return clean, img, painted


def test_colour_correction_reduces_the_step_across_the_border(demo, detector):
    steps = colour_steps(demo["grace_hopper"], demo["astronaut"], detector)
    assert steps[True] < 0.5 * steps[False], steps


def test_colour_correction_on_real_photos(shared_faces, detector):
    source = read_image(shared_faces / "img2.jpg")
    before, after = [], []
    for p in sorted(shared_faces.glob("img1*.jpg")):
        steps = colour_steps(source, read_image(p), detector)
        before.append(steps[False])
        after.append(steps[True])
    b, a = np.array(before), np.array(after)
    assert float(np.median(a / b)) < 0.4, (before, after)  # typically 4x smaller
    assert a.mean() < 0.5 * b.mean(), (before, after)
    # Where the layers already agreed (steps under 10), the correction, made for the whole face, can
    # leave a larger step in this band, which also holds ears and hair (2 of 12 photos; looked at:
    # the corrected skin matches the target's better there too), so no per-photo bound is asserted.


def painted_glasses(roi: np.ndarray, pts: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``roi`` with dark glasses' frames painted round both eyes and over the nose's bridge,
    and where they are ((H, W) bool)."""
    frames = np.zeros(roi.shape[:2], np.uint8)
    thick = max(2, int(0.035 * size))
    centres = []
    for loop in (mesh.LEFT_EYE, mesh.RIGHT_EYE):
        p = pts[loop]
        c, half = p.mean(axis=0), float(np.ptp(p[:, 0]))
        centres.append(c)
        cv2.ellipse(frames, (int(c[0]), int(c[1])), (int(0.85 * half), int(0.6 * half)), 0, 0, 360, 255, thick)
    a, b = centres
    cv2.line(frames, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 255, thick)
    on = frames > 0
    out = roi.copy()
    out[on] = (28, 24, 22)
    return out, on


def test_colour_correction_takes_its_means_over_skin_only(demo, detector):
    # Glasses on the target darkened the local means round its eyes, and the ratio darkened the
    # source's face there (the demo's astronaut into Grace Hopper: a grey band across the eyes). The
    # means now leave out the features and whatever is off skin colour in either face.
    tgt = demo["astronaut"]
    _, info = swap_info(demo, detector, tgt, color_correct=False, blend="alpha")
    x0, y0, x1, y1 = info.roi
    roi, warped, mask = tgt[y0:y1, x0:x1], info.warped, info.mask
    face = detector.detect(tgt)[0]
    pts = face.points[: mesh.NUM_MESH_POINTS] - (x0, y0)
    features = quality.feature_mask(mask.shape, pts, face.size)
    glasses, on = painted_glasses(roi, pts, face.size)
    skin = quality.skin_statistics(mask, (glasses, warped), features, face.size)
    assert not skin[on].any()  # the frames are not skin
    inside = (mask > 0) & (features == 0) & ~on
    # the rest of the face mostly is (the texture test also leaves out the warped Grace Hopper's own
    # glasses and deepest wrinkles: 77% kept)
    assert (skin[inside] > 0).mean() > 0.6
    # the corrected face round the eyes, away from the frames themselves
    eyes = np.zeros(mask.shape, np.uint8)
    for loop in (mesh.LEFT_EYE, mesh.RIGHT_EYE):
        c = pts[loop].mean(axis=0)
        cv2.circle(eyes, (int(c[0]), int(c[1])), int(0.25 * face.size), 255, -1)
    near = inside & (eyes > 0)

    def moved(stats_clean, stats_glasses) -> float:
        clean = quality.match_colour(warped, roi, stats_clean, face.size).astype(float)
        worn = quality.match_colour(warped, glasses, stats_glasses, face.size).astype(float)
        return float(np.abs(clean - worn)[near].mean())

    plain = moved(mask, mask)  # the whole mask, as before: the frames darken the face round the eyes
    skin_only = moved(quality.skin_statistics(mask, (roi, warped), features, face.size), skin)
    assert plain > 6.0, plain
    # measured: 32.6 with the whole mask, 9.4 over skin only (5.6 by colour alone: the texture test
    # also leaves out the frames' edges and the skin just round them, so the two supports differ more)
    assert skin_only < plain / 3, (skin_only, plain)


def test_skin_statistics_leaves_out_skin_coloured_strands(demo, demo_faces, monkeypatch):
    # Blond strands or a beard pass the colour test; their fine detail does not.
    face = demo_faces["astronaut"][0]
    img, pts, size = demo["astronaut"].copy(), face.points[: mesh.NUM_MESH_POINTS], face.size
    shape = img.shape[:2]
    mask = quality.fill(shape, pts[mesh.FACE_OUTLINE])
    features = quality.feature_mask(shape, pts, size)
    cheek = pts[mesh.LEFT_EYE].mean(axis=0) * 0.5 + pts[mesh.LIPS_OUTER].mean(axis=0) * 0.5
    cheek += (pts[mesh.LEFT_EYE].mean(axis=0) - pts[mesh.RIGHT_EYE].mean(axis=0)) * 0.45  # out to the side
    half = int(0.08 * size)
    x, y = int(cheek[0]), int(cheek[1])
    patch = (slice(y - half, y + half), slice(x - half, x + half))
    skin_colour = np.median(img[patch].reshape(-1, 3), axis=0)
    strands = img[patch].astype(np.float32)
    strands[:, 0::4] = skin_colour * 1.12  # 2-pixel strands a little lighter and darker than the skin
    strands[:, 1::4] = skin_colour * 1.12
    strands[:, 2::4] = skin_colour * 0.9
    strands[:, 3::4] = skin_colour * 0.9
    img[patch] = np.clip(strands, 0, 255).astype(np.uint8)
    on = np.zeros(shape, bool)
    on[patch] = True
    on &= (mask > 0) & (features == 0)
    assert on.sum() > 100
    band = quality.cheek_band(shape, pts)
    elsewhere = (mask > 0) & (features == 0) & (band > 0) & ~on

    default = quality.TEXTURE_MAX

    def kept(texture_max: float) -> tuple[float, float]:
        monkeypatch.setattr(quality, "TEXTURE_MAX", texture_max)
        skin = quality.skin_statistics(mask, (img,), features, size, band) > 0
        return float(skin[on].mean()), float(skin[elsewhere].mean())

    by_colour, _ = kept(np.inf)
    assert by_colour > 0.8, by_colour  # the colour test alone takes the strands for skin
    strands_kept, cheeks_kept = kept(default)
    assert strands_kept < 0.1, strands_kept  # the texture test does not
    assert cheeks_kept > 0.8, cheeks_kept  # and keeps the plain skin beside them


def test_feature_mask_and_cheek_band_follow_the_face(demo, demo_faces):
    face = demo_faces["astronaut"][0]
    pts, shape = face.points[: mesh.NUM_MESH_POINTS], demo["astronaut"].shape[:2]
    features = quality.feature_mask(shape, pts, face.size) > 0
    band = quality.cheek_band(shape, pts) > 0

    def at(p) -> tuple[int, int]:
        return int(round(p[1])), int(round(p[0]))

    for loop in (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LEFT_EYEBROW, mesh.RIGHT_EYEBROW, mesh.LIPS_OUTER):
        centre = pts[loop].mean(axis=0)
        assert features[at(centre)] and all(features[at(p)] for p in pts[loop])  # each feature, whole
        assert not band[at(centre)]  # the band leaves them out
    inside = quality.fill(shape, pts[mesh.FACE_OUTLINE]) > 0
    assert features[inside].mean() < 0.35, features[inside].mean()  # and little else of the face:
    for i in (1, 50, 280, 151):  # nose tip, both cheeks, forehead (MediaPipe's mesh indices)
        assert not features[at(pts[i])]
    assert band[at(pts[1])] and band[at(pts[50])] and band[at(pts[280])]
    assert not band[at(pts[151])]


def test_soft_highlights_keeps_hue_and_leaves_the_rest():
    rng = np.random.default_rng(7)
    img = rng.uniform(0.0, 400.0, (96, 96, 3)).astype(np.float32)
    out = quality.soft_highlights(img.copy()).astype(np.float32)
    m = img.max(axis=2)
    low = m <= quality.KNEE
    assert low.any() and (~low).any()
    assert np.array_equal(out[low], np.rint(img[low]))  # below the knee: only rounded
    hi = ~low
    # above it, the pixel is scaled as a whole (channel ratios, i.e. hue, kept) by f(m) / m, the
    # documented curve, within rounding
    room = 255.0 - quality.KNEE
    f = quality.KNEE + room * (1.0 - np.exp(-(m[hi] - quality.KNEE) / room))
    assert np.abs(out[hi] - img[hi] * (f / m[hi])[:, None]).max() <= 0.501
    # no channel reaches 255 until the gain would have taken it well past (f(m) < 254.5 for m < 308)
    assert out[hi & (m < 300)].max() < 255
    # brighter in, brighter out (monotone in the brightest channel)
    order = np.argsort(m[hi])
    assert (np.diff(out[hi].max(axis=1)[order]) >= 0).all()


def clipped_in_mask(source, target, detector, **kw) -> float:
    """Share of the colour-corrected face's pixels (in the mask) with a channel at 255."""
    with FaceSwapper(source, detector=detector, debug=True, **kw) as fs:
        info = fs.swap_report(target).faces[0]
    return float((info.warped[info.mask > 0] == 255).any(axis=1).mean())


@pytest.mark.parametrize("source", ["img16.jpg", "img2.jpg"])
def test_colour_correction_does_not_blow_out_a_dark_face_in_a_bright_photo(shared_faces, detector, source):
    # img13 is a bright studio portrait (0.7% of its face at 255). Lifted by a per-channel gain, 29%
    # (img16) and 12% (img2) of the corrected face had its red channel clipped: flat, yellow-white
    # skin, a glowing chin under img16's beard.
    src, tgt = read_image(shared_faces / source), read_image(shared_faces / "img13.jpg")
    assert clipped_in_mask(src, tgt, detector) < 0.03


def test_fade_correction_is_the_documented_blend():
    mask = np.zeros((120, 100), np.uint8)
    cv2.ellipse(mask, (50, 60), (40, 50), 0, 0, 360, 255, -1)
    rng = np.random.default_rng(3)
    solved, warped = (rng.integers(0, 256, (120, 100, 3), dtype=np.uint8) for _ in range(2))
    out = quality.fade_correction(solved, warped, mask, face_size=100.0, fade=0.05)  # over 5 px
    d = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_3)
    w = np.exp(-d / 5.0)[:, :, None]
    expected = warped + (solved.astype(float) - warped) * w
    assert out.dtype == np.uint8 and np.abs(out - expected).max() <= 0.51
    assert np.array_equal(out[mask == 0], solved[mask == 0])  # outside the mask: the solve as it is
    middle = d > 30  # 6 decay lengths in: the colour-corrected face itself, within rounding
    assert middle.any() and np.abs(out[middle].astype(int) - warped[middle]).max() <= 1


def test_fade_correction_at_half_resolution_stays_close_to_the_exact_blend():
    """A decay of 16 pixels or more takes the distance at half resolution: within 2 levels of the
    exact blend where the correction is up to 40 levels (a face's), the solve itself off the mask."""
    mask = np.zeros((420, 360), np.uint8)
    cv2.ellipse(mask, (180, 210), (150, 190), 0, 0, 360, 255, -1)
    rng = np.random.default_rng(4)
    warped = rng.integers(40, 216, (420, 360, 3)).astype(np.uint8)
    solved = np.clip(warped.astype(int) + rng.integers(-40, 41, warped.shape), 0, 255).astype(np.uint8)
    out = quality.fade_correction(solved, warped, mask, face_size=400.0, fade=0.1)  # over 40 px
    d = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_3)
    w = np.exp(-d / 40.0)[:, :, None]
    expected = warped + (solved.astype(float) - warped) * w
    assert np.abs(out - expected).max() <= 2.0
    assert np.array_equal(out[mask == 0], solved[mask == 0])


@pytest.mark.parametrize("target", ["img6.jpg", "img15.jpg"])
def test_poisson_does_not_lift_a_colour_corrected_face(shared_faces, detector, target):
    # img20 is lit from the front, bright in the middle and darker at its edges; the colour-corrected
    # face agrees with these evenly lit targets in the middle, not at the edge, and the plain Poisson
    # membrane carried the edge's difference (about +20 and +35) into the whole face: 23% (img6) and
    # 35% (img15) of the result's face outline had a channel at 255 (the targets' own: 0.7% and 0%).
    src, tgt = read_image(shared_faces / "img20.jpg"), read_image(shared_faces / target)
    face = max(detector.detect(tgt), key=lambda f: f.size)
    outline = quality.fill(tgt.shape[:2], face.points[mesh.FACE_OUTLINE]) > 0
    own = float((tgt[outline] == 255).any(axis=1).mean())
    lifted, blown, images = {}, {}, {}
    for cc, fade in ((True, quality.FADE), (True, 0.0), (False, quality.FADE), (False, 0.0)):
        with FaceSwapper(src, detector=detector, debug=True, color_correct=cc, fade=fade) as fs:
            res = fs.swap_report(tgt, faces="largest")
        info = res.faces[0]
        x0, y0, x1, y1 = info.roi
        middle = cv2.distanceTransform(info.mask, cv2.DIST_L2, cv2.DIST_MASK_3) > 2 * quality.FADE * face.size
        lifted[cc, fade] = float(np.mean(res.image[y0:y1, x0:x1][middle].astype(float) - info.warped[middle]))
        blown[cc, fade] = float((res.image[outline] == 255).any(axis=1).mean())
        images[cc, fade] = res.image
    default, plain = (True, quality.FADE), (True, 0.0)
    assert blown[plain] > own + 0.15 and blown[default] < own + 0.02, blown
    # the middle keeps the corrected face: under e^-2 of the plain solve's lift there
    assert lifted[plain] > 10 and abs(lifted[default]) < 0.14 * lifted[plain], lifted
    # without colour correction the Poisson solve alone matches the colours: nothing is faded
    assert np.array_equal(images[False, quality.FADE], images[False, 0.0])


def test_open_mouth_of_the_target_is_kept(demo, demo_faces, detector):
    face = demo_faces["astronaut"][0]
    assert quality.mouth_openness(face.points, face.size) > quality.MOUTH_OPEN  # she smiles with teeth
    lips = quality.fill(demo["astronaut"].shape[:2], face.points[mesh.LIPS_INNER])
    inner = cv2.erode(lips, np.ones((3, 3), np.uint8)) > 0
    res, info = swap_info(demo, detector, keep_mouth=True)
    assert info.kept_from_target == ["mouth"]
    assert np.array_equal(res.image[inner], demo["astronaut"][inner])
    res2, info2 = swap_info(demo, detector, keep_mouth=False)
    assert "mouth" not in info2.kept_from_target
    assert np.abs(res2.image[inner].astype(int) - demo["astronaut"][inner]).mean() > 5


def test_kept_mouth_survives_a_face_as_wide_as_the_image(demo, detector):
    """A target cropped to its face: the face's region spans the image's whole width, so the region
    is contiguous and was not copied; the face, drawn in place, then overwrote the target's pixels
    that the kept mouth is pasted back from (it came out 110 levels off the target's mouth)."""
    astronaut = demo["astronaut"]
    x0, _, x1, _ = (int(v) for v in detector.detect(astronaut)[0].bbox)
    target = np.ascontiguousarray(astronaut[:, max(0, x0 - 5) : x1 + 5])
    face = max(detector.detect(target), key=lambda f: f.size)
    with FaceSwapper(demo["grace_hopper"], detector=detector) as fs:
        res = fs.swap_report(target, faces="largest")
    x0, _, x1, _ = res.faces[0].roi
    assert (x0, x1) == (0, target.shape[1]) and res.faces[0].kept_from_target == ["mouth"]
    lips = quality.fill(target.shape[:2], face.points[mesh.LIPS_INNER])
    inner = cv2.erode(lips, np.ones((3, 3), np.uint8)) > 0
    assert inner.sum() > 50 and np.array_equal(res.image[inner], target[inner])


def test_closed_eyes_of_the_target_are_kept(shared_faces, detector):
    """A closed target eye is kept from the target (its lashes, not the source's open eye squeezed
    flat), pasted by its gradients (:func:`quality.paste_lids`): with img2 (dark eye shadow) as the
    source, pasted as it was the target's bare lid showed as a light patch in the make-up. Across
    each kept lid's border (2-pixel rings on either side), the colour step beyond the target's own
    was 36 delta E on average, as it would be pasted as it is, and is 6 now; inside, the lid's fine
    detail (log lightness less its blur over 1 pixel) is the target's."""
    group = read_image(shared_faces / "group-t1.jpg")
    faces = detector.detect(group)
    closed = min(range(len(faces)), key=lambda i: quality.eye_openness(faces[i].points, mesh.LEFT_EYE))
    with FaceSwapper(read_image(shared_faces / "img2.jpg"), detector=detector) as fs:
        res = fs.swap_report(group, faces="all")
    assert "left_eye" in res.faces[closed].kept_from_target
    lab_res, lab_group = (cv2.cvtColor(im, cv2.COLOR_BGR2LAB).astype(float) for im in (res.image, group))

    def fine(img: np.ndarray) -> np.ndarray:
        grey = np.log1p(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32))
        return grey - cv2.GaussianBlur(grey, (0, 0), 1.0)

    steps, plain, ring = [], [], np.ones((3, 3), np.uint8)
    for face, info in zip(faces, res.faces, strict=True):
        for name, loop in (("left_eye", mesh.LEFT_EYE), ("right_eye", mesh.RIGHT_EYE)):
            if name not in info.kept_from_target:
                continue
            grow = max(1, round(0.015 * face.size))
            region = quality.fill(group.shape[:2], face.points[loop], dilate=grow)
            b = quality.eye_openness(face.points, loop)
            if b < quality.eye_openness(fs.prepared.points, loop) and b < quality.EYE_CLOSED:
                # shut in the target (the source's is the open one): pasted over the ring around it
                tris = face.points[mesh.TRIANGLES[mesh.EYE_RINGS[name]]]
                region |= quality.fill_triangles(group.shape[:2], tris, dilate=grow)
            inner = (region > 0) & (cv2.erode(region, ring, iterations=2) == 0)
            outer = (cv2.dilate(region, ring, iterations=2) > 0) & (region == 0)
            own = lab_group[inner].mean(0) - lab_group[outer].mean(0)
            steps.append(np.linalg.norm(lab_res[inner].mean(0) - lab_res[outer].mean(0) - own))
            plain.append(np.linalg.norm(lab_group[inner].mean(0) - lab_res[outer].mean(0) - own))
            core = cv2.erode(region, ring, iterations=2) > 0
            assert np.corrcoef(fine(res.image)[core], fine(group)[core])[0, 1] > 0.95, (info.index, name)
    assert len(steps) >= 3, steps
    assert np.mean(steps) < 0.3 * np.mean(plain), (steps, plain)


def test_a_closed_target_eye_is_kept_with_the_ring_around_it(shared_faces, detector):
    """The source's open eye squeezed onto a shut target eye still showed its white and its lashes
    just outside the thin opening (the group photo's faces are about 110 pixels: their shut eyes
    are 0.2 to 2 pixels tall), and pasting the lids over the opening alone took them to white
    (their boundary ran across the source's eye). The lids of an eye under ``quality.EYE_CLOSED``
    are pasted over the ring of mesh around the opening too (``mesh.EYE_RINGS``): there the
    result's fine detail is the target's (correlation 0.04 to 0.27 before, with img2 as the
    source), and no pixel of it is brighter than the brightest of the face drawn around it."""
    group = read_image(shared_faces / "group-t1.jpg")
    faces = detector.detect(group)
    with FaceSwapper(read_image(shared_faces / "img2.jpg"), detector=detector) as fs:
        res = fs.swap_report(group, faces="all")

    def fine(img: np.ndarray) -> np.ndarray:
        grey = np.log1p(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32))
        return grey - cv2.GaussianBlur(grey, (0, 0), 1.0)

    checked = 0
    for face, info in zip(faces, res.faces, strict=True):
        pts = face.points[: mesh.NUM_MESH_POINTS]
        for name, loop in (("left_eye", mesh.LEFT_EYE), ("right_eye", mesh.RIGHT_EYE)):
            b = quality.eye_openness(pts, loop)
            if name not in info.kept_from_target or b > quality.eye_openness(fs.prepared.points, loop):
                continue  # kept because the source's eye is the closed one: pasted as it is
            if b >= quality.EYE_CLOSED:
                continue  # a squint that shows its eye: the loop alone
            ring = quality.fill_triangles(group.shape[:2], pts[mesh.TRIANGLES[mesh.EYE_RINGS[name]]]) > 0
            ring &= quality.fill(group.shape[:2], pts[loop], dilate=1) == 0  # the lids, not the opening
            corr = np.corrcoef(fine(res.image)[ring], fine(group)[ring])[0, 1]
            assert corr > 0.9, (info.index, name, corr)
            around = (cv2.dilate(ring.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~ring
            assert res.image[ring].max(axis=1).max() <= res.image[around].max(axis=1).max(), (info.index, name)
            checked += 1
    assert checked >= 3, checked


@pytest.mark.parametrize("colour", ["target", "around"])
def test_paste_lids_never_lifts_a_lid_above_the_face_around_it(backend, colour):
    """A lid in the shade of its socket (the target's crease at 90, the lid's shine at 215) under a
    pale face (235): the ratio that brings the crease up to the face around it took the shine past
    255 (a white lid). No solved pixel's brightest channel exceeds the face around it (the 95th
    percentile of the region's boundary): the lid is scaled down as a whole, its grain and its
    lashes' contrast kept."""
    h, w = 40, 60
    rng = np.random.default_rng(3)
    target = np.full((h, w, 3), 90, np.uint8)  # the crease around the lid
    cv2.ellipse(target, (30, 20), (22, 9), 0, 0, 360, (185, 190, 195), -1)  # the lid's shine
    target = np.clip(target + rng.normal(0, 6, (h, w, 1)), 0, 255).astype(np.uint8)  # its grain
    target[19:22, 12:48] = 60  # lashes
    out = np.full((h, w, 3), 235, np.uint8)
    lids = np.zeros((h, w), np.uint8)
    cv2.ellipse(lids, (30, 20), (26, 13), 0, 0, 360, 255, -1)
    quality.paste_lids(out, target, lids, backend, colour=colour)
    inside = lids > 0
    assert out[inside].max() <= 235
    lid = out[13:17, 20:40].astype(float)
    assert lid.std() > 1.0 and lid.mean() > 0.8 * 235  # bright, not flat
    assert out[19:22, 15:45].mean() < 0.75 * lid.mean()  # the lashes still show


def test_paste_lids_around_takes_the_lightness_only(backend):
    """``colour="around"``: an orange lid (its crease more saturated still) under a pale pink face:
    per channel, the ratio from the crease is largest in blue and the lid came out bluish; with the
    lightness alone it takes the face's own hue (blue over red as around it, within 0.03), its
    lashes still darker than the lid. A bad ``colour`` is refused."""
    h, w = 40, 60
    target = np.zeros((h, w, 3), np.uint8)
    target[:] = (60, 110, 170)  # the crease: orange in shade (BGR)
    cv2.ellipse(target, (30, 20), (22, 9), 0, 0, 360, (120, 170, 215), -1)  # the lid
    target[19:22, 12:48] = (30, 45, 70)  # lashes
    out = np.full((h, w, 3), (205, 210, 235), np.uint8)  # a pale pink face
    lids = np.zeros((h, w), np.uint8)
    cv2.ellipse(lids, (30, 20), (26, 13), 0, 0, 360, 255, -1)
    per_channel, light = out.copy(), out.copy()
    quality.paste_lids(per_channel, target, lids, backend, colour="target")
    quality.paste_lids(light, target, lids, backend, colour="around")
    lid = (slice(13, 17), slice(20, 40))
    hue = lambda img: img[lid][..., 0].mean() / img[lid][..., 2].mean()  # noqa: E731
    assert abs(hue(light) - 205 / 235) < 0.03
    assert hue(per_channel) > hue(light) + 0.03  # the bluish lid it avoids
    assert light[19:22, 15:45].mean() < 0.75 * light[lid].mean()
    with pytest.raises(ValueError, match="colour"):
        quality.paste_lids(out.copy(), target, lids, backend, colour="grey")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    h=st.integers(3, 40),
    w=st.integers(3, 40),
    kind=st.sampled_from(["blob", "pixel", "line", "edge", "all"]),
    colour=st.sampled_from(["target", "around"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_paste_lids_stays_in_its_region_and_under_the_face_around(backend, h, w, kind, colour, seed):
    """Any region (a blob, one pixel, a 1-pixel line, against the image's edge, the whole image) and
    any images: ``paste_lids`` changes no pixel outside the region, and none inside is brighter than
    the brightest of the face around it (the region's boundary, the 1-pixel frame of its box)."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    lids = np.zeros((h, w), np.uint8)
    y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
    if kind == "blob":
        cv2.ellipse(lids, (x, y), (int(rng.integers(1, w)), int(rng.integers(1, h))), 0, 0, 360, 255, -1)
    elif kind == "pixel":
        lids[y, x] = 255
    elif kind == "line":
        lids[y, :] = 255
    elif kind == "edge":
        lids[:, : max(1, w // 3)] = 255
    else:
        lids[:] = 255
    before = out.copy()
    quality.paste_lids(out, target, lids, backend, colour=colour)
    assert np.array_equal(out[lids == 0], before[lids == 0])
    bx, by, bw, bh = cv2.boundingRect(lids)
    box = (slice(max(by - 2, 0), min(by + bh + 2, h)), slice(max(bx - 2, 0), min(bx + bw + 2, w)))
    solved = lids[box].copy()
    solved[0, :] = solved[-1, :] = 0
    solved[:, 0] = solved[:, -1] = 0
    edge = cv2.subtract(cv2.dilate(solved, np.ones((3, 3), np.uint8)), solved) > 0
    if edge.any() and (solved > 0).any():
        cap = np.percentile(before[box][edge].max(axis=1), 95)
        assert out[box][solved > 0].max() <= cap + 1.0  # within the rounding to uint8


def test_fill_triangles_fills_each_triangle_overlaps_too():
    """Two overlapping triangles: their union filled (``cv2.fillPoly`` of both leaves the overlap
    empty), and the dilation grows it."""
    tris = np.array([[[5, 5], [40, 5], [5, 40]], [[10, 10], [45, 10], [10, 45]]], np.float32)
    m = quality.fill_triangles((50, 50), tris)
    assert m[15, 15] == 255 and m[7, 7] == 255 and m[42, 12] == 255 and m[2, 2] == 0
    one = np.zeros((50, 50), np.uint8)
    cv2.fillPoly(one, [tris[0].astype(np.int32), tris[1].astype(np.int32)], 255)
    assert one[15, 15] == 0  # what the helper avoids
    assert cv2.countNonZero(quality.fill_triangles((50, 50), tris, dilate=2)) > cv2.countNonZero(m)


def test_paste_lids_carries_the_lids_detail_at_the_colour_around_it(backend):
    """paste_lids on every backend: inside the region the target's detail times a smooth ratio (its
    log-lightness detail kept), at the region's border the colour of ``out`` around it; outside
    nothing changes; a region against the image's edge is solved too (the edge is its boundary)."""
    rng = np.random.default_rng(5)
    h, w = 60, 80
    target = np.clip(150 + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)  # a textured lid
    target[28:32, 10:70] = 40  # lashes
    out = np.full((h, w, 3), (60, 50, 90), np.uint8)  # dark eye shadow around it
    lids = np.zeros((h, w), np.uint8)
    cv2.ellipse(lids, (40, 30), (30, 12), 0, 0, 360, 255, -1)
    lids[:, :3] = 0
    lids[40:, 60:] = 255  # a second region, against the image's corner
    before = out.copy()
    quality.paste_lids(out, target, lids, backend)
    inside = lids > 0
    assert np.array_equal(out[~inside], before[~inside])
    core = cv2.erode(lids, np.ones((3, 3), np.uint8), iterations=3) > 0
    ring = inside & ~(cv2.erode(lids, np.ones((3, 3), np.uint8)) > 0)
    assert np.abs(out[ring].astype(int) - before[ring]).mean() < 12  # meets the colour around it
    assert np.abs(out[core].astype(int) - target[core]).mean() > 40  # not the bare lid
    lashes = out[28:32, 20:60].mean(), out[20:26, 20:60].mean()
    assert lashes[0] < 0.5 * lashes[1]  # the lashes still darker than the lid

    def fine(img: np.ndarray) -> np.ndarray:
        grey = np.log1p(img.astype(np.float32).mean(axis=2))
        return grey - cv2.GaussianBlur(grey, (0, 0), 1.0)

    assert np.corrcoef(fine(out)[core], fine(target)[core])[0, 1] > 0.9


@pytest.mark.parametrize("blend", ["alpha", "multiband"])
def test_feathered_blends_change_the_face_and_leave_no_box(demo, demo_faces, detector, blend):
    res, info = swap_info(demo, detector, blend=blend)
    face = demo_faces["astronaut"][0]
    outline = quality.fill(demo["astronaut"].shape[:2], face.points[mesh.FACE_OUTLINE], dilate=4) > 0
    diff = np.abs(res.image.astype(int) - demo["astronaut"]).max(axis=2)
    x0, y0, x1, y1 = info.roi
    frame = np.ones(diff.shape, bool)
    frame[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = False
    assert diff[frame].max() <= 2  # the region's edge does not show: no box
    if blend == "alpha":
        assert diff[~outline].max() <= 2  # the alpha stays inside the face: no halo
    assert (diff[outline] > 8).mean() > 0.3


def test_backfacing_triangles_are_not_drawn(shared_faces, demo, detector):
    group, faces, turned = most_turned_group_face(shared_faces, detector)
    assert quality.visible_fraction(faces[turned].points) < 0.95
    masks = {}
    for cull in (True, False):
        with FaceSwapper(demo["grace_hopper"], detector=detector, debug=True, cull_backfacing=cull) as fs:
            masks[cull] = int((fs.swap_report(group, faces=[turned]).faces[0].mask > 0).sum())
    assert masks[True] < masks[False]


def test_turned_source_far_side_is_drawn_from_the_near_side(shared_faces, demo, detector):
    """The group photo's most turned face as the source, into the frontal astronaut: with ``mirror``
    the far side is drawn from the near side's triangles, so it is not smeared across the face (its
    ratio of horizontal to vertical gradient energy is the near side's, within 25%); without, the
    stretched far side loses its horizontal detail (below 75% of the near side's)."""
    group, faces, turned = most_turned_group_face(shared_faces, detector)
    assert quality.visible_fraction(faces[turned].points) < 0.9
    target = demo["astronaut"]
    tgt = detector.detect(target)[0].points
    src = faces[turned].points
    # the source's near side: the eye seen larger; where that eye's landmarks land in the target
    near_loop = max((mesh.LEFT_EYE, mesh.RIGHT_EYE), key=lambda loop: quality.polygon_area(src[loop]))
    nose_x = tgt[1, 0]  # the target is frontal: its midline
    near_on_left = tgt[near_loop, 0].mean() < nose_x

    def sides(mirror: bool) -> tuple[float, float]:
        with FaceSwapper(group, detector=detector, source_face=turned, debug=True, mirror=mirror) as fs:
            info = fs.swap_report(target).faces[0]
        gray = cv2.cvtColor(info.warped, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0))
        gy = np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
        inside = quality.erode_round(info.mask, 5) > 0
        left = inside & (np.arange(inside.shape[1])[None, :] < nose_x - info.roi[0])
        ratio = {side: gx[m].mean() / gy[m].mean() for side, m in ((True, left), (False, inside & ~left))}
        return ratio[not near_on_left], ratio[near_on_left]  # far, near

    far, near = sides(mirror=True)
    assert 0.75 < far / near < 1.25, (far, near)
    far, near = sides(mirror=False)
    assert far / near < 0.75, (far, near)


def test_turned_source_texture_is_not_stretched(shared_faces, demo, detector, monkeypatch):
    """How much each triangle's source texture is magnified onto the frontal astronaut (target area
    over the area of the source triangle it is drawn from, own or mirror): with the far side taken
    from the near side, the 95th percentile (by target area) stays within 6x the median; drawing
    only the back-facing triangles from the mirror side (OBLIQUE_MAX 0), or none, leaves the edge-on
    far side magnified over 10x."""
    from fastswap import pipeline

    group, _, turned = most_turned_group_face(shared_faces, detector)
    tgt = detector.detect(demo["astronaut"])[0].points[: mesh.NUM_MESH_POINTS]

    def stretch(**kw) -> float:
        with FaceSwapper(group, detector=detector, source_face=turned, **kw) as fs:
            use, src = fs.triangle_source, fs.prepared.points
        rows = mesh.TRIANGLES[use >= 0]
        taken = np.where((use[use >= 0] == 1)[:, None], mesh.MIRROR[rows], rows)  # the source triangle used
        w = triangle_areas(tgt[rows])
        mag = w / np.maximum(triangle_areas(src[taken]), 1e-6)
        order = np.argsort(mag)
        cum = np.cumsum(w[order]) / w.sum()
        return float(mag[order][np.searchsorted(cum, 0.95)] / mag[order][np.searchsorted(cum, 0.5)])

    assert stretch() < 6
    assert stretch(mirror=False) > 10
    monkeypatch.setattr(pipeline, "OBLIQUE_MAX", 0.0)
    assert stretch() > 10


def test_confidence_filter(demo, detector):
    res, info = swap_info(demo, detector)
    assert 0.8 < info.confidence <= 1.0
    res, info = swap_info(demo, detector, min_confidence=0.999)
    assert not info.swapped and "confidence" in info.reason and res.faces_swapped == []
    assert np.array_equal(res.image, demo["astronaut"])


def test_brows_region_leaves_the_forehead(demo, demo_faces, detector):
    face = demo_faces["astronaut"][0]
    shape = demo["astronaut"].shape[:2]
    outline = quality.fill(shape, face.points[mesh.FACE_OUTLINE])
    forehead = (cv2.erode(outline, np.ones((15, 15), np.uint8)) > 0) & (quality.below_brows(shape, face.points) == 0)
    assert forehead.sum() > 500
    whole = swap_info(demo, detector, mask_region="face")[0].image
    brows = swap_info(demo, detector, mask_region="brows")[0].image
    changed = lambda img: (np.abs(img.astype(int) - demo["astronaut"]).max(axis=2) > 8)[forehead].mean()  # noqa: E731
    assert changed(whole) > 0.5 and changed(brows) < 0.05


def test_source_seen_from_the_side_is_refused(demo, detector, monkeypatch):
    monkeypatch.setattr(quality, "visible_fraction", lambda pts: 0.45)
    with pytest.raises(NoSourceFaceError, match="turned away"):
        FaceSwapper(demo["grace_hopper"], detector=detector)


def test_debug_picture(tmp_path, demo):
    from fastswap.cli import main

    for name, img in demo.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), img)
    dbg = tmp_path / "debug.png"
    code = main(
        [
            "swap",
            str(tmp_path / "grace_hopper.png"),
            str(tmp_path / "astronaut.png"),
            "-o",
            str(tmp_path / "out.png"),
            "--debug",
            str(dbg),
        ]
    )
    assert code == 0
    pic = cv2.imread(str(dbg))
    assert pic is not None and pic.shape[0] == 320 and pic.shape[1] > 5 * 200  # 6 tiles side by side


def test_debug_mesh_tints_triangles_by_their_source(demo, demo_faces):
    img, pts = demo["astronaut"], demo_faces["astronaut"][0].points
    # the largest triangles first: their centres are off the mesh's lines
    big = np.argsort(triangle_areas(pts[mesh.TRIANGLES]))[::-1]
    use = np.zeros(len(mesh.TRIANGLES), np.int8)
    use[big[:60]], use[big[60:120]] = 1, -1
    plain = quality.draw_mesh(img, pts).astype(int)
    tinted = quality.draw_mesh(img, pts, triangle_source=use).astype(int)
    cx, cy = np.round(pts[mesh.TRIANGLES].mean(axis=1)).astype(int).T
    blue = tinted[cy, cx, 0] - tinted[cy, cx, 2] - (plain[cy, cx, 0] - plain[cy, cx, 2])  # (B - R) gained
    assert (blue[big[:60]] > 20).mean() > 0.9  # drawn from the mirror side: blue
    assert (blue[big[60:120]] < -20).mean() > 0.9  # not drawn: red
    assert (np.abs(tinted[cy, cx] - plain[cy, cx]).max(axis=1)[big[120:]] == 0).mean() > 0.9  # the rest as it was


def test_reference_photo_selects_that_face_only(shared_faces, demo, detector, tmp_path):
    pytest.importorskip("dlib", reason="--reference needs the [reference] extra (dlib-bin)")
    from fastswap.cli import main

    group_path = shared_faces / "group-t1.jpg"
    group = read_image(group_path)
    faces = detector.detect(group)
    assert len(faces) == 6
    x0, y0, x1, y1 = (int(v) for v in faces[4].bbox)
    ref = cv2.resize(group[max(0, y0 - 60) : y1 + 60, max(0, x0 - 60) : x1 + 60], None, fx=2, fy=2)
    cv2.imwrite(str(tmp_path / "ref.png"), ref)
    cv2.imwrite(str(tmp_path / "src.png"), demo["astronaut"])
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "swap",
                str(tmp_path / "src.png"),
                str(group_path),
                "-o",
                str(out),
                "--reference",
                str(tmp_path / "ref.png"),
            ]
        )
        == 0
    )
    result = cv2.imread(str(out))
    for i, f in enumerate(faces):
        region = quality.fill(group.shape[:2], f.points[mesh.FACE_OUTLINE]) > 0
        changed = (np.abs(result.astype(int) - group).max(axis=2) > 8)[region].mean()
        assert (changed > 0.3) == (i == 4), (i, changed)


def test_robust_boundary_clamps_only_outliers_on_the_ring():
    rng = np.random.default_rng(0)
    warped = np.full((60, 60, 3), 120, np.uint8)
    target = np.clip(130 + rng.normal(0, 2, (60, 60, 3)), 0, 255).astype(np.uint8)
    target[45:, :, :] = 10  # a dark collar under part of the face's boundary
    mask = np.zeros((60, 60), np.uint8)
    cv2.circle(mask, (30, 28), 20, 255, -1)
    out = quality.robust_boundary(warped, target, mask)
    # the Poisson boundary: pixels off the mask with a 4-neighbour on it
    inside = mask > 0
    near = np.zeros_like(inside)
    near[1:] |= inside[:-1]
    near[:-1] |= inside[1:]
    near[:, 1:] |= inside[:, :-1]
    near[:, :-1] |= inside[:, 1:]
    ring = near & ~inside
    assert np.array_equal(quality.boundary_ring(mask) > 0, ring)
    dark = ring & (np.arange(60)[:, None] >= 45)
    assert dark.sum() > 0
    assert np.array_equal(out[~ring], target[~ring])  # nothing but the boundary ring changes
    assert np.abs(out[ring & ~dark].astype(int) - target[ring & ~dark]).max() <= 8  # inliers barely move
    assert out[dark].mean() > 100  # the collar's outlier differences are clamped


def test_robust_boundary_leaves_the_targets_skin_alone():
    """A beard under most of the boundary sets the median; the skin above it (a forehead) is then the
    outlier. Clamped, it no longer meets the target's skin beside it (a seam); with ``skin`` it keeps
    the target's values exactly, and the beard is still clamped."""
    warped = np.full((80, 80, 3), 120, np.uint8)
    target = np.full((80, 80, 3), 150, np.uint8)  # skin 30 levels lighter than the warped face
    target[30:, :, :] = 40  # a dark beard under the lower part of the face
    mask = np.zeros((80, 80), np.uint8)
    cv2.circle(mask, (40, 40), 30, 255, -1)
    skin = np.where(np.arange(80)[:, None] < 30, 255, 0).astype(np.uint8) * np.ones((1, 80), np.uint8)
    ring = quality.boundary_ring(mask) > 0
    top, beard = ring & (skin > 0), ring & (skin == 0)
    assert beard.sum() > top.sum() > 0
    plain = quality.robust_boundary(warped, target, mask)
    assert np.abs(plain[top].astype(int) - target[top]).min() > 20  # the skin clamped towards the beard
    out = quality.robust_boundary(warped, target, mask, skin=skin)
    assert np.array_equal(out[top], target[top])
    assert np.array_equal(out[beard], plain[beard])  # the beard as before: clamped
    assert np.array_equal(out[~ring], target[~ring])


def _rot(yaw: float, roll: float) -> np.ndarray:
    cy, sy, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    return np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])


def test_identity_shape_moves_only_the_identity(demo_faces):
    face = demo_faces["astronaut"][0]
    dst = face.landmarks[: mesh.NUM_MESH_POINTS].astype(np.float64)
    size = face.size
    # The same face posed differently (3-D rotation, scale, shift) carries no identity difference.
    posed = (dst - dst.mean(0)) @ _rot(0.2, 0.15).T * 1.4 + (40, -25, 7)
    out = quality.identity_shape(posed, dst, size, 1.0)
    assert np.abs(out - dst[:, :2]).max() < 0.05 * size * 0.05  # under 0.25% of the face size
    # A source whose eyes sit wider apart: the result's eyes move apart by a share of it.
    wide = dst.copy()
    for loop in (mesh.LEFT_EYE, mesh.RIGHT_EYE):
        centre = dst[loop, :2].mean(0)
        near = np.linalg.norm(dst[:, :2] - centre, axis=1) < 0.12 * size
        wide[near, 0] += np.sign(centre[0] - dst[:, 0].mean()) * 0.04 * size  # outwards

    def eye_gap(p):
        return float(np.linalg.norm(p[mesh.LEFT_EYE].mean(0) - p[mesh.RIGHT_EYE].mean(0)))

    gaps = {s: eye_gap(quality.identity_shape(wide, dst, size, s)) for s in (0.0, 0.5, 1.0)}
    assert gaps[0.0] == pytest.approx(eye_gap(dst[:, :2]), abs=1e-3)
    assert gaps[0.5] > gaps[0.0] + 0.01 * size and gaps[1.0] > gaps[0.5] + 0.01 * size, gaps
    assert gaps[1.0] < eye_gap(dst[:, :2]) + 0.08 * size + 1e-3, gaps  # never more than the source's
    # The outline and pinned points stay exactly where the target has them.
    out = quality.identity_shape(wide, dst, size, 1.0, pinned=mesh.LIPS_INNER)
    for idx in (mesh.FACE_OUTLINE, mesh.LIPS_INNER):
        assert np.abs(out[idx] - dst[idx, :2]).max() < 1e-3


def test_identity_shape_smooths_with_the_weights_given(demo_faces):
    """``mesh_smoothing`` rows sum to 1 and fall off with distance; ``identity_shape`` with the
    target's own weights is the default, with other weights (the source's, as the pipeline passes)
    it smooths over those."""
    face = demo_faces["astronaut"][0]
    dst = face.landmarks[: mesh.NUM_MESH_POINTS].astype(np.float64)
    size = face.size
    weights = quality.mesh_smoothing(dst[:, :2], size)
    assert weights.shape == (468, 468) and np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    d = np.linalg.norm(dst[:, None, :2] - dst[None, :, :2], axis=2)
    far = d > 4 * quality.SHAPE_SMOOTH * size  # 4 sigmas away
    peak = np.broadcast_to(weights.max(axis=1, keepdims=True), weights.shape)
    assert (weights[far] < 1e-3 * peak[far]).all()
    wide = dst.copy()
    wide[mesh.LEFT_EYE, 0] -= 0.03 * size  # eyes set wider
    wide[mesh.RIGHT_EYE, 0] += 0.03 * size
    default = quality.identity_shape(wide, dst, size, 1.0)
    assert np.allclose(quality.identity_shape(wide, dst, size, 1.0, weights=weights), default, atol=1e-3)
    wider = quality.mesh_smoothing(dst[:, :2], size, smooth=4 * quality.SHAPE_SMOOTH)
    moved = quality.identity_shape(wide, dst, size, 1.0, weights=wider)
    assert np.abs(moved - default).max() > 0.05 * 0.03 * size  # another smoothing, another result


def test_shape_option_carries_the_source_proportions(shared_faces, detector):
    """On real photos: with ``shape`` the result's landmarks (found by the detector in the result)
    sit closer to the source's face shape, pose removed, than without."""
    source, target = read_image(shared_faces / "img2.jpg"), read_image(shared_faces / "img13.jpg")
    src = max(detector.detect(source), key=lambda f: f.size).landmarks[: mesh.NUM_MESH_POINTS]
    tgt = max(detector.detect(target), key=lambda f: f.size)
    inner = np.setdiff1d(np.arange(mesh.NUM_MESH_POINTS), mesh.FACE_OUTLINE)
    dist = {}
    for s in (0.0, 0.6):
        with FaceSwapper(source, detector=detector, shape=s) as fs:
            res = fs.swap(target, faces="largest")
        lm = max(detector.detect(res), key=lambda f: f.size).landmarks[: mesh.NUM_MESH_POINTS].astype(np.float64)
        fitted = quality.similarity_3d(src.astype(np.float64), lm)
        dist[s] = float(np.linalg.norm((fitted - lm)[inner, :2], axis=1).mean() / tgt.size)
    assert dist[0.6] < 0.85 * dist[0.0], dist
    with pytest.raises(Exception, match="shape must be in"):
        FaceSwapper(source, detector=detector, shape=1.5)


def edge_step(image: np.ndarray, mask: np.ndarray, face_size: float, rows: int) -> float:
    """Mean CIELAB colour step across ``mask``'s edge above row ``rows``: at each boundary pixel,
    the mean colour of the mask's outermost band (1% of the face size) nearby against the band just
    outside it."""
    r = max(2, int(round(0.01 * face_size)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    inner = ((mask > 0) & (cv2.erode(mask, disk) == 0)).astype(np.float32)
    outer = ((cv2.dilate(mask, disk) > 0) & (mask == 0)).astype(np.float32)
    win = (4 * r + 1, 4 * r + 1)
    ci, co = cv2.blur(inner, win), cv2.blur(outer, win)
    ring = (quality.boundary_ring(mask) > 0) & (ci > 0.05) & (co > 0.05)
    ring[rows:] = False
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    mi = cv2.blur(lab * inner[:, :, None], win) / np.maximum(ci, 1e-6)[:, :, None]
    mo = cv2.blur(lab * outer[:, :, None], win) / np.maximum(co, 1e-6)[:, :, None]
    return float(np.linalg.norm((mi - mo)[ring], axis=1).mean())


def test_no_seam_where_the_targets_skin_goes_on(shared_faces, detector):
    """img1 into img16: img16's beard under most of the mask's edge made its forehead's boundary an
    outlier, clamped, and a seam showed across the forehead (a step of 10 delta E where the target
    has 4). Now the step across the edge above the brows is about the target's own."""
    source, target = read_image(shared_faces / "img1.jpg"), read_image(shared_faces / "img16.jpg")
    face = max(detector.detect(target), key=lambda f: f.size)
    with FaceSwapper(source, detector=detector, debug=True) as fs:
        report = fs.swap_report(target, faces="largest")
    info = report.faces[0]
    x0, y0, x1, y1 = info.roi
    brows = int(face.points[list(quality.BROW_POINTS), 1].min()) - y0
    own = edge_step(target[y0:y1, x0:x1], info.mask, face.size, brows)
    step = edge_step(report.image[y0:y1, x0:x1], info.mask, face.size, brows)
    assert step < own + 1.0, (step, own)


def test_shape_leaves_the_lips_to_the_target(shared_faces, detector):
    """``shape`` carries proportions, not expression: the result's lips (found by the detector in
    the result) stay where the target's are, as with ``shape=0``. img13's mouth is wider than img2's;
    carried over (before the lips were pinned) it moved img2's lips by 0.006 of the eye distance more."""
    source, target = read_image(shared_faces / "img13.jpg"), read_image(shared_faces / "img2.jpg")
    tgt = max(detector.detect(target), key=lambda f: f.size).points[: mesh.NUM_MESH_POINTS]
    lips = np.r_[mesh.LIPS_OUTER, mesh.LIPS_INNER]
    eyes = float(np.linalg.norm(tgt[mesh.LEFT_EYE].mean(0) - tgt[mesh.RIGHT_EYE].mean(0)))
    err = {}
    for s in (0.0, 0.6):
        with FaceSwapper(source, detector=detector, shape=s) as fs:
            res = fs.swap(target, faces="largest")
        lm = max(detector.detect(res), key=lambda f: f.size).points[: mesh.NUM_MESH_POINTS]
        err[s] = float(np.linalg.norm(lm[lips] - tgt[lips], axis=1).mean() / eyes)
    assert err[0.6] < err[0.0] + 0.003, err


def test_cli_defaults_are_the_pipelines():
    from fastswap import cli, pipeline

    assert cli.SHAPE_DEFAULT == pipeline.SHAPE
    from fastswap import video

    assert cli.H264_PRESETS == video.H264_PRESETS and video.H264_PRESET == cli.H264_PRESETS[0]
    assert cli.FADE_DEFAULT == quality.FADE


@pytest.mark.parametrize("r", [1, 4, 9, 15, 30])
def test_erode_round_is_a_disk_erosion_within_8_percent(r):
    mask = np.zeros((300, 260), np.uint8)
    cv2.ellipse(mask, (130, 150), (110, 130), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (20, 20), (90, 60), 255, -1)  # corners and straight edges too
    disk = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    out = quality.erode_round(mask, r)
    k = max(1, int(np.ceil(0.08 * r)))  # a regular octagon's corners lie 8% beyond its inscribed circle
    grow = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
    assert not np.any((out > 0) & (cv2.dilate(disk, grow) == 0))
    assert not np.any((disk > 0) & (cv2.dilate(out, grow) == 0))
    assert np.array_equal(quality.erode_round(mask, 0), mask)


@pytest.mark.parametrize("r", [1, 4, 15, 30])
def test_dilate_round_is_a_disk_dilation_within_8_percent(r):
    mask = np.zeros((300, 260), np.uint8)
    cv2.ellipse(mask, (130, 150), (60, 80), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (40, 30), (90, 60), 255, -1)
    mask[5:8, 100:140] = 255  # a strand at the border: the outside counts as 0, not as mask
    disk = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    out = quality.dilate_round(mask, r)
    k = max(1, int(np.ceil(0.08 * r)))
    grow = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
    assert not np.any((out > 0) & (cv2.dilate(disk, grow) == 0))
    assert not np.any((disk > 0) & (cv2.dilate(out, grow) == 0))
    assert np.array_equal(quality.dilate_round(mask, 0), mask)


@pytest.mark.parametrize("kind", ["smooth", "bright", "noise", "view", "tiny"])
def test_apply_gain_fast_path_matches_opencv(kind):
    """With the C++ extension, apply_gain is one pass over the pixels; it must give the OpenCV
    reference's bytes within the tolerance table's rounding allowance: gains brought up from sizes
    that divide the image's or not (larger than it too), highlights past the knee, a box cut from a
    larger image, images a pixel across."""
    from tolerances import TOLERANCES

    from fastswap import backends

    if backends.status()["cpu"] is not None:
        pytest.skip(f"the cpu backend is missing ({backends.status()['cpu']}): apply_gain is OpenCV's alone")
    rng = np.random.default_rng(11)
    hot = 0
    for _ in range(12):
        h, w = (int(v) for v in rng.integers(2 if kind == "view" else 1, 6 if kind == "tiny" else 400, 2))
        gh, gw = (int(v) for v in rng.integers(1, 40, 2))
        if kind == "noise":
            img = rng.integers(0, 256, (h, w, 3), np.uint8)
        else:  # a shaded face-like image
            yy, xx = np.mgrid[0:h, 0:w]
            base = 120 + 100 * np.sin(xx / 37.0 + 0.5) * np.cos(yy / 53.0)
            img = np.clip(base[:, :, None] * (0.8, 0.9, 1.0) + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
        lo, hi = (1.4, 2.5) if kind == "bright" else (0.4, 2.5)
        gain = rng.uniform(lo, hi, (gh, gw, 3)).astype(np.float32)
        if kind == "view":
            big = rng.integers(0, 256, (h + 20, w + 30, 3), np.uint8)
            big[7 : 7 + h, 11 : 11 + w] = img
            img = big[7 : 7 + h, 11 : 11 + w]  # rows apart
            assert not img.flags.c_contiguous
        fast = quality.apply_gain(img, gain)
        ref = quality.apply_gain_opencv(img, gain)
        assert fast.shape == ref.shape == (h, w, 3) and fast.dtype == np.uint8
        diff = np.abs(fast.astype(np.int16) - ref)
        assert diff.max() <= TOLERANCES["gain_max_abs"], (kind, h, w, gh, gw)
        assert (diff > 0).mean() <= TOLERANCES["gain_max_share"] or (diff > 0).sum() <= 1, (kind, h, w, gh, gw)
        hot += int((ref.max(axis=2) > quality.KNEE).sum())
    if kind == "bright":
        assert hot > 1000  # the knee was exercised
    # a gain of 1 leaves every pixel at or below the knee as it is
    low = img.max(axis=2) <= quality.KNEE
    assert np.array_equal(quality.apply_gain(img, np.ones((3, 4, 3), np.float32))[low], img[low])


@pytest.mark.parametrize("kind", ["face masks", "ellipses", "noise", "blobs", "holes and lines"])
def test_erode_round_fast_path_gives_opencvs_bytes(kind, demo, demo_faces):
    """With the C++ extension, erode_round works on the mask's runs of pixels; it must give the bytes
    of the two OpenCV erosions it replaces: masks touching the image's edges (where OpenCV counts the
    outside as 255), several runs per row, empty and full rows, radii 0 to 24."""
    from fastswap import backends

    if backends.status()["cpu"] is not None:
        pytest.skip(f"the cpu backend is missing ({backends.status()['cpu']}): erode_round is OpenCV's alone")
    rng = np.random.default_rng(3)
    masks = []
    if kind == "face masks":  # the face outlines of the demo photos' faces
        for faces in demo_faces.values():
            for f in faces:
                pts = f.points[: mesh.NUM_MESH_POINTS]
                x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 5
                shape = tuple(int(v) for v in np.ceil(pts.max(axis=0) - (x0, y0)).astype(int)[::-1] + 6)
                masks.append(quality.fill(shape, pts[mesh.FACE_OUTLINE] - (x0, y0)))
    for _ in range(0 if kind == "face masks" else 40):
        h, w = int(rng.integers(1, 150)), int(rng.integers(1, 150))
        if kind == "ellipses":  # often cut by the image's edges
            m = np.zeros((h, w), np.uint8)
            centre = (int(rng.integers(-10, w + 10)), int(rng.integers(-10, h + 10)))
            axes = (int(rng.integers(1, w + 20)), int(rng.integers(1, h + 20)))
            cv2.ellipse(m, centre, axes, float(rng.integers(0, 180)), 0, 360, 255, -1)
        elif kind == "noise":
            m = (rng.random((h, w)) < rng.random()).astype(np.uint8) * 255
        elif kind == "blobs":
            blur = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 3)
            m = (blur > np.median(blur)).astype(np.uint8) * 255
        else:
            m = np.full((h, w), 255, np.uint8)
            m[rng.random((h, w)) < 0.01] = 0
            m[:, int(rng.integers(0, w))] = 0
            m[int(rng.integers(0, h)), :] = 0
        masks.append(m)
    for i, m in enumerate(masks):
        for r in (0, 1, 2, 5, 9, 15, 24):
            fast, slow = quality.erode_round(m, r), quality.erode_round_opencv(m, r)
            assert np.array_equal(fast, slow), f"mask {i} ({m.shape}), r={r}: {int((fast != slow).sum())} pixels differ"


def test_source_hair_inside_the_outline_is_never_blended(demo, detector):
    """Dark hair painted over one side of the source's outline (after detection, as when hair falls
    over a cheek) is found by ``source_skin`` and left out of the blend mask; the inner face is kept."""
    from dataclasses import replace

    clean, img, painted = painted_hair(demo, detector)
    pts, size = clean.points, clean.face.size
    outline = quality.fill(img.shape[:2], pts[mesh.FACE_OUTLINE]) > 0
    skin = quality.source_skin(img, pts, size)
    assert skin is not None
    assert (skin[painted & outline] == 0).mean() > 0.9  # the hair is marked
    core = quality.erode_round(outline.astype(np.uint8) * 255, int(0.2 * size))
    assert (skin[core > 0] == 255).all()  # the inner face is not

    def hair_blended(prepared) -> int:
        with FaceSwapper(prepared, detector=detector, debug=True) as fs:
            info = fs.swap_report(demo["grace_hopper"]).faces[0]
        return int(((info.warped.max(axis=2) < 40) & (info.mask > 0)).sum())

    with_skin, without = (
        hair_blended(replace(clean, image=img, skin=skin)),
        hair_blended(replace(clean, image=img, skin=None)),
    )
    assert without > 100 and with_skin < 0.05 * without, (with_skin, without)


def test_foreshortened_outline_of_a_near_frontal_source_is_drawn_from_the_other_side(
    shared_faces, detector, monkeypatch
):
    # img16 is turned a little (98.8% of its mesh faces the camera, above quality.TURNED): its far
    # cheek's triangles along the outline are seen at under half their mirror triangles' area, and
    # drawn from themselves into a frontal face (img13) they were stretched into a smeared stripe.
    import fastswap.pipeline as pipeline
    from fastswap.pipeline import OBLIQUE_MAX, OUTER_BAND, drawn_triangles

    with FaceSwapper(read_image(shared_faces / "img16.jpg"), detector=detector) as fs:
        use, prepared = fs.triangle_source.copy(), fs.prepared
    assert quality.visible_fraction(prepared.points) >= quality.TURNED
    signed = quality.triangle_areas(prepared.points[mesh.TRIANGLES])
    oblique = OUTER_BAND & (signed < OBLIQUE_MAX * signed[mesh.MIRROR_TRIANGLE])
    assert oblique.sum() >= 10 and (use[oblique] == 1).all()
    assert not (use[~oblique] == 1).any()  # nothing else is mirrored (no hair over this face)
    # the share of the target face's area drawn from texture stretched more than 2x falls: 8.6%
    # with these triangles drawn from themselves, 4.7% from their mirrors (before the outline's
    # most stretched triangles are left to the target: pipeline.outline_stretched)
    monkeypatch.setattr(pipeline, "STRETCH_MAX", np.inf)
    face = max(detector.detect(read_image(shared_faces / "img13.jpg")), key=lambda f: f.size)
    now = quality.stretched_share(*drawn_triangles(prepared, use, face.points[:468]))
    before = quality.stretched_share(*drawn_triangles(prepared, np.where(oblique, 0, use), face.points[:468]))
    assert now < 0.6 * before, (now, before)


def test_stretched_share_counts_area_stretched_against_the_face_scale():
    rng = np.random.default_rng(5)
    src = rng.uniform(0, 100, (50, 3, 2))
    assert quality.stretched_share(src, src * 3.0) == 0.0  # a larger face is not stretched
    dst = src * 3.0
    dst[:5] = src[:5, :1] + (src[:5] - src[:5, :1]) * 3.0 * np.sqrt(3.0)  # 3x the others' area gain
    e1, e2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    share = quality.stretched_share(src, dst)
    # the face scale (about 10.8x) moves with the 5 stretched ones: about 2.5x for them, 0.8x for the rest
    assert share == pytest.approx(area[:5].sum() / area.sum())


BLOND = np.array([(100, 177, 199), (66, 141, 160), (130, 209, 233)], np.uint8)  # CIELAB (L, 126, 170)


def painted_blond_strands(demo, detector):
    """The astronaut's prepared face (clean), and a copy of its crop with slanted blond strands (three
    shades, 1 pixel each) painted over its right cheek from the outline a quarter of the face size
    in, between the eye and the mouth: (clean, image, painted)."""
    from fastswap.pipeline import prepare_source

    clean = prepare_source(demo["astronaut"], detector)
    img, pts, size = clean.image.copy(), clean.points, clean.face.size
    x0 = int(pts[mesh.FACE_OUTLINE, 0].max() - 0.25 * size)
    y0 = int(pts[mesh.LEFT_EYE, 1].max() + 0.08 * size)
    y1 = int(pts[mesh.LIPS_OUTER, 1].mean())
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    painted = (yy >= y0) & (yy < y1) & (xx >= x0)
    img[painted] = BLOND[((xx + yy // 7) % 3)[painted]]
    return clean, img, painted


def blond_share(image: np.ndarray, where: np.ndarray) -> float:
    """Share of ``where`` whose colour is within 12 (CIELAB) of one of the painted blond shades."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)[where]
    ref = cv2.cvtColor(BLOND[None], cv2.COLOR_BGR2LAB).astype(np.float32)[0]
    return float((np.linalg.norm(lab[:, None, :] - ref[None], axis=2).min(axis=1) < 12).mean())


def test_light_hair_over_the_source_is_found_and_painted_over(demo, detector):
    """Blond strands over the source's cheek pass the brightness test of ``source_skin``; ``hair_mask``
    finds them by colour (and nothing on the clean face), ``fill_hair`` paints them over with the
    skin's colour, and with ``fill_hair`` (default) they no longer reach the target's face."""
    from dataclasses import replace

    clean, img, painted = painted_blond_strands(demo, detector)
    pts, size = clean.points, clean.face.size
    outline = quality.fill(img.shape[:2], pts[mesh.FACE_OUTLINE]) > 0
    on = painted & outline
    assert on.sum() > 500
    assert quality.hair_mask(clean.image, pts, size) is None  # nothing on the clean face
    skin = quality.source_skin(img, pts, size)
    assert skin is None or (skin[on] == 0).mean() < 0.2  # the brightness test takes the strands for skin
    hair = quality.hair_mask(img, pts, size)
    assert hair is not None
    assert (hair[on] > 0).mean() > 0.9, (hair[on] > 0).mean()
    # the strands' edge (grown 3%), and the temple's edge beside the eye above them, up to her own
    # hair, followed step by step: 4.5% of the face (2.9% before, in one step and with an opening)
    assert ((hair > 0) & outline & ~painted).sum() < 0.05 * outline.sum()
    filled = quality.fill_hair(img, pts, hair, size)
    assert blond_share(img, on) > 0.9 and blond_share(filled, on) < 0.05
    assert (filled[~outline] == img[~outline]).all()  # only the face is painted over

    yellow_outline = {}

    def result(prepared, **kw) -> tuple[np.ndarray, np.ndarray]:
        from fastswap.cli import debug_picture

        with FaceSwapper(prepared, detector=detector, debug=True, **kw) as fs:
            res = fs.swap_report(demo["grace_hopper"])
            picture = debug_picture(fs, demo["grace_hopper"], res)  # the painted-over hair outlined in yellow
            yellow_outline[kw.get("fill_hair", True)] = int(np.all(picture == (0, 255, 255), axis=2).sum())
        x0, y0, x1, y1 = res.faces[0].roi
        return res.image[y0:y1, x0:x1]

    def lab(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)

    def detail(image: np.ndarray) -> np.ndarray:  # luma minus its blur: the strands' fine stripes
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5))

    painted_source = replace(clean, image=img, skin=skin)
    want, filled_out, drawn_out = result(clean), result(painted_source), result(painted_source, fill_hair=False)
    strands = np.linalg.norm(lab(drawn_out) - lab(want), axis=2) > 25  # where the strands land
    assert strands.sum() > 300
    yellow = {
        k: float((lab(v)[:, :, 2] - lab(v)[:, :, 1])[strands].mean())
        for k, v in (("clean", want), ("filled", filled_out), ("drawn", drawn_out))
    }
    assert yellow["drawn"] > yellow["clean"] + 10 and abs(yellow["filled"] - yellow["clean"]) < 5, yellow
    assert detail(filled_out)[strands].mean() < 0.3 * detail(drawn_out)[strands].mean()
    assert yellow_outline[True] > 20 and yellow_outline[False] == 0, yellow_outline


def test_light_hair_on_real_photos(shared_faces, detector):
    """img3's blond hair over both cheeks and temples is found (over 15% of its face, and the strands
    over an eyebrow's tail), img8's strand across an eyebrow and below it, img12's warmer strands by
    their detail, nothing on the faces without light hair over them, and hardly the inner face;
    swapped into other photos, the face where the painted-over hair would have landed has half the
    fine detail (strands) of the swap with ``fill_hair=False``, and into img20 it is less yellow
    (closer to the target's skin)."""
    from fastswap.pipeline import prepare_source

    def lab(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)

    def detail(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5))

    shares = {}
    for name in ("img3", "img2", "img4", "img5", "img9", "img11", "img13", "img14", "img16", "img17"):
        p = prepare_source(read_image(shared_faces / f"{name}.jpg"), detector)
        face = quality.fill(p.image.shape[:2], p.points[mesh.FACE_OUTLINE])
        inner = quality.erode_round(face, int(0.15 * p.face.size)) > 0
        hair = quality.hair_mask(p.image, p.points, p.face.size)
        hair = np.zeros(face.shape, bool) if hair is None else hair > 0
        shares[name] = float(hair[face > 0].mean())
        assert hair[inner].mean() < 0.03, (name, hair[inner].mean())  # img3: 2.0%, its strands reach in
    assert shares.pop("img3") > 0.15 and max(shares.values()) < 0.005, shares
    # img12's hair is as warm as its skin: its strands are found by their fine detail, near the
    # yellower hair found first (2% of its face without that extension)
    p = prepare_source(read_image(shared_faces / "img12.jpg"), detector)
    face = quality.fill(p.image.shape[:2], p.points[mesh.FACE_OUTLINE]) > 0
    hair = quality.hair_mask(p.image, p.points, p.face.size)
    assert hair is not None and (hair[face] > 0).mean() > 0.04, (hair[face] > 0).mean()
    # and followed along its length: the strand down her left temple and cheek (the image's left), from
    # a tenth of the face above the eyes to the lips, within 8% of the outline (a third of it was found
    # when the extension reached 8% of the face size from the hair found first, once)
    h, w = face.shape
    band = face & (quality.erode_round(face.astype(np.uint8) * 255, int(round(0.08 * p.face.size))) == 0)
    ys, xs = np.mgrid[:h, :w]
    top = min(p.points[mesh.LEFT_EYE][:, 1].mean(), p.points[mesh.RIGHT_EYE][:, 1].mean()) - 0.1 * p.face.size
    side = band & (xs < p.points[:, 0].mean()) & (ys > top) & (ys < p.points[mesh.LIPS_OUTER][:, 1].mean())
    assert side.sum() > 500 and (hair[side] > 0).mean() > 0.8, (side.sum(), (hair[side] > 0).mean())
    # the painted-over hair carries the skin's fine texture (grain): the spread of img3's lightness
    # between 0.15% and 0.6% of the face size inside the painted area about the skin's (0.12 of it
    # without the grain: smooth smudges beside the skin's pores)
    p = prepare_source(read_image(shared_faces / "img3.jpg"), detector).without_hair("cpu")
    size = p.face.size
    grey = cv2.cvtColor(p.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    band = grey - cv2.GaussianBlur(grey, (0, 0), 0.006 * size)
    face = quality.fill(p.hair.shape, p.points[mesh.FACE_OUTLINE]) > 0
    painted = quality.erode_round(p.hair, int(0.02 * size)) > 0
    skin = face & (quality.dilate_round(p.hair, int(0.02 * size)) == 0)
    skin &= quality.feature_mask(p.hair.shape, p.points, size) == 0

    def spread(where: np.ndarray) -> float:
        return float(1.4826 * np.median(np.abs(band[where] - np.median(band[where]))))

    assert painted.sum() > 10000 and 0.7 < spread(painted) / spread(skin) < 1.4, spread(painted) / spread(skin)
    # img3's strands over the tail of its left eyebrow (darkened by the brow under them): found, not
    # left as a yellow speck beside the painted temple (4% of the brow's hull before, 11% now)
    p = prepare_source(read_image(shared_faces / "img3.jpg"), detector)
    hair = quality.hair_mask(p.image, p.points, p.face.size)
    brow = quality._grown_hulls(hair.shape, p.points, (mesh.LEFT_EYEBROW,), 0) > 0
    assert (hair[brow] > 0).mean() > 0.08, (hair[brow] > 0).mean()
    # img8's strand over its left eyebrow's tail is as dark as the brow there, but yellower than the
    # brow: found across the brow (2% of the hull when lightness alone decided, 24% now), and so is
    # its lower half, beside the eye (none of the face between the eye and the nose tip before, 3.4%)
    p = prepare_source(read_image(shared_faces / "img8.jpg"), detector)
    hair = quality.hair_mask(p.image, p.points, p.face.size)
    brow = quality._grown_hulls(hair.shape, p.points, (mesh.LEFT_EYEBROW,), 0) > 0
    face = quality.fill(hair.shape, p.points[mesh.FACE_OUTLINE]) > 0
    beside = np.zeros_like(face)
    beside[int(p.points[mesh.LEFT_EYE, 1].max()) : int(p.points[1, 1]), int(p.points[1, 0]) :] = True
    assert (hair[brow] > 0).mean() > 0.12, (hair[brow] > 0).mean()
    assert (hair[beside & face] > 0).mean() > 0.015, (hair[beside & face] > 0).mean()

    source = read_image(shared_faces / "img3.jpg")
    for target_name in ("img1.jpg", "img20.jpg"):
        target = read_image(shared_faces / target_name)
        out = {}
        for fill_hair in (True, False):
            with FaceSwapper(source, detector=detector, debug=True, fill_hair=fill_hair) as fs:
                res = fs.swap_report(target, faces="largest")
            info = next(f for f in res.faces if f.swapped)
            x0, y0, x1, y1 = info.roi
            out[fill_hair] = res.image[y0:y1, x0:x1]
        where = (np.linalg.norm(lab(out[True]) - lab(out[False]), axis=2) > 20) & (info.mask > 0)
        assert where[info.mask > 0].mean() > 0.02, target_name  # the hair's place in the face
        yellow = {k: float((lab(v)[:, :, 2] - lab(v)[:, :, 1])[where].mean()) for k, v in out.items()}
        tgt = lab(target[y0:y1, x0:x1])
        own = float((tgt[:, :, 2] - tgt[:, :, 1])[where].mean())
        # into img1 the colour-corrected strands are hardly yellower than the painted skin (median
        # b* - a* 4 both; means 5.0 painted, 4.6 drawn, img1's own 3.1, since the mirror patches meet
        # the face drawn beside them; 5.3 drawn before): there the strands show by their detail only
        if target_name == "img20.jpg":  # 5.1 painted, 7.5 drawn, img20's own 4.5
            assert abs(yellow[True] - own) < abs(yellow[False] - own), (target_name, yellow, own)
        assert detail(out[True])[where].mean() < 0.6 * detail(out[False])[where].mean(), target_name


def test_hair_covered_source_triangles_are_drawn_from_the_other_side(demo, detector):
    """With the same painted hair, the triangles under it are drawn from their mirror triangles and
    fitted in: the blend mask has no notch there, and the result there is the clean source's face
    (within a few levels), not the target's; ``mirror=False`` leaves the notch."""
    from dataclasses import replace

    clean, img, _ = painted_hair(demo, detector)
    hair = replace(clean, image=img, skin=quality.source_skin(img, clean.points, clean.face.size))

    def run(prepared, **kw):
        with FaceSwapper(prepared, detector=detector, debug=True, **kw) as fs:
            res = fs.swap_report(demo["grace_hopper"])
        info = res.faces[0]
        x0, y0, x1, y1 = info.roi
        return info.mask > 0, res.image[y0:y1, x0:x1].astype(int)

    # the triangles left out without the mirror fill (under the paint) are drawn from their mirror
    # triangles with it; the others as in the clean face (from themselves, but for the few oblique
    # ones along the far outline that the clean face draws from its other side too)
    with FaceSwapper(hair, detector=detector, mirror=False) as fs:
        off = fs.triangle_source.copy()
    with FaceSwapper(hair, detector=detector) as fs:
        on = fs.triangle_source.copy()
    with FaceSwapper(clean, detector=detector) as fs:
        own = fs.triangle_source.copy()
    assert (off == -1).sum() >= 10 and not (off == 1).any()
    assert (on[off == -1] == 1).mean() > 0.8, ((off == -1).sum(), (on == 1).sum())
    changed = (off == 0) & (on != 0)
    assert (on[changed] == 1).all() and (own[changed] == 1).all(), (changed.sum(), (own == 1).sum())

    mask_clean, out_clean = run(clean)
    mask_mirror, out_mirror = run(hair)
    mask_off, out_off = run(hair, mirror=False)
    assert mask_mirror.sum() >= 0.99 * mask_clean.sum(), (mask_mirror.sum(), mask_clean.sum())
    assert mask_off.sum() < 0.95 * mask_clean.sum(), (mask_off.sum(), mask_clean.sum())
    filled = mask_mirror & ~mask_off
    err_mirror = np.abs(out_mirror - out_clean)[filled].mean()
    err_off = np.abs(out_off - out_clean)[filled].mean()
    assert err_mirror < 8 and err_off > 3 * err_mirror, (err_mirror, err_off)


def test_mirror_patches_are_each_fitted_in_on_their_own(shared_faces, detector):
    """Each patch drawn from the source's other side is fitted in by a Poisson solve of its own:
    the correction it gets (result - mirror texture) is smooth inside it. Solved over the whole
    fill of its box, a neighbouring patch reaching into that box was solved again against the box's
    edge, where the target's pixels stood: an axis-aligned wedge of the target's colour, a step of
    about 20 levels inside the patch (img14 into img11_reflection, jaw near the ear)."""
    with FaceSwapper(read_image(shared_faces / "img14.jpg"), detector=detector, shape=0.0) as fs:
        target = read_image(shared_faces / "img11_reflection.jpg")
        face = max(detector.detect(target), key=lambda f: f.size)
        pts = face.points[: mesh.NUM_MESH_POINTS]
        x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 10
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 10
        roi = np.ascontiguousarray(target[y0:y1, x0:x1])
        dst = np.ascontiguousarray(pts - (x0, y0), np.float32)
        shape = roi.shape[:2]
        assert len(fs._mirror_guide), "img14 has triangles drawn from its other side"
        warped, covered = fs.backend.warp_triangles(fs.prepared.image, fs.prepared.points, dst, fs._triangles, shape)
        extra, drawn = fs.backend.warp_triangles(fs.prepared.image, fs._mirror_points, dst, fs._mirror_guide, shape)
        fill = (drawn > 0) & (covered == 0)
        fs._fill_from_mirror(pipeline.SourceLevel(fs.prepared.image, 1.0), warped, covered, roi, dst, shape, False)
    correction = warped.astype(np.float32) - extra.astype(np.float32)
    inner = cv2.erode(fill.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # 3 pixels in from its edge
    steps = [np.abs(np.diff(correction, axis=a)).max(axis=2) for a in (0, 1)]
    worst = max(steps[0][inner[:-1] & inner[1:]].max(), steps[1][inner[:, :-1] & inner[:, 1:]].max())
    assert fill.sum() > 500 and worst < 6, (fill.sum(), worst)


def test_a_mirror_patch_meets_the_face_drawn_beside_it(shared_faces, detector, monkeypatch):
    """A patch drawn from the source's other side meets the face drawn so far without a step. Where
    its mirror triangles ended at that edge, the guide's pixel beyond it was the face, and the solve
    carried the step between the two sides' lighting into the patch: a dark box on the cheek, 40 to
    60 levels darker than the face beside it (img1 into img18, near the ear). Across the patch's
    edge with the face, the step is now about the face's own from one pixel to the next."""
    import fastswap.pipeline as pipeline

    seen = []
    fill_from_mirror = pipeline.FaceSwapper._fill_from_mirror

    def spy(self, source, warped, covered, *args) -> None:
        before, face_drawn = warped.astype(np.float32), covered > 0
        fill_from_mirror(self, source, warped, covered, *args)
        seen.append((before, face_drawn, warped.astype(np.float32), (covered > 0) & ~face_drawn))

    monkeypatch.setattr(pipeline.FaceSwapper, "_fill_from_mirror", spy)
    with FaceSwapper(read_image(shared_faces / "img1.jpg"), detector=detector) as fs:
        fs.swap(read_image(shared_faces / "img18.jpg"), faces="largest")
    assert len(seen) == 1, "img1 has triangles drawn from its other side"
    before, face_drawn, after, fill = seen[0]
    across, own = [], []
    for a in (0, 1):
        for d in (1, -1):  # each pixel against its neighbour d steps along axis a
            nb_before, nb_drawn = np.roll(before, d, axis=a), np.roll(face_drawn, d, axis=a)
            across.append(np.abs(after - nb_before).mean(axis=2)[fill & nb_drawn])
            own.append(np.abs(before - nb_before).mean(axis=2)[face_drawn & nb_drawn])
    step, texture = np.concatenate(across), np.concatenate(own)
    assert fill.sum() > 2000 and len(step) > 100, (fill.sum(), len(step))
    assert step.mean() < 1.5 * texture.mean() and np.percentile(step, 95) < 15, (
        step.mean(),
        np.percentile(step, 95),
        texture.mean(),
    )


def test_outline_stretched_far_onto_the_target_is_left_to_it(shared_faces, detector, monkeypatch):
    """img14's face is a quarter of img11_reflection's, whose near cheek is turned wide to the camera:
    triangles along img14's outline would be stretched up to 21 times (against the face's scale)
    and their last pixels (the cheek's rim light and the white background's bleed) made a bright
    stripe along the face's edge. Those stretched more than STRETCH_MAX are not drawn (the target's
    own face stays there): the mask's edge band has half as many pixels 20 levels lighter than the
    target's (749 of about 31,000 drawn, 348 not)."""
    import fastswap.pipeline as pipeline

    source, target = read_image(shared_faces / "img14.jpg"), read_image(shared_faces / "img11_reflection.jpg")
    face = max(detector.detect(target), key=lambda f: f.size)
    with FaceSwapper(source, detector=detector) as fs:
        tri = mesh.TRIANGLES[fs.triangle_source == 0]
        src_tri, dst_tri = fs.prepared.points[tri], face.points[: mesh.NUM_MESH_POINTS][tri]
        outer = pipeline.OUTER_BAND[fs.triangle_source == 0]
    stretch = quality.stretch_factors(src_tri, dst_tri)
    found = pipeline.outline_stretched(src_tri, dst_tri, outer)
    assert found.sum() >= 5 and stretch[outer].max() > 10 and not (found & ~outer).any(), found.sum()
    assert (stretch[found] > pipeline.STRETCH_MAX).all()

    # measured without the edge's fade into the target where the boundary is clamped (edge_feather),
    # which softens part of the stripe too
    monkeypatch.setattr(quality, "EDGE_FEATHER", 0.0)

    def lighter_on_the_edge() -> int:
        with FaceSwapper(source, detector=detector, debug=True) as fs:
            res = fs.swap_report(target, faces="largest")
        info = res.faces[0]
        x0, y0, x1, y1 = info.roi
        edge = (info.mask > 0) & (quality.erode_round(info.mask, int(0.03 * face.size)) == 0)
        lum = [cv2.cvtColor(im[y0:y1, x0:x1], cv2.COLOR_BGR2LAB)[:, :, 0].astype(int) for im in (res.image, target)]
        return int(((lum[0] - lum[1])[edge] > 20).sum())

    now = lighter_on_the_edge()
    monkeypatch.setattr(pipeline, "STRETCH_MAX", np.inf)
    before = lighter_on_the_edge()
    assert before > 500 and now < 0.6 * before, (now, before)


def test_edge_feather_fades_the_face_into_the_target_only_near_clamped_boundary():
    """Where the Poisson boundary was clamped (dark hair over the top of the ring), the face fades
    into the target over EDGE_FEATHER of the face size; near the ring's unclamped part, further in,
    and off the mask the solve is left as it is."""
    size = 200.0
    warped = np.full((120, 120, 3), 120, np.uint8)
    target = np.full((120, 120, 3), 150, np.uint8)
    target[:40] = 30  # hair over the top of the face
    mask = np.zeros((120, 120), np.uint8)
    cv2.circle(mask, (60, 60), 45, 255, -1)
    ring = quality.boundary_ring(mask)
    boundary = quality.robust_boundary(warped, target, mask, ring=ring)
    clamped = (ring > 0) & (np.abs(boundary.astype(int) - target).max(axis=2) > 0)
    assert clamped[:40].sum() > 20 and not clamped[40:].any()  # the hair, and only the hair, clamped
    solved = np.full_like(target, 180)
    out = quality.edge_feather(solved, target, boundary, mask, ring, size)
    reach = quality.EDGE_FEATHER * size
    dist = cv2.distanceTransform(np.where(clamped, 0, 255).astype(np.uint8), cv2.DIST_L1, 3)  # city-block
    inside = mask > 0
    near, far = inside & (dist < 0.25 * reach), inside & (dist > reach + 1)
    assert near.sum() > 20 and far.sum() > 1000
    # near the clamped pixels mostly the target, beyond the reach exactly the solve
    assert np.abs(out[near].astype(int) - target[near]).max() < 0.3 * np.abs(180 - target[near].astype(int)).max()
    assert np.array_equal(out[far], solved[far])
    assert np.array_equal(out[~inside], solved[~inside])
    assert np.array_equal(quality.edge_feather(solved, target, boundary, mask, ring, size, width=0.0), solved)


def test_no_hard_edge_where_the_boundary_was_clamped_on_real_photos(shared_faces, detector, monkeypatch):
    """The group photo's profile face: its shadowed chin fails the target's skin test, so the Poisson
    boundary there is clamped, and the swapped face ended in a straight hard edge down the chin. With
    the edge faded into the target (quality.edge_feather) the colour step across the mask's edge at
    the clamped pixels, beyond the target's own step there, falls from 35 to 19 delta E."""
    from fastswap.pipeline import mask_box

    group, faces, turned = most_turned_group_face(shared_faces, detector)
    source = read_image(shared_faces / "img2.jpg")
    cap = {}
    robust = quality.robust_boundary

    def capture(warped, target, mask, k=1.0, ring=None, skin=None):
        out = robust(warped, target, mask, k=k, ring=ring, skin=skin)
        cap["clamped"] = (quality.boundary_ring(mask) > 0) & (np.abs(out.astype(int) - target).max(axis=2) > 0)
        return out

    monkeypatch.setattr(quality, "robust_boundary", capture)

    def excess(width: float) -> float:
        monkeypatch.setattr(quality, "EDGE_FEATHER", width)
        with FaceSwapper(source, detector=detector, debug=True) as fs:
            res = fs.swap_report(group, faces=[turned])
        info = res.faces[0]
        x0, y0, x1, y1 = info.roi
        clamped = np.zeros(info.mask.shape, bool)
        clamped[mask_box(info.mask)] = cap["clamped"]
        r = max(2, int(round(0.02 * faces[turned].size)))
        inside, outside = cv2.erode(info.mask, np.ones((3, 3), np.uint8)) > 0, info.mask == 0
        labs = [cv2.cvtColor(im[y0:y1, x0:x1], cv2.COLOR_BGR2LAB).astype(np.float32) for im in (res.image, group)]
        out = []
        for y, x in zip(*np.nonzero(clamped)):
            win = (slice(max(y - r, 0), y + r + 1), slice(max(x - r, 0), x + r + 1))
            a, b = inside[win], outside[win]
            if a.sum() > 3 and b.sum() > 3:
                res_step, own = (np.linalg.norm(lab[win][a].mean(axis=0) - lab[win][b].mean(axis=0)) for lab in labs)
                out.append(max(res_step - own, 0.0))
        assert len(out) > 20, len(out)
        return float(np.mean(out))

    plain, faded = excess(0.0), excess(0.03)
    assert faded < 0.6 * plain, (faded, plain)


def test_an_open_source_mouth_leaves_no_teeth_between_closed_lips(shared_faces, detector, monkeypatch):
    """img8 and img9 smile with their teeth; img2's mouth is closed. Drawn as they are, the teeth
    (and the dark gap) reach past the inner-lip landmarks and showed as a dashed white line between
    img2's lips. The swapper draws closed mouths from the source with the inside of its mouth painted
    over by its lips (quality.paint_mouth): no teeth-like pixels (lighter than the lips, with under
    60% of their chroma) are left along the lip line (19 and 36 before); and the line between the
    lips takes the target's shading (quality.lip_line): on the inner-lip contour the result is at
    about 0.76 of its lips' lightness (img2 itself 0.60; painted without the line 0.93 to 0.95)."""
    target = read_image(shared_faces / "img2.jpg")
    face = max(detector.detect(target), key=lambda f: f.size)
    assert quality.mouth_openness(face.points, face.size) < quality.MOUTH_OPEN / 2
    line = quality.fill(target.shape[:2], face.points[mesh.LIPS_INNER], dilate=int(round(0.015 * face.size))) > 0
    lips = (quality.fill(target.shape[:2], face.points[mesh.LIPS_OUTER]) > 0) & ~line

    def teeth_like(image: np.ndarray) -> int:
        lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
        lum, chroma = lab[:, :, 0], np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128)
        return int(((lum > np.median(lum[lips]) + 10) & (chroma < 0.6 * np.median(chroma[lips])) & line).sum())

    for name in ("img8.jpg", "img9.jpg"):
        with FaceSwapper(read_image(shared_faces / name), detector=detector) as fs:
            assert fs._mouth_painted is not None  # an open mouth
            painted = teeth_like(fs.swap(target, faces="largest"))
            fs._mouth_painted = None  # the source as it is
            drawn = teeth_like(fs.swap(target, faces="largest"))
        assert drawn >= 15 and painted <= 2, (name, drawn, painted)
    contour = np.zeros(target.shape[:2], np.uint8)
    cv2.polylines(contour, [np.round(face.points[mesh.LIPS_INNER, :2]).astype(np.int32)], True, 255, 1)

    def line_shade(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return float(grey[contour > 0].mean() / np.median(grey[lips]))

    with FaceSwapper(read_image(shared_faces / "img8.jpg"), detector=detector) as fs:
        shaded = line_shade(fs.swap(target, faces="largest"))
        monkeypatch.setattr(quality, "lip_line", lambda *a, **k: None)
        flat = line_shade(fs.swap(target, faces="largest"))
    assert line_shade(target) < shaded < 0.85 and flat > 0.9, (line_shade(target), shaded, flat)
    # where the inside of the source's mouth is asked for (an open target mouth, not kept), it is drawn
    smiling = read_image(shared_faces / "img9.jpg")
    open_face = max(detector.detect(smiling), key=lambda f: f.size)
    assert quality.mouth_openness(open_face.points, open_face.size) > quality.MOUTH_OPEN
    with FaceSwapper(read_image(shared_faces / "img8.jpg"), detector=detector, keep_mouth=False) as fs:
        assert fs._mouth_painted is not None
        first = fs.swap(smiling, faces="largest")
        fs._mouth_painted = None
        assert np.array_equal(fs.swap(smiling, faces="largest"), first)  # the painted copy was not used


def test_the_hairs_shadow_is_painted_over_and_lifted(shared_faces, detector, monkeypatch):
    """img3's skin beside its hair is in the hair's shadow; painted over with the hair
    (:func:`quality.hair_shadow`) and lifted further out (:func:`quality.lift_shadow`), it no longer
    leaves the painted hair and the skin beside it darker than the face further in (dark smudges on
    every target's forehead and cheeks). The median lightness (0-255, smoothed over 1% of the face
    size) within 5% of the face size of the hair found without its shadow, against the skin 8% to
    20% away: on the forehead -40 without the shadow's handling, -23 with it; below the brows -26
    and -10."""
    from fastswap.pipeline import prepare_source

    p = prepare_source(read_image(shared_faces / "img3.jpg"), detector)
    size, shape = p.face.size, p.image.shape[:2]
    face = quality.fill(shape, p.points[mesh.FACE_OUTLINE]) > 0
    skin = face & (quality.feature_mask(shape, p.points, size) == 0)
    forehead = np.zeros(shape, bool)
    forehead[: int(p.points[list(quality.BROW_POINTS), 1].min())] = True

    def steps() -> tuple[np.ndarray, np.ndarray]:
        painted = p.without_hair("cpu")
        lum = cv2.cvtColor(cv2.GaussianBlur(painted.image, (0, 0), 0.01 * size), cv2.COLOR_BGR2LAB)[:, :, 0]
        return lum.astype(np.float32), painted.hair

    lum_on, hair_on = steps()
    monkeypatch.setattr(quality, "SHADOW_REACH", 0.0)
    monkeypatch.setattr(quality, "LIFT_REACH", 0.0)
    lum_off, hair_off = steps()
    assert (hair_on > 0).sum() > (hair_off > 0).sum()  # the shadow joined the hair
    dist = cv2.distanceTransform(np.where(hair_off > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 5) / size
    near, far = skin & (dist < 0.05), skin & (dist > 0.08) & (dist < 0.2)
    result = {}
    for name, lum in (("on", lum_on), ("off", lum_off)):
        for part, where in (("forehead", forehead), ("below", ~forehead)):
            result[name, part] = float(np.median(lum[near & where]) - np.median(lum[far & where]))
    assert result["off", "forehead"] < -30 and result["off", "below"] < -18, result
    for part in ("forehead", "below"):
        assert result["on", part] > 0.65 * result["off", part], result


def test_no_light_fringe_is_left_beside_painted_hair(shared_faces, detector, monkeypatch):
    """img8's strand over the forehead has a lighter fringe of fine hairs. With the hair found grown
    by 2% of the face size it stayed outside the painted part, a short light line on every target's
    forehead; grown by HAIR_GROW (3%) it is painted over: on the forehead, within 3% outside the
    painted hair, the pixels 8 levels lighter than their surroundings (1% of the face size) went
    from 75 to 13 (the hair's shadow, :func:`quality.hair_shadow` and :func:`quality.lift_shadow`,
    came later: left out of the comparison; with it, 11 now)."""
    from fastswap.pipeline import prepare_source

    prepared = prepare_source(read_image(shared_faces / "img8.jpg"), detector)
    size = prepared.face.size
    shape = prepared.image.shape[:2]
    inner = quality.erode_round(quality.fill(shape, prepared.points[mesh.FACE_OUTLINE]), int(0.03 * size)) > 0
    forehead = np.zeros(shape, bool)
    forehead[: int(prepared.points[list(quality.BROW_POINTS), 1].min())] = True

    def fringe() -> int:
        painted = prepared.without_hair("cpu")
        grey = cv2.cvtColor(painted.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        ridge = grey - cv2.GaussianBlur(grey, (0, 0), 0.01 * size)
        near = (quality.dilate_round(painted.hair, int(0.03 * size)) > 0) & (painted.hair == 0) & inner & forehead
        assert near.sum() > 200, near.sum()
        return int((ridge[near] > 8).sum())

    now = fringe()
    monkeypatch.setattr(quality, "HAIR_GROW", 0.02)
    monkeypatch.setattr(quality, "SHADOW_REACH", 0.0)
    monkeypatch.setattr(quality, "LIFT_REACH", 0.0)
    before = fringe()
    assert before > 50 and now < 30, (before, now)


def test_the_targets_hair_over_its_face_stays_in_front(shared_faces, detector):
    """img3's hair hangs over her temples and cheeks (quality.hair_over finds a quarter of the face
    inside the outline, 27%): with keep_hair the swap leaves it in front of the new face,
    the target's own pixels there (away from its edge: off by 0 levels on average); with it off, the
    source's skin is drawn over it (26 levels)."""
    target = read_image(shared_faces / "img3.jpg")
    face = max(detector.detect(target), key=lambda f: f.size)
    pts = face.points[: mesh.NUM_MESH_POINTS]
    over = quality.hair_over(target, pts, face.size)
    inside = quality.fill(target.shape[:2], pts[mesh.FACE_OUTLINE]) > 0
    assert over is not None and 0.15 < ((over > 0) & inside).sum() / inside.sum() < 0.4
    core = (quality.erode_round(over, int(0.04 * face.size)) > 0) & inside
    assert core.sum() > 0.05 * inside.sum()
    moved = {}
    for keep in (True, False):
        with FaceSwapper(read_image(shared_faces / "img2.jpg"), detector=detector, keep_hair=keep) as fs:
            res = fs.swap_report(target, faces="largest")
        assert ("hair" in res.faces[0].kept_from_target) == keep
        diff = np.abs(res.image.astype(int) - target).max(axis=2)
        moved[keep] = float(diff[core].mean())
        assert (diff[inside & ~(over > 0)] > 8).mean() > 0.5  # the face itself is swapped either way
    assert moved[True] < 1.0 and moved[False] > 15, moved


def test_a_targets_warm_skin_is_not_taken_for_its_hair(shared_faces, detector, monkeypatch):
    """On a target, the light-hair colour test alone takes img18's warmer jaw and a patch of his
    forehead for hair (17% of his face at hair_over's working size), where the swap would leave his
    own cheek; only the parts with the fine detail of strands are kept (quality._strands), and
    nothing of his face is left to him; img3's hair is kept all the same."""
    from fastswap.pipeline import face_roi

    shares = {}
    for name in ("img18.jpg", "img3.jpg"):
        image = read_image(shared_faces / name)
        face = max(detector.detect(image), key=lambda f: f.size)
        pts = face.points[: mesh.NUM_MESH_POINTS]
        inside = quality.fill(image.shape[:2], pts[mesh.FACE_OUTLINE]) > 0
        x0, y0, x1, y1 = face_roi(pts, image.shape[:2], max(4.0, 0.04 * face.size))  # as the pipeline
        crop, local = image[y0:y1, x0:x1], pts - (x0, y0)
        for strands in (True, False):
            if not strands:
                monkeypatch.setattr(quality, "_strands", lambda image, points, size, hair: hair)
            over = quality.hair_over(np.ascontiguousarray(crop), local, face.size)
            found = np.zeros(image.shape[:2], bool)
            if over is not None:
                found[y0:y1, x0:x1] = over > 0
            shares[name, strands] = float((found & inside).sum() / inside.sum())
            monkeypatch.undo()
    assert shares["img18.jpg", False] > 0.1 and shares["img18.jpg", True] < 0.01, shares
    assert shares["img3.jpg", True] > 0.2, shares
