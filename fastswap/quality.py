"""Quality steps around the kernels: colour matching, region masks (mouth, eyes, brows), pose
visibility, alpha and multiband blending, and the debug picture. All data are host arrays."""

from __future__ import annotations

import cv2
import numpy as np

from . import backends, mesh

MOUTH_OPEN = 0.006  # inner-lip area / face size^2 above which a mouth counts as open (closed: < 0.003)
EYE_RATIO_DIFF = 1.8  # eye-openness ratio between source and target above which the target's eye is kept
EYE_CLOSED = 0.12  # eye openness (eye_openness) under which the lids touch: a kept eye's lids take its ring too
MULTIBAND_LEVELS = 4  # pyramid levels of the multiband blend
TURNED = 0.97  # visible share of the mesh under which back-facing triangles are culled
BROW_POINTS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # MediaPipe's upper eyebrow contour
FADE = 0.1  # decay length of the Poisson correction inside the mask, in face sizes (fade_correction)
EDGE_FEATHER = 0.03  # the face fades into the target within this share of the face size of clamped boundary pixels
SHAPE_SMOOTH = 0.02  # sigma of identity_shape's smoothing over the mesh, in face sizes (mesh_smoothing)


def source_skin(image: np.ndarray, points: np.ndarray, face_size: float) -> np.ndarray | None:
    """Where a source face's own skin is, (h, w) uint8 (255 usable, 0 not), or None when all of it is.

    Hair or background often reaches inside the mesh outline at the temples, the ears and the jaw; warped onto a
    target it leaves dark or bright patches at the edge of the face. In the outer band of the outline (15% of the
    face size), pixels far from the skin's colour (CIELAB median and spread over the inner face, eyes and
    lips left out: 4 spreads darker, 6 brighter or 5 off in colour) are marked, when they reach in from the outline,
    with a margin of 1% of the face size. ``image`` (h, w, 3) uint8 BGR and ``points`` (468, 2) float32 in its pixel
    coordinates, host."""
    h, w = image.shape[:2]
    face = fill((h, w), points[mesh.FACE_OUTLINE])
    inner = erode_round(face, max(1, int(round(0.15 * face_size))))
    features = np.zeros((h, w), np.uint8)
    for loop in (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LIPS_INNER):
        features |= fill((h, w), points[loop])
    features = dilate_round(features, max(1, int(0.06 * face_size)))
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    ref = lab[(inner > 0) & (features == 0)]
    if len(ref) < 64:
        return None
    med = np.median(ref, axis=0)
    spread = 1.4826 * np.median(np.abs(ref - med), axis=0) + 1.0
    band = (face > 0) & (inner == 0)
    lum = lab[:, :, 0]
    off = (lum < med[0] - 4 * spread[0]) | (lum > med[0] + 6 * spread[0])  # hair, shadow; jewellery, glare
    off |= (np.abs(lab[:, :, 1:] - med[1:]) > 5 * spread[1:]).any(axis=2)  # not skin-coloured
    off = cv2.morphologyEx((off & band).astype(np.uint8) * 255, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(off)
    if count <= 1:
        return None
    rim = (face > 0) & (erode_round(face, 2) == 0)
    reaching = np.unique(labels[rim & (off > 0)])
    off = np.isin(labels, reaching[reaching > 0]).astype(np.uint8) * 255
    if not off.any():
        return None
    off = cv2.dilate(off, np.ones((3, 3), np.uint8), iterations=max(1, int(0.01 * face_size)))
    return np.where(off > 0, 0, 255).astype(np.uint8)


HAIR_OVER_WORK = 200.0  # hair_over works on the target at a face size of at most this many pixels


def hair_over(image: np.ndarray, points: np.ndarray, face_size: float) -> np.ndarray | None:
    """Hair (and background) over a target face, reaching in from its outline: (h, w) uint8, 255 on
    it, or None where there is none. The swap leaves the target's own pixels there, so a fringe, a
    strand over a temple or hair hanging over the cheeks stays in front of the new face instead of
    being painted over by the source's skin.

    The same tests as the source's, on the target: :func:`source_skin` (pixels far from the face's
    own skin colour: dark or bright hair, background, a shadow at the jaw, in the outer 15% of the
    face, reaching in from the outline) and :func:`hair_mask` (light hair, by its colour, with its
    shadow). Both run on the image scaled to a face size of at most HAIR_OVER_WORK pixels (the hair's
    shape, not its strands: a few ms per face) and come back up, bilinear. Of the light hair, only
    the parts with the fine detail of strands are kept (:func:`_strands`): on a target, what the
    colour test alone finds can be the face's own warmer skin (img18's jaw and a patch of his
    forehead, 17% of his face, where a swap would leave the target's cheek in place), which costs
    nothing on a source (painted over by skin) but here would. ``image`` (h, w, 3) uint8 BGR and
    ``points`` (468, 2) float32 in its pixel coordinates, host."""
    h, w = image.shape[:2]
    # reduced by a whole factor k (OpenCV's box-average fast path) over the k-divisible top-left part;
    # the strip of fewer than k pixels left over at the right and bottom is never hair (the face's
    # region has a margin)
    k = max(1, min(int(np.ceil(face_size / HAIR_OVER_WORK)), h // 8, w // 8))
    small, pts = image, np.asarray(points, np.float32)
    if k > 1:
        small = cv2.resize(image[: h // k * k, : w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
        pts = (pts - (k - 1) / 2.0) / k  # pixel centres of the reduced image
    over = np.zeros(small.shape[:2], np.uint8)
    skin = source_skin(small, pts, face_size / k)
    if skin is not None:
        over |= cv2.bitwise_not(skin)
    light = hair_mask(small, pts, face_size / k)
    if light is not None:
        over |= _strands(small, pts, face_size / k, light)
    over &= fill(small.shape[:2], pts[mesh.FACE_OUTLINE])
    if not over.any():
        return None
    if k > 1:
        up = cv2.resize(over, (w // k * k, h // k * k), interpolation=cv2.INTER_LINEAR)
        over = np.zeros((h, w), np.uint8)
        over[: up.shape[0], : up.shape[1]] = up
    return cv2.threshold(over, 127, 255, cv2.THRESH_BINARY)[1]


def _hair_detail(image: np.ndarray, face_size: float) -> np.ndarray:
    """The fine-detail energy that tells strands from skin (:func:`hair_mask`, :func:`_strands`):
    :func:`detail_energy` of the luma over 0.5% and 1.5% of the face size, (h, w) float32.
    ``image`` (h, w, 3) uint8 BGR, host."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return detail_energy(grey, max(0.5, 0.005 * face_size), 2 * int(round(0.015 * face_size)) + 1)


def _strands(image: np.ndarray, points: np.ndarray, face_size: float, hair: np.ndarray) -> np.ndarray:
    """The connected parts of ``hair`` ((h, w) uint8, :func:`hair_mask`) whose median fine-detail
    energy (:func:`detail_energy`, as hair_mask measures it) is at least HAIR_DETAIL times the skin's
    (the inner face, 15% in from the outline, less the features and the hair): strands, not smooth
    warm skin. On the photos here the hair's parts measure 4.5 to 31 times the skin's, img18's skin
    taken for hair 0.4 to 2.0. ``image`` (h, w, 3) uint8 BGR, ``points`` (468, 2) float32; host."""
    h, w = hair.shape
    energy = _hair_detail(image, face_size)
    inner = erode_round(fill((h, w), points[mesh.FACE_OUTLINE]), max(1, int(round(0.15 * face_size))))
    sel = (inner > 0) & (feature_mask((h, w), points, face_size) == 0) & (hair == 0)
    if sel.sum() < 64:
        return hair
    limit = HAIR_DETAIL * max(float(np.median(energy[sel])), 1e-3)
    count, labels = cv2.connectedComponents(hair)
    if count <= 1:
        return hair
    order = np.argsort(labels, axis=None, kind="stable")
    bounds = np.searchsorted(labels.ravel()[order], np.arange(count + 1))
    flat = energy.ravel()[order]
    keep = np.zeros(count, bool)
    for i in range(1, count):
        keep[i] = np.median(flat[bounds[i] : bounds[i + 1]]) >= limit
    return np.where(keep[labels], 255, 0).astype(np.uint8)


HAIR_SPREADS = 3.0  # robust spreads yellower (hue) or less red (a*) than the skin: light hair (hair_mask)
HAIR_GROW_SPREADS = 1.5  # the same, for detailed pixels near the hair found (hair_mask's extension)
HAIR_DETAIL = 3.0  # fine-detail energy, in medians of the skin's, above which a pixel may extend the hair
HAIR_GROW_STEPS = 8  # steps of 8% of the face size by which the hair found is extended (hair_mask)
HAIR_GROW = 0.03  # the hair found is grown by this share of the face size (the strands' soft edges)
SHADOW_REACH = 0.02  # the hair's shadow: skin within this share of the face size of the hair (hair_shadow)
SHADOW_SPREADS = 1.5  # ... and this many robust spreads darker than its surroundings' lightness (hair_shadow)
LIFT_REACH = 0.05  # the skin within this share of the face size of the hair is lifted (lift_shadow)


def hair_mask(image: np.ndarray, points: np.ndarray, face_size: float) -> np.ndarray | None:
    """Light hair (blond, light brown) over a source face, (h, w) uint8 (255 on it), or None when none.

    :func:`source_skin` finds hair by brightness; blond hair is as bright as skin and passes. Its
    colour gives it away: yellower than skin, and less red. In CIELAB, smoothed over 0.5% of the face
    size (JPEG's blocks), a pixel inside the face outline is taken for hair where its hue angle is more
    than HAIR_SPREADS robust spreads above the skin's (towards yellow, with at least half the skin's
    chroma) or its a* that many below it (while its b* is not more than 2 spreads below: not a grey or
    blue shadow); the skin's median and spread come from the inner face (15% of the face size in from
    the outline), eyes, eyebrows and lips left out. Eyes and lips (grown by 4%) are never hair; an
    eyebrow (grown by 2%) is only where its lightness is nearer the skin's median than the brow's own,
    or its hue HAIR_SPREADS skin hue spreads above the brow's own median hue (strands over its tail,
    not the brow itself; "lighter than the skin" left img3's strands over a brow's tail, darkened by
    the brow under them, as a yellow speck beside the painted temple; the lightness alone left img8's
    strand, as dark as her brow where it crosses it, cut in two, its lower half drawn on every target). Kept
    are the regions that reach the outline (hair grows in from outside the face; a yellowish spot of
    skin in the middle does not), extended by pixels that pass the colour tests at HAIR_GROW_SPREADS
    and show fine detail (HAIR_DETAIL times the skin's median energy: strands as warm as the skin,
    img12's, which smooth shaded skin is not) and join it, within 8% of the face size of it, step by
    step (up to HAIR_GROW_STEPS: in one step, img12's strand down her temple, 40% of her face size
    from her hair, stayed and showed as a brown line over every target's brow), and grown by HAIR_GROW
    (3%) of the face size for the strands' soft edges (at 2%, the lighter fringe of img8's strand
    was left as a mark on the forehead); the skin in its shadow beside it joins it (:func:`hair_shadow`).
    ``image`` (h, w, 3) uint8 BGR and ``points`` (468, 2) float32 in its pixel coordinates, host."""
    h, w = image.shape[:2]
    face = fill((h, w), points[mesh.FACE_OUTLINE])
    inner = erode_round(face, max(1, int(round(0.15 * face_size))))
    lab = cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), max(0.5, 0.005 * face_size)), cv2.COLOR_BGR2LAB)
    lab = lab.astype(np.float32)
    a, b = lab[:, :, 1] - 128.0, lab[:, :, 2] - 128.0
    hue, chroma = np.degrees(np.arctan2(b, a)), np.hypot(a, b)
    sel = (inner > 0) & (feature_mask((h, w), points, face_size) == 0)
    if sel.sum() < 64:
        return None
    ref = lab[sel]
    med = np.median(ref, axis=0)
    spread = 1.4826 * np.median(np.abs(ref - med), axis=0) + 0.5
    hue_med = np.median(hue[sel])
    hue_spread = 1.4826 * np.median(np.abs(hue[sel] - hue_med)) + 0.5

    def light_hair(k: float) -> np.ndarray:
        found = (hue - hue_med > k * hue_spread) & (chroma > 0.5 * np.median(chroma[sel]))
        return found | (lab[:, :, 1] < med[1] - k * spread[1]) & (lab[:, :, 2] > med[2] - 2.0 * spread[2])

    hair = light_hair(HAIR_SPREADS)
    grow = max(1, int(round(0.04 * face_size)))
    never = _grown_hulls((h, w), points, (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LIPS_OUTER), grow)
    brows = _grown_hulls((h, w), points, (mesh.LEFT_EYEBROW, mesh.RIGHT_EYEBROW), max(1, grow // 2))
    # in an eyebrow, only what is nearer the skin's lightness than the brow's own, or yellower than the
    # brow itself (strands over it)
    brow = _grown_hulls((h, w), points, (mesh.LEFT_EYEBROW, mesh.RIGHT_EYEBROW), 0) > 0
    brow_l = np.median(lab[:, :, 0][brow])
    in_brow = lab[:, :, 0] >= (med[0] + min(brow_l, med[0])) / 2
    in_brow |= hue - np.median(hue[brow]) > HAIR_SPREADS * hue_spread  # or yellower than the brow itself
    allowed = (face > 0) & (never == 0) & ((brows == 0) | in_brow)
    hair &= allowed
    hair8 = cv2.morphologyEx(hair.astype(np.uint8) * 255, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(hair8)
    if count <= 1:
        return None
    rim = (face > 0) & (erode_round(face, 2) == 0)
    reaching = np.unique(labels[rim & (hair8 > 0)])
    reaching = reaching[reaching > 0]
    if not len(reaching):
        return None
    hair8 = np.isin(labels, reaching).astype(np.uint8) * 255
    # extended by what is nearly as yellow (HAIR_GROW_SPREADS) and detailed (strands: fine-detail
    # energy over HAIR_DETAIL times the skin's median) and joins it, within 8% of the face size of
    # it, step by step (HAIR_GROW_STEPS), so that a strand is followed along its length; no opening
    # here: only parts joined to the hair found are taken (specks are not), and a thin strand on a
    # small face is 2 or 3 pixels wide (a 3x3 opening cut img12's strand down her temple from her hair)
    energy = _hair_detail(image, face_size)
    detailed = energy > HAIR_DETAIL * max(float(np.median(energy[sel])), 1e-3)
    more = (light_hair(HAIR_GROW_SPREADS) & detailed & allowed).astype(np.uint8) * 255
    reach = max(1, int(round(0.08 * face_size)))
    for _ in range(HAIR_GROW_STEPS):
        near = cv2.bitwise_and(more, dilate_round(hair8, reach))
        count, labels = cv2.connectedComponents(cv2.bitwise_or(near, hair8))
        found = np.unique(labels[hair8 > 0])
        grown = np.isin(labels, found[found > 0]).astype(np.uint8) * 255
        if np.array_equal(grown, hair8):
            break
        hair8 = grown
    hair8 = cv2.bitwise_and(dilate_round(hair8, max(1, int(round(HAIR_GROW * face_size)))), face)
    return hair_shadow(image, points, hair8, face_size)


def _reduced_blurs(sigma: float, *images: np.ndarray) -> list[np.ndarray]:
    """Gaussian blurs of sigma ``sigma`` pixels of same-sized float32 host ``images`` ((h, w) or
    (h, w, c)), taken at a size reduced by a whole factor k (about sigma / 4, INTER_AREA) where
    their result is smooth anyway; returned at that reduced size (bring them back up with
    INTER_LINEAR to ``images[0]``'s size)."""
    h, w = images[0].shape[:2]
    k = max(1, min(int(sigma / 4.0), h, w))
    size = (max(1, w // k), max(1, h // k))
    s = max(sigma / k, 0.5)
    return [cv2.GaussianBlur(cv2.resize(img, size, interpolation=cv2.INTER_AREA), (0, 0), s) for img in images]


def hair_shadow(image: np.ndarray, points: np.ndarray, hair: np.ndarray, face_size: float) -> np.ndarray:
    """``hair`` (:func:`hair_mask`) grown by its shadow, (h, w) uint8 (255 on either).

    The skin beside hair over a face is darker than the rest (the strands' shadow, thin strands over
    it): img3's forehead beside its hair is 1.3 to 2 robust spreads of lightness darker than the
    skin's median within 3% of the face size, the forehead further in 0.7 spreads lighter. Left as it
    is, that band, and the hair's fill that meets it, showed as dark smudges on every target's
    forehead and cheeks. Here the skin within SHADOW_REACH (2%) of the face size of the hair, and
    SHADOW_SPREADS (1.5) robust spreads darker than the lower of the skin's median and the skin's own
    level just beyond (2% to 6% from the hair, its normalised Gaussian mean over 4%: a face darkens
    gradually towards its outline, a shadow is a dip; against the median alone, the astronaut's
    shaded cheek beside strands painted over it was taken too), joins the hair where it touches it,
    grown by 1% of the face size; eyes, eyebrows and lips never (lightness smoothed over 1% of the
    face size; median and spread over the inner face, 15% in from the outline, features and hair
    left out). (Wider, 6% at 1 spread, took the cheeks' own shading too: flat sides, and the
    recognizer of bench/quality.py found img3's swaps further from img3.) What is left of the shadow
    further out is lifted by :func:`lift_shadow`.
    ``image`` (h, w, 3) uint8 BGR, ``points`` (468, 2) float32 in its pixel coordinates, ``hair``
    (h, w) uint8; host."""
    if SHADOW_REACH <= 0:
        return hair
    h, w = hair.shape
    face = fill((h, w), points[mesh.FACE_OUTLINE])
    inner = erode_round(face, max(1, int(round(0.15 * face_size))))
    features = feature_mask((h, w), points, face_size) > 0
    lum = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[:, :, 0].astype(np.float32)
    lum = cv2.GaussianBlur(lum, (0, 0), max(0.5, 0.01 * face_size))
    sel = (inner > 0) & ~features & (hair == 0)
    if sel.sum() < 64:
        return hair
    med = float(np.median(lum[sel]))
    spread = 1.4826 * float(np.median(np.abs(lum[sel] - med))) + 0.5
    dist = cv2.distanceTransform(np.where(hair > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    reach = max(1.0, round(SHADOW_REACH * face_size))
    near = dist <= reach
    # against the skin just beyond the shadow (a face's own shading darkens towards its outline
    # gradually; a shadow is a dip): its local mean, smooth, at a reduced size
    beyond = ((dist > reach) & (dist <= max(2.0, 3 * reach)) & (face > 0) & ~features).astype(np.float32)
    den, num = _reduced_blurs(max(1.0, 2 * SHADOW_REACH * face_size), beyond, lum * beyond)
    ref = cv2.resize(num / np.maximum(den, 1e-6), (w, h), interpolation=cv2.INTER_LINEAR)
    den = cv2.resize(den, (w, h), interpolation=cv2.INTER_LINEAR)
    ref = np.where(den > 0.02, np.minimum(ref, med), med)
    dark = (lum < ref - SHADOW_SPREADS * spread) & near & (face > 0) & ~features
    both = (dark | (hair > 0)).astype(np.uint8) * 255
    _, labels = cv2.connectedComponents(both)
    touching = np.unique(labels[hair > 0])
    shadow = np.isin(labels, touching[touching > 0]) & dark
    if not shadow.any():
        return hair
    shadow8 = dilate_round(shadow.astype(np.uint8) * 255, max(1, int(round(0.01 * face_size))))
    shadow8[features] = 0
    return cv2.bitwise_and(cv2.bitwise_or(hair, shadow8), face)


def lift_shadow(image: np.ndarray, points: np.ndarray, hair: np.ndarray, face_size: float) -> np.ndarray:
    """``image`` with the skin near ``hair`` lifted to the level of the skin further in, (h, w, 3) uint8 BGR.

    The softer part of the hair's shadow (:func:`hair_shadow`), further out than the part painted
    over: within LIFT_REACH (5%) of the face size of the hair, each channel is multiplied by the ratio
    of the skin's local mean beyond that band (normalised Gaussian means, sigma 6% of the face size,
    at a reduced size) to its mean at the pixel (sigma 1%), where that ratio lifts (its channels'
    mean above 1; each channel within 0.8 to 1.6), by a weight that falls from 1 at the hair to 0 at
    LIFT_REACH. The skin keeps its texture; only its shading moves. Lifting the lightness alone (one
    gain for all three channels) turned the shadow's warmer skin orange. Eyes, eyebrows and lips, and
    everything outside the outline, are left as they are.
    ``image`` (h, w, 3) uint8 BGR, ``points`` (468, 2) float32 in its pixel coordinates, ``hair``
    (h, w) uint8; host."""
    if LIFT_REACH <= 0:
        return image
    h, w = hair.shape
    reach = max(1.0, LIFT_REACH * face_size)
    face = fill((h, w), points[mesh.FACE_OUTLINE]) > 0
    features = feature_mask((h, w), points, face_size) > 0
    skin = face & ~features & (hair == 0)
    dist = cv2.distanceTransform(np.where(hair > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    band = skin & (dist < reach)
    x, y, bw, bh = cv2.boundingRect(band.astype(np.uint8))
    if not bw:
        return image
    img = image.astype(np.float32)
    # the skin's level beyond the band: smooth, so taken at a reduced size
    lit = (skin & ~band).astype(np.float32)
    den, num = _reduced_blurs(max(1.0, 0.06 * face_size), lit, img * lit[:, :, None])
    level = cv2.resize(num / np.maximum(den, 1e-6)[:, :, None], (w, h), interpolation=cv2.INTER_LINEAR)
    trust = cv2.resize(den, (w, h), interpolation=cv2.INTER_LINEAR) > 0.05
    # the skin's own level at each pixel of the band's box
    m = int(np.ceil(4 * max(1.0, 0.01 * face_size)))
    bx = (slice(max(0, y - m), min(h, y + bh + m)), slice(max(0, x - m), min(w, x + bw + m)))
    sk = skin[bx].astype(np.float32)
    fine = max(1.0, 0.01 * face_size)
    own = cv2.GaussianBlur(img[bx] * sk[:, :, None], (0, 0), fine)
    own /= np.maximum(cv2.GaussianBlur(sk, (0, 0), fine), 1e-6)[:, :, None]
    gain = (level[bx] + 4.0) / (own + 4.0)
    lifts = gain.mean(axis=2) > 1.0
    gain = np.where(lifts[:, :, None], np.clip(gain, 0.8, 1.6), 1.0)
    weight = np.clip(1.0 - dist[bx] / reach, 0.0, 1.0) * (trust[bx] & face[bx] & ~features[bx])
    weight = cv2.GaussianBlur(weight.astype(np.float32), (0, 0), max(1.0, 0.005 * face_size))
    weight *= face[bx] & ~features[bx] & (hair[bx] == 0)
    out = image.copy()
    lifted = img[bx] * (1.0 + (gain - 1.0) * weight[:, :, None])
    out[bx] = np.clip(lifted + 0.5, 0, 255).astype(np.uint8)
    return out


def fill_hair(
    image: np.ndarray, points: np.ndarray, hair: np.ndarray, face_size: float, backend: str = "auto"
) -> np.ndarray:
    """``image`` with the ``hair`` pixels painted over by the surrounding skin, (h, w, 3) uint8 BGR.

    The skin near the hair is first lifted out of the hair's shadow (:func:`lift_shadow`), so that
    the fill, which meets it, takes the lit skin's level.

    The fill is the skin's smooth colour: normalised convolution (Gaussian means of the skin pixels
    over Gaussian means of the skin mask) at 3%, 6%, 12% and 25% of the face size, each scale
    trusted where the finer ones had too little skin around (a wide band of hair takes the colour of
    the skin further in). Skin is the face inside its outline, eyes, eyebrows and lips and the hair
    grown by 2% of the face size (its shadowed edge) left out. The means are taken at a reduced size
    (they are smooth). Far from the skin they average a wide part of the face, lighter or darker
    than the skin beside the hair; so the estimate is only the guide of a Poisson solve (``backend``)
    whose boundary is the skin around the hair (outside the outline: the estimate itself), which
    makes the fill meet that skin exactly. The skin's fine texture is added as grain
    (:func:`skin_grain`). It is feathered into the face over 0.6% of the face size; nothing outside
    the outline changes.
    ``points`` (468, 2) float32 and ``hair`` (h, w) uint8 (:func:`hair_mask`) in the image's pixel
    coordinates, host."""
    h, w = hair.shape
    image = lift_shadow(image, points, hair, face_size)
    face = fill((h, w), points[mesh.FACE_OUTLINE])
    near = dilate_round(hair, max(1, int(round(0.02 * face_size))))
    skin = ((face > 0) & (near == 0) & (feature_mask((h, w), points, face_size) == 0)).astype(np.float32)
    img = image.astype(np.float32)
    total = np.zeros((h, w, 3), np.float32)
    trust = np.zeros((h, w), np.float32)
    for scale in (0.03, 0.06, 0.12, 0.25):
        den, num = _reduced_blurs(max(1.0, scale * face_size), skin, img * skin[:, :, None])
        den = cv2.resize(den, (w, h), interpolation=cv2.INTER_LINEAR)
        num = cv2.resize(num, (w, h), interpolation=cv2.INTER_LINEAR)
        weight = np.clip(den / 0.2, 0.0, 1.0) * (1.0 - trust)  # enough skin around: 20% of the weight
        total += num / np.maximum(den, 1e-6)[:, :, None] * weight[:, :, None]
        trust += weight
    smooth = np.clip(total / np.maximum(trust, 1e-6)[:, :, None] + 0.5, 0, 255).astype(np.uint8)
    around = image.copy()
    cv2.copyTo(smooth, cv2.bitwise_not(face), around)  # outside the outline: no hair as a boundary
    smooth = backends.poisson_blend(smooth, around, hair, backend=backend).astype(np.float32)
    on = hair > 0
    alpha = cv2.GaussianBlur(on.astype(np.float32), (0, 0), max(1.0, 0.006 * face_size))
    alpha = np.where(face > 0, np.maximum(alpha, on), 0.0)  # the outline's outside untouched
    smooth += skin_grain(image, skin > 0, alpha > 0, face_size)[:, :, None]
    alpha = alpha[:, :, None]
    return np.clip(smooth * alpha + img * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)


def paint_mouth(image: np.ndarray, points: np.ndarray, face_size: float, backend: str = "auto") -> np.ndarray:
    """``image`` with the inside of its open mouth painted over by the lips' colour, (h, w, 3) uint8 BGR.

    Drawn into a target whose mouth is closed, an open mouth's inner triangles shrink to nothing, but
    the teeth and the dark gap reach past the inner-lip landmarks and came out as a dashed white and
    black line between the target's lips (img1 into img12). The inside (the inner lips' polygon grown
    by 1% of the face size, within the outer lips' grown by 0.5%) is painted with the lips' smooth
    colour (normalised convolution over 2% of the face size) as the guide of a Poisson solve
    (``backend``) whose boundary is the lips around it. Painting only the teeth left the gap's dark
    pixels as a dashed line; painting the teeth the gap's colour, a thick dark one. The closed mouth
    then has no line between its lips: :func:`lip_line` gives it the target's. ``points`` (468, 2)
    float32 in the image's pixel coordinates, host; ``image`` itself is returned when the lips hold
    under 16 pixels."""
    h, w = image.shape[:2]
    outer = fill((h, w), points[mesh.LIPS_OUTER])
    inner = fill((h, w), points[mesh.LIPS_INNER], dilate=max(1, int(round(0.01 * face_size))))
    mouth = cv2.bitwise_and(inner, fill((h, w), points[mesh.LIPS_OUTER], dilate=max(1, int(round(0.005 * face_size)))))
    lips = (outer > 0) & (inner == 0)
    if lips.sum() < 16 or not mouth.any():
        return image
    x, y, bw, bh = cv2.boundingRect(outer)
    m = max(2, int(0.05 * face_size))
    box = (slice(max(y - m, 0), y + bh + m), slice(max(x - m, 0), x + bw + m))
    weight = lips[box].astype(np.float32)
    sigma = max(1.0, 0.02 * face_size)
    num = cv2.GaussianBlur(image[box].astype(np.float32) * weight[:, :, None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    guide = np.clip(num / np.maximum(den, 1e-6)[:, :, None] + 0.5, 0, 255).astype(np.uint8)
    out = image.copy()
    out[box] = backends.poisson_blend(guide, image[box], mouth[box], backend=backend)
    return out


def paste_lids(out: np.ndarray, target: np.ndarray, lids: np.ndarray, backend, colour: str = "target") -> None:
    """Paste the target's closed eyes (``lids``) into ``out`` by their gradients, in place.

    A closed target eye is kept from the target (the source's open eye squeezed onto it would show
    its iris through the lids), but pasted as it is, the target's bare eyelid showed as a patch of
    its own skin inside a made-up source's eye shadow (the group photo's faces with img2 as the
    source). Here each region is solved as a Poisson equation (normal cloning, on ``backend``) on
    log-encoded values (uint8, ``_LOG``), so that the correction is a ratio (against a made-up
    source's dark eye shadow an additive one took a quarter of a lid's pixels to black): the
    target's lashes and lid crease at the colour of the face drawn around them. ``colour``:

    * ``"target"``: each channel on its own (the target's colours carried, relative: a squint's iris
      and white keep theirs);
    * ``"around"``: only the target's lightness (its grey levels) is solved; the colour is the face
      around the region carried smoothly inside (a membrane, in the same four-channel solve). For
      lids that show no eye (the pipeline's shut eyes with the ring of lids around them): per
      channel, the ratio that lifted an orange target's lid, in the shade of its socket, to a pale
      face around it was twice as large in blue as in red, and the lid came out bluish white (img13
      into the group photo).

    The values are solved against half the face around them (about a constant in log terms) so that
    their 8-bit codes do not reach white. Where the lid (the 95th percentile of its brightest
    channel) would still be brighter than the face around it (the same percentile of the region's
    boundary), a lid's shine lifted by the ratio that brings the shade of its socket up to a bright
    face, it is scaled down as a whole (its detail and its lashes' contrast kept), the scale
    ramping from 1 on the region's edge, which meets the face, to its full value half-way to the
    region's middle; what is still above the face around it is scaled down to it. (The 8-bit codes
    keep the result within about 3 levels of the exact float solution, 0.7 on average, on a
    synthetic lid.) Open target eyes kept from a closed source eye are not pasted this way (their
    white would take the tint of the skin around them). ``out`` and ``target`` (h, w, 3) uint8 BGR,
    ``lids`` (h, w) uint8 (255 on the regions), host; ``backend`` a module from
    :func:`fastswap.backends.get_backend`."""
    if colour not in ("target", "around"):
        raise ValueError(f'colour must be "target" or "around", got {colour!r}')
    x, y, bw, bh = cv2.boundingRect(lids)
    if not bw:
        return
    h, w = lids.shape
    box = (slice(max(y - 2, 0), min(y + bh + 2, h)), slice(max(x - 2, 0), min(x + bw + 2, w)))
    m = lids[box].copy()
    m[0, :] = m[-1, :] = 0  # the frame is the boundary
    m[:, 0] = m[:, -1] = 0
    around = out[box]
    half = cv2.multiply(around, 0.5)
    if colour == "target":
        solved = backend.poisson_blend(cv2.LUT(target[box], _LOG), cv2.LUT(half, _LOG), m)
        lid = 2.0 * cv2.LUT(solved, _EXP).astype(np.float32)
    else:
        guide = np.zeros(around.shape[:2] + (4,), np.uint8)  # the colour: no detail
        guide[:, :, 3] = cv2.LUT(cv2.cvtColor(target[box], cv2.COLOR_BGR2GRAY), _LOG)
        edge_values = np.empty_like(guide)
        edge_values[:, :, :3] = around
        edge_values[:, :, 3] = cv2.LUT(cv2.cvtColor(half, cv2.COLOR_BGR2GRAY), _LOG)
        solved = backend.poisson_blend(guide, edge_values, m)
        tint = solved[:, :, :3].astype(np.float32)
        light = 2.0 * cv2.LUT(np.ascontiguousarray(solved[:, :, 3]), _EXP).astype(np.float32)
        lid = tint * (light / np.maximum(cv2.cvtColor(tint, cv2.COLOR_BGR2GRAY), 1.0))[:, :, None]
    edge = cv2.subtract(cv2.dilate(m, np.ones((3, 3), np.uint8)), m) > 0
    if edge.any():
        cap = float(np.percentile(around[edge].max(axis=1), 95))
        over = float(np.percentile(lid.max(axis=2)[m > 0], 95)) / max(cap, 1.0)
        if over > 1.0:
            depth = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_3)
            ramp = np.minimum(depth / max(0.5 * float(depth.max()), 1.0), 1.0)
            lid *= (1.0 - ramp * (1.0 - 1.0 / over))[:, :, None]
        lid *= np.minimum(cap / np.maximum(lid.max(axis=2), 1.0), 1.0)[:, :, None]  # none above the face around
    # only the solved pixels: the log round trip moves the others by a level
    np.copyto(around, np.clip(lid + 0.5, 0, 255).astype(np.uint8), where=m[:, :, None] > 0)


# uint8 <-> log-encoded uint8 (paste_lids): 255 log(1 + v) / log(256) and back
_LOG = np.clip(np.round(255.0 * np.log1p(np.arange(256)) / np.log(256.0)), 0, 255).astype(np.uint8)
_EXP = np.clip(np.round(np.expm1(np.arange(256) * np.log(256.0) / 255.0)), 0, 255).astype(np.uint8)


def lip_line(result: np.ndarray, target: np.ndarray, points: np.ndarray, face_size: float) -> None:
    """Darken ``result`` along a closed mouth's lip line as much as the target is darkened there.

    The line between closed lips is shading: the target's lightness over its own mean around it (a
    Gaussian of 1.5% of the face size), capped at 1, along the inner-lip contour (drawn 0.4% of the
    face size wide, softened by 0.3%) multiplies the result there. Only the darkening is carried, not
    the target's colour (its lipstick showed as a red line on the source's lips when blended as it
    is). ``result``, ``target``: (h, w, 3) uint8 BGR, the same region (``result`` changed in place);
    ``points``: (468, 2) float32, the target face's mesh in the region's pixel coordinates; host."""
    h, w = result.shape[:2]
    line = np.zeros((h, w), np.uint8)
    cv2.polylines(
        line, [np.round(points[mesh.LIPS_INNER]).astype(np.int32)], True, 255, max(1, int(round(0.004 * face_size)))
    )
    x, y, bw, bh = cv2.boundingRect(line)
    if not bw:
        return
    m = max(2, int(0.03 * face_size))
    box = (slice(max(y - m, 0), y + bh + m), slice(max(x - m, 0), x + bw + m))
    alpha = cv2.GaussianBlur(line[box].astype(np.float32) / 255.0, (0, 0), max(0.7, 0.003 * face_size))
    lum = cv2.cvtColor(target[box], cv2.COLOR_BGR2GRAY).astype(np.float32) + 1.0
    shade = np.minimum(lum / cv2.GaussianBlur(lum, (0, 0), max(1.0, 0.015 * face_size)), 1.0)
    gain = (1.0 - alpha + alpha * shade)[:, :, None]
    result[box] = np.clip(result[box] * gain + 0.5, 0, 255).astype(np.uint8)


def skin_grain(image: np.ndarray, skin: np.ndarray, where: np.ndarray, face_size: float) -> np.ndarray:
    """Grain with the skin's fine texture, (h, w) float32, to add to a smooth fill (0 off ``where``).

    Band-pass noise (white noise from a fixed seed, so a source always gets the same fill, blurred
    by 0.15% of the face size less its blur at 0.6%: pores and fine lines, no shading) scaled to the
    robust spread of the same band of the image's lightness over ``skin``. Without it the painted-over
    temples of img3 showed as smooth smudges beside the pores of the skin around them.
    ``image`` (h, w, 3) uint8 BGR; ``skin``, ``where`` (h, w) bool; host."""
    out = np.zeros(skin.shape, np.float32)
    x, y, w, h = cv2.boundingRect(where.astype(np.uint8))
    if not w or skin.sum() < 64:
        return out
    coarse = max(1.0, 0.006 * face_size)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    band = grey - cv2.GaussianBlur(grey, (0, 0), coarse)
    ref = band[skin]
    spread = 1.4826 * float(np.median(np.abs(ref - np.median(ref))))
    noise = np.random.default_rng(0).standard_normal((h, w), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), max(0.5, 0.0015 * face_size))
    noise -= cv2.GaussianBlur(noise, (0, 0), coarse)
    noise *= spread / max(float(noise.std()), 1e-6)
    out[y : y + h, x : x + w] = np.where(where[y : y + h, x : x + w], noise, 0.0)
    return out


def polygon_area(pts: np.ndarray) -> float:
    """Signed-area magnitude of a closed polygon given as (N, 2) points."""
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def mouth_openness(points: np.ndarray, face_size: float) -> float:
    """Inner-lip area over the face size squared (0 for a closed mouth)."""
    return polygon_area(points[mesh.LIPS_INNER]) / max(face_size, 1.0) ** 2


def eye_openness(points: np.ndarray, loop: np.ndarray) -> float:
    """Eye opening area over the eye's width squared."""
    p = points[loop]
    width = float(np.ptp(p[:, 0])) or 1.0
    return polygon_area(p) / width**2


def triangle_areas(tri: np.ndarray) -> np.ndarray:
    """Signed areas (T,) float64 of (T, 3, 2) triangles (pixels, host): positive for the mesh's
    triangles that face the camera (``mesh.TRIANGLES`` winding in image coordinates)."""
    t = np.asarray(tri, np.float64)
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) * 0.5


def visible_fraction(points: np.ndarray) -> float:
    """Share of the mesh's area whose triangles face the camera (1 frontal, about 0.5 in profile)."""
    area = triangle_areas(points[mesh.TRIANGLES])
    total = np.abs(area).sum()
    return float(area[area > 0].sum() / total) if total > 0 else 0.0


def erode_round(mask: np.ndarray, r: int) -> np.ndarray:
    """(H, W) uint8 ``mask`` of 0 / 255 (host) eroded by a regular octagon of inradius ``r`` pixels
    (within 8% of a disk): a square of half side r(sqrt 2 - 1), separable, then r - that many 3x3
    crosses (pixels outside the image count as 255, as in OpenCV's erosion). 2.5 to 4x faster than
    OpenCV's elliptic kernel at r = 9 to 15; the two differ by at most 8% of r along the edge (a pixel
    up to r = 12). With the C++ extension, the same bytes from the mask's runs of pixels
    (``_cpu.erode_octagon``: 4x to 12x faster than the two OpenCV erosions on face masks); without
    it (the backend registry says why it is missing), from OpenCV."""
    if r <= 0:
        return mask
    if mask.ndim == 2 and mask.dtype == np.uint8 and backends.status()["cpu"] is None:
        s = int(round(r * (np.sqrt(2.0) - 1.0)))
        return backends.get_backend("cpu").erode_octagon(mask, s, r - s)
    return erode_round_opencv(mask, r)


def dilate_round(mask: np.ndarray, r: int) -> np.ndarray:
    """(H, W) uint8 ``mask`` of 0 / 255 (host) grown by the octagon of :func:`erode_round` (the
    erosion of its complement; pixels outside the image count as 0). On img3's masks, 15x quicker
    than OpenCV's elliptic dilation at r = 15 (its hair) and 100x at r = 44 (its eyes and lips): the
    C++ path works on runs of pixels, so a noisy mask of many short runs gains nothing."""
    return cv2.bitwise_not(erode_round(cv2.bitwise_not(mask), r)) if r > 0 else mask


def erode_round_opencv(mask: np.ndarray, r: int) -> np.ndarray:
    """:func:`erode_round` by OpenCV alone (the fallback, and the reference its fast path is tested
    against)."""
    if r <= 0:
        return mask
    s = int(round(r * (np.sqrt(2.0) - 1.0)))
    out = cv2.erode(mask, np.ones((2 * s + 1, 2 * s + 1), np.uint8)) if s > 0 else mask
    if r - s > 0:
        out = cv2.erode(out, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=r - s)
    return out


def fill(shape: tuple[int, int], pts: np.ndarray, dilate: int = 0) -> np.ndarray:
    """(H, W) uint8 mask (255 inside) of a polygon, optionally dilated by ``dilate`` pixels."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    return _grown(m, dilate)


def _grown(m: np.ndarray, dilate: int) -> np.ndarray:
    """``m`` dilated by a disc of radius ``dilate`` pixels (as it is for 0)."""
    if dilate > 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1)))
    return m


def fill_triangles(shape: tuple[int, int], triangles: np.ndarray, dilate: int = 0) -> np.ndarray:
    """(H, W) uint8 mask (255 inside) of the union of (T, 3, 2) float triangles (pixel coordinates,
    host), optionally dilated by ``dilate`` pixels. Each is filled on its own (``cv2.fillPoly`` of
    several polygons would leave their overlaps, a folded mesh's, empty)."""
    m = np.zeros(shape, np.uint8)
    for tri in np.round(np.asarray(triangles, np.float64) * 16).astype(np.int32):
        cv2.fillConvexPoly(m, tri, 255, lineType=cv2.LINE_8, shift=4)
    return _grown(m, dilate)


def below_brows(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) uint8 mask of the half-plane below the line through the eyebrows' tops (no forehead)."""
    brows = points[list(BROW_POINTS)]
    (ax, ay), (bx, by) = brows[:5].mean(axis=0), brows[5:].mean(axis=0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    side = (bx - ax) * (yy - ay) - (by - ay) * (xx - ax)
    return np.where(side >= 0, 255, 0).astype(np.uint8)


def feature_mask(shape: tuple[int, int], points: np.ndarray, face_size: float) -> np.ndarray:
    """(H, W) uint8 mask (255 inside) of a face's eyes, eyebrows and lips, grown by 4% of the face size
    (lashes, make-up, the lips' edge). ``points``: (468, 2) float32 mesh points in the mask's pixel
    coordinates, host."""
    loops = (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LEFT_EYEBROW, mesh.RIGHT_EYEBROW, mesh.LIPS_OUTER)
    return _grown_hulls(shape, points, loops, max(1, int(round(0.04 * face_size))))


def _grown_hulls(shape: tuple[int, int], points: np.ndarray, loops, grow: int) -> np.ndarray:
    """(H, W) uint8 mask of the convex hulls of ``points[loop]`` for each loop, grown by ``grow`` pixels."""
    m = np.zeros(shape, np.uint8)
    for idx in loops:
        hull = cv2.convexHull(np.round(points[idx] * 16).astype(np.int32))
        cv2.fillConvexPoly(m, hull, 255, lineType=cv2.LINE_8, shift=4)
        cv2.polylines(m, [hull], True, 255, thickness=2 * grow + 1, lineType=cv2.LINE_8, shift=4)
    return m


def cheek_band(shape: tuple[int, int], points: np.ndarray, lo: float = 0.2, hi: float = 0.7) -> np.ndarray:
    """(H, W) uint8 mask (255 inside) of the band across the face between the eyes and the mouth, from
    ``lo`` to ``hi`` of the way from the eyes' centre line to the lips' centre along the face's own
    vertical axis: cheeks and nose, where a face is mostly skin (no glasses' frames, fringe, moustache
    or beard). ``points``: (468, 2) float32 mesh points in the mask's pixel coordinates, host."""
    e = (points[mesh.LEFT_EYE].mean(axis=0) + points[mesh.RIGHT_EYE].mean(axis=0)) / 2.0
    down = points[mesh.LIPS_OUTER].mean(axis=0) - e
    across = np.array([-down[1], down[0]]) / max(float(np.hypot(*down)), 1e-6) * float(sum(shape))
    quad = [e + lo * down - across, e + lo * down + across, e + hi * down + across, e + hi * down - across]
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, np.round(np.array(quad) * 16).astype(np.int32), 255, lineType=cv2.LINE_8, shift=4)
    return m


TEXTURE_MAX = 5.0  # fine-detail energy, in medians of the cheeks', above which a pixel is not skin


def skin_statistics(
    mask: np.ndarray,
    images: tuple[np.ndarray, ...],
    features: np.ndarray,
    face_size: float,
    reference: np.ndarray | None = None,
    *,
    tests: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Where the colour correction takes its local means, (H, W) uint8 (255 or 0): ``mask`` less the
    ``features`` (:func:`feature_mask`) and less every pixel that is not skin in any of ``images``
    ((H, W, 3) uint8 BGR, host, all the mask's size), judged against that image's skin under
    ``reference`` ((H, W) uint8, 255 where the skin is sampled, e.g. :func:`cheek_band`; None: the
    whole of ``mask`` less ``features``) by :func:`skin_tests` (``tests``: their result, if the caller
    has it already). Both sides of the ratio then average the same skin: a target's glasses, lipstick
    or eyebrows no longer darken or tint the other face around them, nor a source's beard lift the
    skin round it."""
    sel = cv2.bitwise_and(mask, cv2.bitwise_not(features))
    if tests is None:
        tests = skin_tests(sel, images, face_size, reference)
    for test in tests or ():
        sel = cv2.bitwise_and(sel, test)
    return sel


def skin_tests(
    sel: np.ndarray, images: tuple[np.ndarray, ...], face_size: float, reference: np.ndarray | None = None
) -> list[np.ndarray] | None:
    """Each image's own skin test over its whole frame: a list of (H, W) uint8 (255: skin), one per
    ``images`` ((H, W, 3) uint8 BGR, host), or None when the sample (``sel``, (H, W) uint8, under
    ``reference`` if given) holds under 256 pixels or the frame is under 8 pixels across. A pixel is
    not skin when it is

    * off the sample's skin colour: against the median and robust spread in YCrCb (luma and the two
      chroma differences), 3 spreads darker, 6 brighter or 5 off in chroma (glasses' frames, dark
      hair, shadows, glare);
    * too detailed: the local energy of the luma's fine detail (what a Gaussian of 0.5% of
      ``face_size`` takes away, squared, averaged over 1.5%) over ``TEXTURE_MAX`` times its median on
      the sample (a beard, stubble, strands of blond hair, which pass for skin by colour)."""
    where = sel if reference is None else cv2.bitwise_and(sel, reference)
    h, w = sel.shape
    if min(h, w) < 8 or cv2.countNonZero(where) < 256:
        return None
    # Both tests run at half resolution (their mask only feeds means over 15% of the face size; a
    # hair or a glasses' frame still shows there), in OpenCV calls (which let other threads run).
    half = (w // 2, h // 2)
    even = (slice(0, 2 * half[1]), slice(0, 2 * half[0]))  # OpenCV's quick path halves even sizes
    where = cv2.resize(where[even], half, interpolation=cv2.INTER_NEAREST)
    count = cv2.countNonZero(where)
    step = max(1, int(round(np.sqrt(count / 1000.0))))  # the energy's median from about 1,000 pixels
    picked = where[::step, ::step] > 0
    fine = max(0.5, 0.0025 * face_size)  # at half resolution: the detail's Gaussian,
    wide = 2 * int(round(0.013 * face_size)) + 1  # and the box (sigma 0.75%) that averages its energy
    tests = []
    for img in images:
        ycc = cv2.cvtColor(cv2.resize(img[even], half, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YCrCb)
        lo, hi = [], []
        for c, (below, above) in enumerate(((3, 6), (5, 5), (5, 5))):
            hist = cv2.calcHist([ycc], [c], where, [256], [0, 256]).ravel()
            med = _hist_median(hist, count)
            # the robust spread: the median absolute deviation, from the same histogram folded at med
            dev = np.zeros(256, np.float32)
            np.add.at(dev, np.abs(np.arange(256) - med), hist)
            spread = 1.4826 * _hist_median(dev, count) + 1.0
            lo.append(max(0.0, np.floor(med - below * spread)))
            hi.append(min(255.0, np.ceil(med + above * spread)))
        skin = cv2.inRange(ycc, tuple(lo), tuple(hi))
        luma = cv2.extractChannel(ycc, 0).astype(np.float32)
        energy = detail_energy(luma, fine, wide)
        limit = TEXTURE_MAX * max(float(np.median(energy[::step, ::step][picked])), 1e-3)
        skin = cv2.bitwise_and(skin, cv2.threshold(energy, limit, 255, cv2.THRESH_BINARY_INV)[1].astype(np.uint8))
        tests.append(cv2.resize(skin, (w, h), interpolation=cv2.INTER_NEAREST))
    return tests


def detail_energy(luma: np.ndarray, sigma: float, box: int) -> np.ndarray:
    """Local energy of fine detail, (H, W) float32: ``luma`` ((H, W) float32, host) less its Gaussian
    blur of ``sigma`` pixels, squared, averaged over a ``box`` x ``box`` square (a box: 4x quicker
    than a Gaussian). High on strands, stubble, a beard; low on plain skin."""
    detail = cv2.subtract(luma, cv2.GaussianBlur(luma, (0, 0), sigma))
    return cv2.blur(cv2.multiply(detail, detail), (box, box))


def _hist_median(hist: np.ndarray, count: int) -> int:
    """The median bin of a (256,) histogram holding ``count`` values."""
    return int(np.searchsorted(np.cumsum(hist), (count + 1) / 2.0))


def match_colour(warped: np.ndarray, target: np.ndarray, mask: np.ndarray, face_size: float) -> np.ndarray:
    """Colour and lighting transfer, (h, w, 3) uint8 BGR in and out.

    A low-frequency ratio correction: each channel of ``warped`` is multiplied by the ratio of the two
    images' local means (Gaussian, sigma 15% of the face size, normalised by the mask, computed at a
    reduced size), so that skin tone and shading agree everywhere, near the mask's border too, where
    seams show. ``mask`` ((h, w) uint8, 255 or 0) is where the means are taken (the pipeline passes
    :func:`skin_statistics`: both faces' skin); the ratio, smooth, applies to every pixel.
    A smaller sigma matches the seam better but imports the target's features: at 4% the recognizer
    of bench/quality.py found half of the results closer to the target than to the source."""
    sel = mask > 0
    n = int(sel.sum())
    if n < 16:
        return warped
    out = warped
    # Low-frequency ratio, computed at a reduced size (it is smooth) and brought back up once. The
    # reduction is by a whole factor k (about sigma / 4) over the largest k-divisible top-left part:
    # OpenCV's box-average fast path, 4x quicker than a fractional INTER_AREA. The strip of fewer than
    # k pixels left over is not averaged; stretching the small ratio over the whole region moves it by
    # at most k / 2 pixels, nothing against its smoothness (sigma = 4k).
    h, w = sel.shape
    sigma = 0.15 * face_size
    k = max(1, min(int(sigma / 4.0), h, w))
    ch, cw = h // k * k, w // k * k
    size = (cw // k, ch // k)
    s = max(sigma / k, 0.5)
    m8 = np.ascontiguousarray(sel[:ch, :cw]).view(np.uint8) * np.uint8(255)
    den = cv2.GaussianBlur(cv2.resize(m8, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0, (0, 0), s)

    def small_mean(img: np.ndarray) -> np.ndarray:
        part = img[:ch, :cw]
        masked = np.zeros_like(part)
        cv2.copyTo(part, m8, masked)  # the masked image (faster than bitwise_and with a mask)
        num = cv2.resize(masked, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        return cv2.GaussianBlur(num, (0, 0), s) / np.maximum(den, 1e-4)[:, :, None]

    ratio = np.clip((small_mean(target) + 4.0) / (small_mean(out) + 4.0), 0.4, 2.5)
    return apply_gain(out, ratio)


KNEE = 235.0  # brightest channel value that soft_highlights leaves alone


def apply_gain(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """``img`` times a smooth per-channel ``gain`` given at a reduced size, highlights kneed.

    ``img``: (h, w, 3) uint8 BGR, host (its rows may be a view's); ``gain``: (gh, gw, 3) float32,
    host, brought up to (h, w) as ``cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)``
    would (pixel centres aligned); the product is rounded to uint8 by :func:`soft_highlights`.
    Returns (h, w, 3) uint8, host. With the C++ extension, one pass over the pixels
    (``_cpu.apply_gain``, csrc/colour_impl.h): 0.7 ms against 2.0 on one thread, mean over img2's
    and img20's swaps into the shared photos; a value may then differ by one grey level where the two
    round a product that lies within float precision of a half (4 in a million there). Without it
    (the backend registry says why), :func:`apply_gain_opencv`."""
    if backends.status()["cpu"] is None:
        return backends.get_backend("cpu").apply_gain(img, np.ascontiguousarray(gain, np.float32), KNEE)
    return apply_gain_opencv(img, gain)


def apply_gain_opencv(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """:func:`apply_gain` from OpenCV and NumPy (its reference): the gain resized, multiplied in
    float32, :func:`soft_highlights`. Same arguments and result."""
    h, w = img.shape[:2]
    full = cv2.resize(np.ascontiguousarray(gain, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return soft_highlights(cv2.multiply(img, full, dtype=cv2.CV_32F))


def soft_highlights(img: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 BGR, any non-negative range, to uint8 without clipping a channel on its own.

    A gain that brings a dark face up to a bright one would push the red channel of skin past 255:
    clipped per channel, its hue turns yellow-white and its texture flat. Instead each pixel whose
    brightest channel ``m`` exceeds ``KNEE`` is scaled as a whole (hue kept) by ``f(m) / m``, where
    ``f(m) = KNEE + (255 - KNEE) (1 - exp(-(m - KNEE) / (255 - KNEE)))`` rises with slope 1 from the
    knee towards 255 and never reaches it. Pixels at or below the knee are rounded as they are."""
    planes = cv2.split(img)  # contiguous planes: quicker than the channels' strided views
    m = cv2.max(cv2.max(planes[0], planes[1]), planes[2])  # 20x quicker than max(axis=2)
    if cv2.minMaxLoc(m)[1] > KNEE:
        room = 255.0 - KNEE
        f = np.exp(np.maximum(m - KNEE, 0.0) * (-1.0 / room))  # 1 at and below the knee
        f = np.minimum(m, KNEE) + room * (1.0 - f)  # f(m), and m itself at and below the knee
        scale = f / np.maximum(m, 1e-6)
        return cv2.merge([cv2.convertScaleAbs(cv2.multiply(p, scale)) for p in planes])  # rounded, saturated
    return cv2.convertScaleAbs(img)


def stretched_share(src_tri: np.ndarray, dst_tri: np.ndarray, factor: float = 2.0) -> float:
    """Share of the target's area drawn from texture stretched more than ``factor`` times (by area).

    ``src_tri``, ``dst_tri``: (T, 3, 2) float host arrays, pixel coordinates, each source triangle
    drawn onto the target triangle of the same row. A triangle's stretch is its target area over its
    source area, against the whole face's (sum of target areas over sum of source areas), so that a
    larger target face is not counted as stretched. Thin source triangles (the far cheek of a
    slightly turned face) drawn onto wide ones come out smeared; bench/quality.py reports this."""
    dst = np.abs(triangle_areas(dst_tri))
    total = float(dst.sum())
    if total <= 0:
        return 0.0
    return float(dst[stretch_factors(src_tri, dst_tri) > factor].sum() / total)


def stretch_factors(src_tri: np.ndarray, dst_tri: np.ndarray) -> np.ndarray:
    """(T,) float64: how much each source triangle's texture is stretched onto its target triangle, by
    area, against the whole face's (target area over source area, divided by the sum of the target
    areas over the sum of the source areas: 1 for a face drawn at one scale). ``src_tri``, ``dst_tri``:
    (T, 3, 2) float host arrays, pixel coordinates, row for row."""
    src, dst = np.abs(triangle_areas(src_tri)), np.abs(triangle_areas(dst_tri))
    if dst.sum() <= 0 or src.sum() <= 0:
        return np.ones(len(src))
    return dst / np.maximum(src, 1e-9) * (src.sum() / dst.sum())


def boundary_ring(mask: np.ndarray) -> np.ndarray:
    """(H, W) uint8, 255 on the pixels outside ``mask`` next to it (4-neighbours): the Poisson boundary."""
    return cv2.subtract(cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))), mask)


def robust_boundary(
    warped: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    k: float = 1.0,
    ring: np.ndarray | None = None,
    skin: np.ndarray | None = None,
) -> np.ndarray:
    """The target with its Poisson boundary (pixels next to the mask) made robust against bleeding.

    Poisson cloning carries the boundary's difference target - source into the whole face; where the
    mask's edge touches hair or background instead of skin, that difference is an outlier and tints
    the face. Per channel, differences beyond median +- k x 1.48 MAD over the boundary are clamped
    (i.e. those boundary pixels become source + clamped difference). k = 1 was chosen by eye on the
    demo pair (a dark collar under the chin darkened the face at k = 2.5; k = 0 leaves seams at the
    hat). ``skin`` ((h, w) uint8, 255 where the target is skin: :func:`skin_tests`; None: no pixel
    is) exempts the boundary's skin: a clamped pixel no longer meets the target's own beside it, and
    where the target's skin goes on past the mask's edge that showed as a seam (a forehead above a
    bearded chin, whose difference set the median: img1 into img16). Over the 420 pairs of
    bench/quality.py the colour step across the boundary's skin, beyond the target's own, fell from
    3.8 to 1.7 delta E (1.6 with no clamping at all). (h, w, 3) uint8, host; ``ring``
    (:func:`boundary_ring` of ``mask``) may be passed in."""
    found = cv2.findNonZero(boundary_ring(mask) if ring is None else ring)  # (x, y), row-major like nonzero
    if found is None or found.size < 16:
        return target
    xy = found.reshape(-1, 2)
    idx = (xy[:, 1], xy[:, 0])
    src = warped[idx].astype(np.float32)
    diff = target[idx].astype(np.float32) - src
    med = np.median(diff, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(diff - med), axis=0) * k, 8.0)
    clamped = np.clip(diff, med - spread, med + spread)
    if skin is not None:
        on = skin[idx] > 0
        clamped[on] = diff[on]
    out = target.copy()
    out[idx] = np.clip(src + clamped + 0.5, 0, 255).astype(np.uint8)
    return out


def edge_feather(
    solved: np.ndarray,
    target: np.ndarray,
    boundary: np.ndarray,
    mask: np.ndarray,
    ring: np.ndarray,
    face_size: float,
    width: float | None = None,
) -> np.ndarray:
    """``solved`` faded into ``target`` near the boundary pixels that :func:`robust_boundary` clamped.

    A clamped boundary pixel (hair, a beard, a collar, a shadowed chin that failed the skin test)
    keeps the solve from tinting the face, but the solve then meets the clamped value, not the
    target's pixel beside it: a hard step along the mask's edge (the group photo's profile face: a
    straight edge down its chin). Inside the mask, within ``width`` x ``face_size`` pixels of such a
    pixel, the result is ``target + (solved - target) * d / (width * face_size)``, ``d`` the (city-block)
    distance to the nearest clamped one (``width`` None: EDGE_FEATHER): the face fades into the hair or the
    shadow there, and nothing changes where the boundary was the target's own. ``solved``,
    ``target``, ``boundary`` (the solve's boundary image, :func:`robust_boundary`): (h, w, 3) uint8;
    ``mask``, ``ring`` (its :func:`boundary_ring`): (h, w) uint8, 255 on; host; returns (h, w, 3)
    uint8."""
    reach = (EDGE_FEATHER if width is None else width) * face_size
    found = cv2.findNonZero(ring)
    if reach < 1.0 or found is None:
        return solved
    xy = found.reshape(-1, 2)
    xy = xy[(boundary[xy[:, 1], xy[:, 0]] != target[xy[:, 1], xy[:, 0]]).any(axis=1)]  # the clamped ones
    if not len(xy):
        return solved
    # only the clamped pixels' neighbourhood changes: work in their bounding box, grown by the reach
    h, w = mask.shape
    r = int(np.ceil(reach))
    x0, y0 = max(int(xy[:, 0].min()) - r, 0), max(int(xy[:, 1].min()) - r, 0)
    x1, y1 = min(int(xy[:, 0].max()) + r + 1, w), min(int(xy[:, 1].max()) + r + 1, h)
    box = (slice(y0, y1), slice(x0, x1))
    free = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    free[xy[:, 1] - y0, xy[:, 0] - x0] = 0
    # city-block distance (a quarter of the Euclidean transform's time; the ramp is a feather, not a metric)
    dist = cv2.distanceTransform(free, cv2.DIST_L1, 3)
    wgt = np.minimum(dist * (1.0 / reach), 1.0)
    wgt[mask[box] == 0] = 1.0  # off the mask: the solve as it is (the caller puts the target's ring back)
    out = solved.copy()
    out[box] = cv2.blendLinear(solved[box], target[box], wgt, cv2.subtract(1.0, wgt))
    return out


def fade_correction(
    solved: np.ndarray, warped: np.ndarray, mask: np.ndarray, face_size: float, fade: float = FADE
) -> np.ndarray:
    """A Poisson result whose correction fades inside the mask: ``warped + (solved - warped) * w``,
    ``w = exp(-d / (fade * face_size))``, ``d`` the distance (pixels) of each pixel from the mask's edge.

    With the gradients of ``warped`` as the guide, ``solved - warped`` is the harmonic membrane that
    carries the boundary's difference (target - warped) into the face, the same offset in the middle
    as at the edge. After :func:`match_colour` the middle already agrees with the target; the edge often
    does not (the ratio's local means there mix in the face's middle), and a face lit from the front
    put into an evenly lit one had its whole middle lifted by the edge's difference, to 255 (img20 into
    img6: 23% of the face outline blown). Faded, the edge still meets the target exactly and the middle
    keeps the colour-corrected face. Where the decay length is 16 pixels or more, ``d`` is measured
    at half resolution (on 2 x 2 blocks wholly inside the mask; 0.6 ms less on a 500-pixel face) and
    brought back up: within 1.4 pixels of the exact distance on 99% of the masks' pixels (20 faces
    of bench/quality.py's img2 run; up to 5 in narrow corners). The price: where the
    correction itself is off in the middle (the demo's astronaut into Grace Hopper, whose glasses
    darkened the local means before :func:`skin_statistics` left them out), the plain solve's lift
    hid it and the faded face shows it.
    Over all 420 pairs of bench/quality.py, 0.05 and 0.1 cut the blown share alike (3.2% to 0.28%);
    0.1 was chosen for its gentler transition (by eye, on the demo pair). ``solved``, ``warped``:
    (h, w, 3) uint8; ``mask``: (h, w) uint8, 255 inside; host; returns (h, w, 3) uint8."""
    h, w = mask.shape
    decay = -1.0 / max(fade * face_size, 1e-3)
    if fade * face_size >= 16 and min(h, w) >= 8:  # the distance at half resolution (it is smooth)
        half = (w // 2, h // 2)
        inside = cv2.resize(mask[: 2 * half[1], : 2 * half[0]], half, interpolation=cv2.INTER_AREA)
        inside = cv2.threshold(inside, 254, 255, cv2.THRESH_BINARY)[1]  # all four pixels inside
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_3)
        wgt = cv2.resize(cv2.exp(cv2.multiply(dist, 2.0 * decay)), (w, h), interpolation=cv2.INTER_LINEAR)
        wgt[mask == 0] = 1.0  # off the mask: the solve as it is
    else:
        wgt = cv2.exp(cv2.multiply(cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_3), decay))
    return cv2.blendLinear(solved, warped, wgt, cv2.subtract(1.0, wgt))  # 6x quicker than the float32 sum


def feather(mask: np.ndarray, face_size: float) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1]: the mask eroded then blurred over about 5% of the face size,
    so the alpha reaches 0 inside the original mask (no halo)."""
    r = max(1, int(round(face_size * 0.025)))
    inner = erode_round(mask, r)
    return cv2.GaussianBlur(inner.astype(np.float32) / 255.0, (0, 0), sigmaX=r)


def alpha_blend(warped: np.ndarray, target: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``warped * alpha + target * (1 - alpha)``: (h, w, 3) uint8 images, (h, w) float32 alpha, host."""
    a = alpha[:, :, None]
    return np.clip(warped * a + target * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def multiband_blend(
    warped: np.ndarray, target: np.ndarray, alpha: np.ndarray, levels: int = MULTIBAND_LEVELS
) -> np.ndarray:
    """Laplacian-pyramid blending (Burt-Adelson): each band mixed with a matching blur of ``alpha``."""
    levels = max(1, min(levels, int(np.log2(max(min(alpha.shape), 2))) - 2))
    ga = [alpha.astype(np.float32)]
    gw, gt = [warped.astype(np.float32)], [target.astype(np.float32)]
    for _ in range(levels):
        ga.append(cv2.pyrDown(ga[-1]))
        gw.append(cv2.pyrDown(gw[-1]))
        gt.append(cv2.pyrDown(gt[-1]))
    out = gw[-1] * ga[-1][:, :, None] + gt[-1] * (1 - ga[-1][:, :, None])
    for i in range(levels - 1, -1, -1):
        size = (gw[i].shape[1], gw[i].shape[0])
        lw = gw[i] - cv2.pyrUp(gw[i + 1], dstsize=size)
        lt = gt[i] - cv2.pyrUp(gt[i + 1], dstsize=size)
        a = ga[i][:, :, None]
        out = cv2.pyrUp(out, dstsize=size) + lw * a + lt * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


TINTS = {1: (255, 128, 0), -1: (0, 0, 255)}  # BGR: drawn from the mirror side (blue), not drawn (red)


def draw_mesh(
    img: np.ndarray, points: np.ndarray, colour=(0, 255, 0), triangle_source: np.ndarray | None = None
) -> np.ndarray:
    """A copy of ``img`` ((H, W, 3) uint8, host) with the mesh's edges and landmarks drawn; with
    ``triangle_source`` ((898,) int8, :attr:`fastswap.FaceSwapper.triangle_source`), the triangles
    drawn from their mirror triangle tinted blue and those not drawn red."""
    out = img.copy()
    if triangle_source is not None:
        tint = out.copy()
        for code, bgr in TINTS.items():
            for t in mesh.TRIANGLES[triangle_source == code]:
                cv2.fillConvexPoly(tint, np.round(points[t] * 4).astype(np.int32), bgr, cv2.LINE_AA, shift=2)
        out = cv2.addWeighted(out, 0.55, tint, 0.45, 0.0)
    thick = max(1, int(round(max(img.shape[:2]) / 800)))
    for t in mesh.TRIANGLES:
        cv2.polylines(out, [np.round(points[t] * 4).astype(np.int32)], True, colour, thick, cv2.LINE_AA, shift=2)
    for x, y in points[: mesh.NUM_MESH_POINTS]:
        cv2.circle(out, (int(round(x)), int(round(y))), thick, (0, 0, 255), -1)
    return out


def panel(tiles: list[tuple[str, np.ndarray]], height: int = 320) -> np.ndarray:
    """Tiles (name, BGR or gray uint8 image) side by side at one height, each captioned."""
    row = []
    for name, img in tiles:
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        w = max(1, round(img.shape[1] * height / img.shape[0]))
        tile = cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)
        cv2.rectangle(tile, (0, 0), (w, 22), (0, 0, 0), -1)
        cv2.putText(tile, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        row.append(tile)
    return np.hstack(row)


def similarity_3d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` ((N, 3) float) moved by the rotation, uniform scale and translation that best fit it
    to ``dst`` in least squares (Umeyama's closed form)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float((sv * np.diag(fix)).sum() / max((a**2).sum(), 1e-12))
    return (a @ rot.T) * scale + md


def _nearest(points: np.ndarray, to: np.ndarray) -> np.ndarray:
    """(N,) distance from each of the (N, 2) ``points`` to the nearest of the (M, 2) points ``to``."""
    d2 = (points * points).sum(axis=1)[:, None] + (to * to).sum(axis=1)[None, :] - 2.0 * (points @ to.T)
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def mesh_smoothing(points: np.ndarray, face_size: float, smooth: float = SHAPE_SMOOTH) -> np.ndarray:
    """(468, 468) float32 smoothing weights over a face's mesh: row i holds Gaussian weights (sigma
    ``smooth`` x face size) of every point's distance from point i, normalised to sum to 1.
    ``points``: (468, 2) float pixel coordinates, host. :func:`identity_shape` takes them from the
    source face, once per source (the pipeline), or from the target."""
    p = np.asarray(points, np.float32)
    sig = max(smooth * face_size, 1e-3)
    sq = (p * p).sum(axis=1)
    wts = p @ p.T  # squared distances, then Gaussian weights, in place (468 x 468)
    wts *= -2.0
    wts += sq[:, None]
    wts += sq[None, :]
    wts *= -1.0 / (2 * sig * sig)
    np.minimum(wts, 0.0, out=wts)
    np.exp(wts, out=wts)
    wts /= wts.sum(axis=1, keepdims=True)
    return wts


def identity_shape(
    src_lm: np.ndarray,
    dst_lm: np.ndarray,
    face_size: float,
    strength: float,
    *,
    pinned: np.ndarray | None = None,
    smooth: float = SHAPE_SMOOTH,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Target mesh points moved towards the source face's proportions, (468, 2) float32.

    ``src_lm``, ``dst_lm``: (468, 3) landmarks (x, y, z in pixels) of the source and the target. The
    source is fitted to the target by a 3-D similarity (pose and size removed); what is left is
    identity (face shape) plus expression. Most expression is in the mouth, which the pipeline pins
    (below). The difference is smoothed over the mesh (``weights``, :func:`mesh_smoothing`; None:
    Gaussian weights over the target's points, sigma ``smooth`` x face size; the default 2% evens out
    landmark noise and keeps the shape of the eyes and the nose, which the recognizer weighs: smoothed
    over 8%, the same distance to the source cost more landmark error, bench/quality.py) before a
    share ``strength`` of it is applied. The outline
    stays where the target has it (the weight ramps from 0 on the outline to 1 at 15% of the face
    size inside) so the seam and the mask do not move; so do the ``pinned`` points (indices; the
    pipeline pins the lips, whose shape is mostly expression, and the edges of the eyes it keeps from
    the target), with a ramp of 8%.
    """
    src = src_lm.astype(np.float64)
    dst = dst_lm.astype(np.float64)
    diff = similarity_3d(src, dst)[:, :2] - dst[:, :2]
    xy = dst[:, :2]
    if weights is None:
        weights = mesh_smoothing(xy, face_size, smooth)
    diff = weights @ diff.astype(np.float32)
    ramp = np.clip(_nearest(xy, xy[mesh.FACE_OUTLINE]) / (0.15 * face_size), 0.0, 1.0)
    if pinned is not None and len(pinned):
        ramp = np.minimum(ramp, np.clip(_nearest(xy, xy[np.asarray(pinned)]) / (0.08 * face_size), 0.0, 1.0))
    return (xy + strength * ramp[:, None] * diff).astype(np.float32)
