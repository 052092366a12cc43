// Per-pixel math of the colour gain (fastswap.quality.apply_gain), written once for the C++ build and
// for CuPy's RawModule. Semantics are those of the reference in fastswap/quality.py (an OpenCV
// bilinear resize of the gain, a product, soft_highlights); keep them in step.
#pragma once

#include "host_device.h"

namespace fastswap {

// Parameters of one gain launch.
struct GainParams {
    int h, w;             // image size in pixels (3 channels, BGR, uint8)
    long long in_stride;  // bytes from one row of the input to the next (pixels contiguous; rows may
                          // be a view's, further apart than 3 w)
    int gh, gw;           // gain size (3 float32 channels, row-major, contiguous), brought up to
                          // (h, w) as cv2.resize(INTER_LINEAR) would: pixel centres aligned
    float knee;           // brightest channel value left alone (quality.KNEE); above it a pixel is
                          // scaled as a whole towards 255
};

// One axis of the bilinear resize: output index i of n, from a source of m samples. Sets the first
// source index and the weight of the next one (OpenCV's convention: centres aligned, clamped at the
// ends with weight 0).
FS_HD void linear_tap(int i, int n, int m, int* i0, float* a) {
    const double scale = (double)m / (double)n;
    double f = (i + 0.5) * scale - 0.5;
    int s = (int)floor(f);
    float t = (float)(f - s);
    if (s < 0) {
        s = 0;
        t = 0.f;
    }
    if (s >= m - 1) {
        s = m - 1;
        t = 0.f;
    }
    *i0 = s;
    *a = t;
}

// The highlight knee of quality.soft_highlights: a pixel whose brightest channel m exceeds `knee` is
// scaled as a whole by f(m) / m, f(m) = knee + r (1 - exp(-(m - knee) / r)), r = 255 - knee (slope 1
// at the knee, never reaching 255). Returns that factor; 1 at or below the knee.
FS_HD float knee_scale(float m, float knee) {
    if (!(m > knee)) return 1.f;
    const float room = 255.f - knee;
    return (knee + room * (1.f - expf((m - knee) * (-1.f / room)))) / m;
}

// A non-negative float (below 2^22) rounded to the nearest integer, ties to even (as OpenCV's
// saturate_cast and rintf under the default rounding mode), then saturated to 255: adding and taking
// away 2^23 leaves no fraction bits, so the float addition itself rounds. Plain arithmetic, which
// the compiler vectorises (rintf is a library call without SSE4.1).
FS_HD u8 round_u8(float x) {
    const float r = (x + 8388608.f) - 8388608.f;
    return (u8)(r > 255.f ? 255.f : r);
}

}  // namespace fastswap
