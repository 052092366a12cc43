"""The classic face-swap loop users write by hand, as the baseline: Delaunay triangles on the target's
landmarks, per-triangle cv2.warpAffine on bounding rectangles with fillConvexPoly masks over a
full-image canvas, then cv2.seamlessClone with the landmarks' convex hull as mask."""

from __future__ import annotations

import cv2
import numpy as np


def delaunay(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    pts = np.clip(points, 0, [w - 1, h - 1])
    for p in pts:
        subdiv.insert((float(p[0]), float(p[1])))
    index = {(round(float(p[0]), 2), round(float(p[1]), 2)): i for i, p in enumerate(pts)}
    tris = []
    for t in subdiv.getTriangleList():
        key = [(round(float(t[k]), 2), round(float(t[k + 1]), 2)) for k in (0, 2, 4)]
        if all(k in index for k in key):
            tris.append([index[k] for k in key])
    return np.array(tris, np.int32)


def warp(src: np.ndarray, src_pts: np.ndarray, dst: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    tris = delaunay(dst_pts, dst.shape[:2])
    canvas = np.zeros_like(dst)
    for t in tris:
        s, d = src_pts[t].astype(np.float32), dst_pts[t].astype(np.float32)
        r1, r2 = cv2.boundingRect(s), cv2.boundingRect(d)
        x1, y1, w1, h1 = r1
        x2, y2, w2, h2 = r2
        if w1 <= 0 or h1 <= 0 or w2 <= 0 or h2 <= 0:
            continue
        crop = src[max(y1, 0) : y1 + h1, max(x1, 0) : x1 + w1]
        if crop.size == 0:
            continue
        m = cv2.getAffineTransform((s - (max(x1, 0), max(y1, 0))).astype(np.float32), (d - (x2, y2)).astype(np.float32))
        patch = cv2.warpAffine(crop, m, (w2, h2), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        mask = np.zeros((h2, w2, 3), np.float32)
        cv2.fillConvexPoly(mask, np.int32(d - (x2, y2)), (1.0, 1.0, 1.0), 16, 0)
        ys, xs = slice(y2, y2 + h2), slice(x2, x2 + w2)
        region = canvas[ys, xs]
        if region.shape[:2] != (h2, w2):
            continue
        canvas[ys, xs] = (region * (1 - mask) + patch * mask).astype(np.uint8)
    return canvas


def blend(warped: np.ndarray, dst: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    hull = cv2.convexHull(np.int32(dst_pts))
    mask = np.zeros(dst.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    x, y, w, h = cv2.boundingRect(hull)
    return cv2.seamlessClone(warped, dst, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
