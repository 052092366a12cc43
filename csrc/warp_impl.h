// Per-pixel math of the triangle warp, written once for the C++ build and for CuPy's RawModule.
// Semantics are those of fastswap/backends/numpy_backend.py (the reference); keep them in step.
#pragma once

#include "host_device.h"

namespace fastswap {

constexpr int kFixedOne = 256;  // sub-pixel steps per pixel for snapped target vertices

// One triangle, prepared once per call (triangle_setup in the reference).
struct TriSetup {
    i64 x[3], y[3];   // snapped target vertices (fixed point), ordered to positive signed area
    i64 owned[3];     // 1 if edge i -> i+1 is owned by this triangle under the fill rule, else 0
    double a[6];      // affine target pixel -> source: u = a0 x + a1 y + a2, v = a3 x + a4 y + a5
    int drawn;        // 0 for zero-area (or culled) triangles
    int src_inside;   // 1 if the source triangle lies in [0, w - 1) x [0, h - 1): no clamping needed
    int y_lo, y_hi;   // first and last pixel row whose centre may be inside (unclipped)
};

// Parameters of one warp launch.
struct WarpParams {
    const u8* src;       // source image, HWC uint8, row-major, contiguous
    int src_h, src_w;    // source size in pixels
    int channels;        // channels of src and out (1..4)
    u8* out;             // output image, HWC uint8, out_h x out_w, zero-initialised by the caller
    u8* covered;         // output coverage, out_h x out_w, 255 where a triangle drew
    int out_h, out_w;    // output size in pixels
    const TriSetup* tris;  // prepared triangles, drawn in index order (later wins)
    int num_tris;          // number of triangles
};

FS_HD i64 floor_div(i64 a, i64 b) {  // b > 0
    i64 q = a / b;
    return (q * b > a) ? q - 1 : q;
}

FS_HD i64 snap_coord(float v) { return (i64)floor((double)v * kFixedOne + 0.5); }

// Fill TriSetup from a triangle's source and target vertices (s: 3 x (u, v), d: 3 x (x, y)).
FS_HD void setup_triangle(const float* s, const float* d, bool cull_backfacing, int src_h, int src_w,
                          TriSetup& t) {
    double sx[3], sy[3];
    for (int i = 0; i < 3; ++i) {
        t.x[i] = snap_coord(d[2 * i]);
        t.y[i] = snap_coord(d[2 * i + 1]);
        sx[i] = s[2 * i];
        sy[i] = s[2 * i + 1];
    }
    i64 area2 = (t.x[1] - t.x[0]) * (t.y[2] - t.y[0]) - (t.y[1] - t.y[0]) * (t.x[2] - t.x[0]);
    bool flip = area2 < 0;
    if (flip) {
        i64 tx = t.x[1], ty = t.y[1];
        t.x[1] = t.x[2]; t.y[1] = t.y[2]; t.x[2] = tx; t.y[2] = ty;
        double ux = sx[1], uy = sy[1];
        sx[1] = sx[2]; sy[1] = sy[2]; sx[2] = ux; sy[2] = uy;
        area2 = -area2;
    }
    t.drawn = (area2 != 0) && !(cull_backfacing && flip);
    t.src_inside = 1;
    for (int i = 0; i < 3; ++i)  // a small margin covers rounding in the affine evaluation
        if (!(sx[i] >= 1e-3 && sx[i] <= src_w - 1 - 1e-3 && sy[i] >= 1e-3 && sy[i] <= src_h - 1 - 1e-3))
            t.src_inside = 0;
    for (int i = 0; i < 3; ++i) {
        int j = (i + 1) % 3;
        i64 dx = t.x[j] - t.x[i], dy = t.y[j] - t.y[i];
        t.owned[i] = (dy < 0 || (dy == 0 && dx > 0)) ? 1 : 0;
    }
    double e1x = (double)(t.x[1] - t.x[0]), e1y = (double)(t.y[1] - t.y[0]);
    double e2x = (double)(t.x[2] - t.x[0]), e2y = (double)(t.y[2] - t.y[0]);
    double scale = (double)kFixedOne / (double)(t.drawn ? area2 : 1);
    double x0 = (double)t.x[0] / kFixedOne, y0 = (double)t.y[0] / kFixedOne;
    double d1u = sx[1] - sx[0], d2u = sx[2] - sx[0], d1v = sy[1] - sy[0], d2v = sy[2] - sy[0];
    t.a[0] = (e2y * d1u - e1y * d2u) * scale;
    t.a[1] = (-e2x * d1u + e1x * d2u) * scale;
    t.a[2] = sx[0] - t.a[0] * x0 - t.a[1] * y0;
    t.a[3] = (e2y * d1v - e1y * d2v) * scale;
    t.a[4] = (-e2x * d1v + e1x * d2v) * scale;
    t.a[5] = sy[0] - t.a[3] * x0 - t.a[4] * y0;
    i64 ymin = t.y[0], ymax = t.y[0];
    for (int i = 1; i < 3; ++i) {
        ymin = t.y[i] < ymin ? t.y[i] : ymin;
        ymax = t.y[i] > ymax ? t.y[i] : ymax;
    }
    t.y_lo = (int)floor_div(ymin + kFixedOne - 1, kFixedOne);
    t.y_hi = (int)floor_div(ymax, kFixedOne);
}

// Inclusive span [*xl, *xr] of pixel centres in row y inside triangle t (empty when *xl > *xr).
FS_HD void row_span(const TriSetup& t, int y, int* xl, int* xr) {
    i64 lo = -((i64)1 << 40), hi = ((i64)1 << 40);
    i64 py = (i64)y * kFixedOne;
    for (int i = 0; i < 3; ++i) {
        int j = (i + 1) % 3;
        // E(x) = A * 256 x + B > 0, with A = -(yb - ya), B = (xb - xa)(py - ya) + (yb - ya) xa + owned
        i64 a = -(t.y[j] - t.y[i]);
        i64 b = (t.x[j] - t.x[i]) * (py - t.y[i]) + (t.y[j] - t.y[i]) * t.x[i] + t.owned[i];
        if (a > 0) {
            i64 m = floor_div(-b, a * kFixedOne) + 1;  // smallest x with A*256x + B > 0
            lo = m > lo ? m : lo;
        } else if (a < 0) {
            i64 m = -floor_div(-b, -a * kFixedOne) - 1;  // largest x with B > |A|*256x
            hi = m < hi ? m : hi;
        } else if (b <= 0) {
            lo = 1; hi = 0;
        }
    }
    *xl = (int)(lo < -(1 << 30) ? -(1 << 30) : lo);
    *xr = (int)(hi > (1 << 30) ? (1 << 30) : hi);
}

// Bilinear sample of channel-interleaved uint8 src at (u, v), edges replicated, rounded (ties up).
FS_HD void sample_bilinear(const u8* src, int h, int w, int channels, double u, double v, u8* dst) {
    u = u < -1.0 ? -1.0 : (u > (double)w ? (double)w : u);
    v = v < -1.0 ? -1.0 : (v > (double)h ? (double)h : v);
    double fu = floor(u), fv = floor(v);
    int x0 = (int)fu, y0 = (int)fv;
    float fx = (float)(u - fu), fy = (float)(v - fv);
    int xa = x0 < 0 ? 0 : (x0 > w - 1 ? w - 1 : x0);
    int xb = x0 + 1 < 0 ? 0 : (x0 + 1 > w - 1 ? w - 1 : x0 + 1);
    int ya = y0 < 0 ? 0 : (y0 > h - 1 ? h - 1 : y0);
    int yb = y0 + 1 < 0 ? 0 : (y0 + 1 > h - 1 ? h - 1 : y0 + 1);
    const u8* p00 = src + ((long long)ya * w + xa) * channels;
    const u8* p01 = src + ((long long)ya * w + xb) * channels;
    const u8* p10 = src + ((long long)yb * w + xa) * channels;
    const u8* p11 = src + ((long long)yb * w + xb) * channels;
    for (int c = 0; c < channels; ++c) {
        float top = p00[c] * (1.0f - fx) + p01[c] * fx;
        float bot = p10[c] * (1.0f - fx) + p11[c] * fx;
        float val = top * (1.0f - fy) + bot * fy + 0.5f;
        dst[c] = (u8)(val < 0.0f ? 0.0f : (val > 255.0f ? 255.0f : val));
    }
}

// The same sample for a point known to lie in [0, w - 1) x [0, h - 1) (no clamping), C channels.
template <int C>
FS_HD void sample_bilinear_inside(const u8* src, int w, double u, double v, u8* dst) {
    const int x0 = (int)u, y0 = (int)v;  // u, v >= 0: truncation is floor
    const float fx = (float)(u - x0), fy = (float)(v - y0);
    const u8* p00 = src + ((long long)y0 * w + x0) * C;
    const u8* p10 = p00 + (long long)w * C;
    for (int c = 0; c < C; ++c) {
        float top = p00[c] * (1.0f - fx) + p00[c + C] * fx;
        float bot = p10[c] * (1.0f - fx) + p10[c + C] * fx;
        float val = top * (1.0f - fy) + bot * fy + 0.5f;
        dst[c] = (u8)(val > 255.0f ? 255.0f : val);
    }
}

}  // namespace fastswap
