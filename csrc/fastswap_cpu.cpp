// fastswap._cpu: the CPU backend's kernels (triangle warp and multigrid Poisson blending).
// Same functions and meaning as fastswap/backends/numpy_backend.py; inputs were validated in Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define FS_X86_AVX2 1  // AVX2 code paths are compiled, and taken when the CPU has AVX2
#endif

#include "blend_params.h"
#include "colour_impl.h"
#include "poisson_gpu_impl.h"
#include "warp_impl.h"

namespace py = pybind11;
using namespace fastswap;

namespace {

using u8array = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using f32array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using i32array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

// Whether the AVX2 paths run: the CPU has AVX2 and FASTSWAP_NO_AVX2 is not set (read once; for tests
// and for comparing the two paths, which give the same bytes).
bool cpu_has_avx2() {
#ifdef FS_X86_AVX2
    static const bool yes = __builtin_cpu_supports("avx2") && std::getenv("FASTSWAP_NO_AVX2") == nullptr;
    return yes;
#else
    return false;
#endif
}

// ---------------------------------------------------------------------------------------------
// Warp

#ifdef FS_X86_AVX2
// Pixels x .. x_end - 1 of a row span, 3 channels, 8 at a time (the last group masked): the
// arithmetic of sample_bilinear_inside<3> lane by lane (source coordinates in double, weights and
// blend in float, no fused multiply-add), so the same bytes. Each pixel's 2 x 2 neighbours come from
// 4-byte gathers (its 3 channels and one byte more), so the triangle's source footprint must stay
// clear of the source's last column (`clear` in warp_triangles); lanes past the span gather nothing.
__attribute__((target("avx2"))) void warp_span3_avx2(const std::uint8_t* src, int src_w, const double* a, double bu,
                                                     double bv, int x, int x_end, std::uint8_t* o) {
    const __m256d a0 = _mm256_set1_pd(a[0]), a3 = _mm256_set1_pd(a[3]);
    const __m256d vbu = _mm256_set1_pd(bu), vbv = _mm256_set1_pd(bv);
    const __m256d k_lo = _mm256_setr_pd(0, 1, 2, 3), k_hi = _mm256_setr_pd(4, 5, 6, 7);
    const __m256i row = _mm256_set1_epi32(src_w * 3), three = _mm256_set1_epi32(3), byte = _mm256_set1_epi32(0xff);
    const __m256 one = _mm256_set1_ps(1.f), half = _mm256_set1_ps(0.5f), top_value = _mm256_set1_ps(255.f);
    // Per 128-bit lane: the 4 pixels' B, G, R bytes packed into the first 12 bytes.
    const __m256i pack = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8,
                                          9, 10, 12, 13, 14, -1, -1, -1, -1);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int* base = reinterpret_cast<const int*>(src);
    alignas(32) std::uint8_t tmp[32];
    for (; x < x_end; x += 8, o += 24) {
        const int n = std::min(8, x_end - x);  // pixels in this group
        const __m256i on = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);  // lanes inside the span
        const __m256d xd = _mm256_set1_pd((double)x);
        const __m256d xl = _mm256_add_pd(xd, k_lo), xh = _mm256_add_pd(xd, k_hi);
        const __m256d ul = _mm256_add_pd(_mm256_mul_pd(a0, xl), vbu), uh = _mm256_add_pd(_mm256_mul_pd(a0, xh), vbu);
        const __m256d vl = _mm256_add_pd(_mm256_mul_pd(a3, xl), vbv), vh = _mm256_add_pd(_mm256_mul_pd(a3, xh), vbv);
        const __m128i uil = _mm256_cvttpd_epi32(ul), uih = _mm256_cvttpd_epi32(uh);  // u, v >= 0: floor
        const __m128i vil = _mm256_cvttpd_epi32(vl), vih = _mm256_cvttpd_epi32(vh);
        const __m256 fx = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(uh, _mm256_cvtepi32_pd(uih))),
                                          _mm256_cvtpd_ps(_mm256_sub_pd(ul, _mm256_cvtepi32_pd(uil))));
        const __m256 fy = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(vh, _mm256_cvtepi32_pd(vih))),
                                          _mm256_cvtpd_ps(_mm256_sub_pd(vl, _mm256_cvtepi32_pd(vil))));
        const __m256i ui = _mm256_set_m128i(uih, uil), vi = _mm256_set_m128i(vih, vil);
        const __m256i i00 = _mm256_add_epi32(_mm256_mullo_epi32(vi, row), _mm256_mullo_epi32(ui, three));
        const __m256i i10 = _mm256_add_epi32(i00, row);
        const __m256i zero = _mm256_setzero_si256();
        const __m256i g00 = _mm256_mask_i32gather_epi32(zero, base, i00, on, 1);
        const __m256i g01 = _mm256_mask_i32gather_epi32(zero, base, _mm256_add_epi32(i00, three), on, 1);
        const __m256i g10 = _mm256_mask_i32gather_epi32(zero, base, i10, on, 1);
        const __m256i g11 = _mm256_mask_i32gather_epi32(zero, base, _mm256_add_epi32(i10, three), on, 1);
        const __m256 ofx = _mm256_sub_ps(one, fx), ofy = _mm256_sub_ps(one, fy);
        __m256i packed = _mm256_setzero_si256();
        for (int c = 0; c < 3; ++c) {
            const int sh = 8 * c;
#define FS_CHANNEL(g) _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(g, sh), byte))
            const __m256 t = _mm256_add_ps(_mm256_mul_ps(FS_CHANNEL(g00), ofx), _mm256_mul_ps(FS_CHANNEL(g01), fx));
            const __m256 b = _mm256_add_ps(_mm256_mul_ps(FS_CHANNEL(g10), ofx), _mm256_mul_ps(FS_CHANNEL(g11), fx));
#undef FS_CHANNEL
            __m256 val = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(t, ofy), _mm256_mul_ps(b, fy)), half);
            val = _mm256_min_ps(val, top_value);
            packed = _mm256_or_si256(packed, _mm256_slli_epi32(_mm256_cvttps_epi32(val), sh));
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), _mm256_shuffle_epi8(packed, pack));
        if (n == 8) {
            std::memcpy(o, tmp, 12);
            std::memcpy(o + 12, tmp + 16, 12);
        } else {
            std::memcpy(o, tmp, 3 * std::min(n, 4));
            if (n > 4) std::memcpy(o + 12, tmp + 16, 3 * (n - 4));
        }
    }
}
#endif

template <int C>
void warp_rows(const WarpParams& p, const char* clear, bool avx2, int y_begin, int y_end) {
    const int c = C > 0 ? C : p.channels;
    for (int t = 0; t < p.num_tris; ++t) {
        const TriSetup& tri = p.tris[t];
        if (!tri.drawn) continue;
        int y0 = std::max(tri.y_lo, y_begin), y1 = std::min(tri.y_hi, y_end - 1);
        for (int y = y0; y <= y1; ++y) {
            int xl, xr;
            row_span(tri, y, &xl, &xr);
            xl = std::max(xl, 0);
            xr = std::min(xr, p.out_w - 1);
            if (xl > xr) continue;
            const double bu = tri.a[1] * y + tri.a[2], bv = tri.a[4] * y + tri.a[5];
            std::uint8_t* o = p.out + ((std::size_t)y * p.out_w + xl) * c;
            std::memset(p.covered + (std::size_t)y * p.out_w + xl, 255, xr - xl + 1);
            if (C > 0 && tri.src_inside) {
                int x = xl;
#ifdef FS_X86_AVX2
                if (C == 3 && avx2 && clear[t]) {
                    warp_span3_avx2(p.src, p.src_w, tri.a, bu, bv, xl, xr + 1, o);
                    continue;
                }
#else
                (void)avx2;
                (void)clear;
#endif
                for (; x <= xr; ++x, o += c)
                    sample_bilinear_inside<(C > 0 ? C : 1)>(p.src, p.src_w, tri.a[0] * x + bu, tri.a[3] * x + bv, o);
            } else {
                for (int x = xl; x <= xr; ++x, o += c)
                    sample_bilinear(p.src, p.src_h, p.src_w, c, tri.a[0] * x + bu, tri.a[3] * x + bv, o);
            }
        }
    }
}

py::tuple warp_triangles(u8array src, f32array src_pts, f32array dst_pts, i32array triangles,
                         std::pair<int, int> out_shape, bool cull_backfacing) {
    const int h = out_shape.first, w = out_shape.second, c = (int)src.shape(2);
    const int nt = (int)triangles.shape(0);
    u8array out({h, w, c});
    u8array covered({h, w});
    std::vector<TriSetup> tris(nt);
    std::vector<char> clear(nt);  // source footprint one pixel clear of the last column (AVX2 spans)
    // The AVX2 spans address the source with 32-bit byte offsets.
    const bool avx2 = cpu_has_avx2() && (long long)src.shape(0) * src.shape(1) * c < (1LL << 31) - 64;
    const float* sp = src_pts.data();
    const float* dp = dst_pts.data();
    const std::int32_t* ti = triangles.data();
    WarpParams p{src.data(), (int)src.shape(0), (int)src.shape(1), c, out.mutable_data(),
                 covered.mutable_data(), h, w, tris.data(), nt};
    {
        py::gil_scoped_release nogil;
        std::memset(p.out, 0, (std::size_t)h * w * c);
        std::memset(p.covered, 0, (std::size_t)h * w);
        for (int t = 0; t < nt; ++t) {
            float s[6], d[6];
            for (int k = 0; k < 3; ++k) {
                int v = ti[3 * t + k];
                s[2 * k] = sp[2 * v]; s[2 * k + 1] = sp[2 * v + 1];
                d[2 * k] = dp[2 * v]; d[2 * k + 1] = dp[2 * v + 1];
            }
            setup_triangle(s, d, cull_backfacing, p.src_h, p.src_w, tris[t]);
            clear[t] = tris[t].src_inside && std::max({s[0], s[2], s[4]}) <= p.src_w - 2 - 1e-3f;
        }
        const int band = 16;  // rows per work item; each item draws all its triangles in order
        const int bands = (h + band - 1) / band;
#pragma omp parallel for schedule(dynamic, 1)
        for (int b = 0; b < bands; ++b) {
            const int lo = b * band, hi = std::min(h, (b + 1) * band);
            switch (c) {
                case 3: warp_rows<3>(p, clear.data(), avx2, lo, hi); break;
                case 4: warp_rows<4>(p, clear.data(), avx2, lo, hi); break;
                case 1: warp_rows<1>(p, clear.data(), avx2, lo, hi); break;
                default: warp_rows<0>(p, clear.data(), avx2, lo, hi); break;
            }
        }
    }
    return py::make_tuple(out, covered);
}

// ---------------------------------------------------------------------------------------------
// Poisson blending: csrc/multigrid_impl.inc, compiled for any x86-64 and for AVX2.

// Calls f(a, b) for each run [a, b) of non-zero bytes of m[0 .. w), left to right, stepping 8 bytes
// at a time through zero stretches and through stretches with no zero byte (mask rows: the blend's
// bands, the erosion).
template <class F>
inline void for_each_run(const std::uint8_t* m, int w, F&& f) {
    auto word = [&](int x) {
        std::uint64_t v;
        std::memcpy(&v, m + x, 8);
        return v;
    };
    auto no_zero_byte = [&](int x) {
        const std::uint64_t v = word(x);
        return ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL) == 0;
    };
    int x = 0;
    while (x < w) {
        while (x + 8 <= w && word(x) == 0) x += 8;
        while (x < w && !m[x]) ++x;
        if (x >= w) break;
        const int a = x;
        while (x + 8 <= w && no_zero_byte(x)) x += 8;
        while (x < w && m[x]) ++x;
        f(a, x);
    }
}

// Test hook (_cpu._poison_workspace): when set, the solver fills its reused float buffers with NaN
// at the start of each call, so that a pass reading a value this call did not write changes the
// result (a NaN reaches the output) instead of passing unnoticed on buffers that happen to hold 0.
std::atomic<bool> g_poison_workspace{false};

namespace mg_generic {
#include "multigrid_impl.inc"
}  // namespace mg_generic

#ifdef FS_X86_AVX2
#pragma GCC push_options
#pragma GCC target("avx2")
namespace mg_avx2 {
#include "multigrid_impl.inc"
}  // namespace mg_avx2
#pragma GCC pop_options
#endif

template <int C>
void blend_impl(const std::uint8_t* src, const std::uint8_t* dst, const std::uint8_t* mask, std::uint8_t* out,
                const BlendParams& p) {
#ifdef FS_X86_AVX2
    if (cpu_has_avx2()) return mg_avx2::blend_impl<C>(src, dst, mask, out, p);
#endif
    mg_generic::blend_impl<C>(src, dst, mask, out, p);
}

using u8rows = py::array_t<std::uint8_t, py::array::forcecast>;  // any strides (see pixel_rows)

// An (h, w) or (h, w, c) uint8 array whose rows may lie apart (a view of a larger image, as a region
// of interest is) but whose pixels and channels are contiguous: taken as it is; any other layout
// is copied to a C-contiguous array.
u8rows pixel_rows(u8rows a) {
    const py::ssize_t pixel = a.ndim() == 3 ? a.shape(2) : 1;  // bytes per pixel
    const bool rows_ok = (a.ndim() == 2 || a.ndim() == 3) && a.strides(a.ndim() - 1) == 1 &&
                         (a.ndim() == 2 || a.strides(1) == pixel) && a.strides(0) >= a.shape(1) * pixel;
    return rows_ok ? a : u8rows(u8array::ensure(a));
}

// Seamless cloning (see numpy_backend.poisson_blend); cycles / pre_smooth / post_smooth / tol / band
// set the accuracy of the full-multigrid solve (BlendParams). src, dst and mask may be views whose
// rows lie apart (see pixel_rows): no copy of them is made.
u8array poisson_blend(u8rows src_in, u8rows dst_in, u8rows mask_in, const std::string& mode, int cycles,
                      int pre_smooth, int post_smooth, float tol, int band) {
    const u8rows src = pixel_rows(src_in), dst = pixel_rows(dst_in), mask = pixel_rows(mask_in);
    BlendParams p{(int)dst.shape(0), (int)dst.shape(1), (int)dst.shape(2), mode == "mixed" ? 1 : 0,
                  cycles, pre_smooth, post_smooth, 4, tol, std::max(band, 0),
                  (long long)src.strides(0), (long long)dst.strides(0), (long long)mask.strides(0)};
    u8array out({p.h, p.w, p.channels});
    const std::uint8_t* s = src.data();
    const std::uint8_t* d = dst.data();
    const std::uint8_t* m = mask.data();
    std::uint8_t* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        if (p.h < 3 || p.w < 3) {
            for (int y = 0; y < p.h; ++y)
                std::memcpy(o + (std::size_t)y * p.w * p.channels, d + y * p.dst_stride, (std::size_t)p.w * p.channels);
        } else {
            switch (p.channels) {
                case 1: blend_impl<1>(s, d, m, o, p); break;
                case 2: blend_impl<2>(s, d, m, o, p); break;
                case 3: blend_impl<3>(s, d, m, o, p); break;
                default: blend_impl<4>(s, d, m, o, p); break;
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Colour gain (the fast path of fastswap.quality.apply_gain): each pixel of a (h, w, 3) uint8 image
// times a smooth per-channel gain given at a reduced size (gh, gw, 3) float32 and brought up by
// bilinear interpolation, then rounded with the highlight knee (colour_impl.h). One pass, where the
// reference makes a full-size float gain, a float product and four more full-size passes. Per output
// row, the gain's two source rows are interpolated along x (cached while they stay the same), then
// mixed along y, as OpenCV's separable resize does. Host arrays; `img`'s rows may lie apart (see
// pixel_rows); returns (h, w, 3) uint8. The GIL is released.
u8array apply_gain(u8rows img_in, f32array gain, float knee) {
    const u8rows img = pixel_rows(img_in);
    GainParams p{(int)img.shape(0), (int)img.shape(1), (long long)img.strides(0), (int)gain.shape(0),
                 (int)gain.shape(1), knee};
    u8array out({p.h, p.w, 3});
    const std::uint8_t* src = img.data();
    const float* g = gain.data();
    std::uint8_t* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        std::vector<int> x0(p.w);
        std::vector<float> ax(p.w);
        for (int x = 0; x < p.w; ++x) linear_tap(x, p.w, p.gw, &x0[x], &ax[x]);
        // one gain row brought up to w pixels along x
        auto along_x = [&](int gy, float* row) {
            const float* r = g + (std::size_t)gy * p.gw * 3;
            for (int x = 0; x < p.w; ++x) {
                const int i = x0[x], j = std::min(x0[x] + 1, p.gw - 1);
                const float a = ax[x], b = 1.f - a;
                for (int c = 0; c < 3; ++c) row[3 * x + c] = r[3 * i + c] * b + r[3 * j + c] * a;
            }
        };
#pragma omp parallel if ((long long)p.h * p.w > (1 << 16))
        {
            std::vector<float> r0(3 * (std::size_t)p.w), r1(3 * (std::size_t)p.w), v(3 * (std::size_t)p.w);
            int have0 = -1, have1 = -1;
#pragma omp for schedule(static)
            for (int y = 0; y < p.h; ++y) {
                int gy;
                float ay;
                linear_tap(y, p.h, p.gh, &gy, &ay);
                const int gy1 = std::min(gy + 1, p.gh - 1);
                if (have0 != gy) {
                    if (have1 == gy) {
                        std::swap(r0, r1);
                        std::swap(have0, have1);
                    } else {
                        along_x(gy, r0.data());
                        have0 = gy;
                    }
                }
                if (have1 != gy1) {
                    along_x(gy1, r1.data());
                    have1 = gy1;
                }
                // raw pointers and locals: stores through a uint8 pointer may alias anything, and would
                // otherwise make the compiler reload a vector's data pointer each time (no vectorising)
                const float by = 1.f - ay, knee = p.knee;
                const int n = 3 * p.w;
                const std::uint8_t* in = src + y * p.in_stride;
                std::uint8_t* row = o + (std::size_t)y * n;
                const float *g0 = r0.data(), *g1 = r1.data();
                float* vv = v.data();
                // the row's products; the knee only in rows where a value passes it
                int hot = 0;  // an integer reduction: vectorised, where a float max is not without fast-math
                for (int i = 0; i < n; ++i) {
                    const float t = (float)in[i] * (g0[i] * by + g1[i] * ay);
                    vv[i] = t;
                    hot |= t > knee;
                }
                if (hot) {
                    for (int x = 0; x < p.w; ++x) {
                        float* q = vv + 3 * x;
                        const float s = knee_scale(std::max(std::max(q[0], q[1]), q[2]), knee);
                        if (s != 1.f)
                            for (int c = 0; c < 3; ++c) q[c] *= s;
                    }
                }
                for (int i = 0; i < n; ++i) row[i] = round_u8(vv[i]);
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Mask erosion by an octagon (the fast path of fastswap.quality.erode_round), on runs of pixels.

// erode_octagon: a (h, w) uint8 mask of 0 / 255 eroded as cv2.erode by a (2s + 1)-square, then k times
// by the 3 x 3 cross, would erode it (OpenCV counts pixels outside the image as 255): a pixel stays
// 255 when every pixel of the image within the octagon max(|dx|, |dy|) <= s + k, |dx| + |dy| <= 2s + k
// around it (the square and the diamond of radius k added) is non-zero. Per output row, the runs of
// the rows within s + k above and below, each narrowed by the octagon's half-width at that height
// (a run's end at the image's edge stays), are intersected; the result is drawn from the runs.
// Host arrays; returns (h, w) uint8 0 / 255. The GIL is released.
u8array erode_octagon(u8array mask, int s, int k) {
    const int h = (int)mask.shape(0), w = (int)mask.shape(1);
    u8array out({h, w});
    const std::uint8_t* m = mask.data();
    std::uint8_t* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        std::vector<int> runs, first(h + 1);
        for (int y = 0; y < h; ++y) {
            first[y] = (int)runs.size();
            for_each_run(m + (std::size_t)y * w, w, [&](int a, int b) {
                runs.push_back(a);
                runs.push_back(b);
            });
        }
        first[h] = (int)runs.size();
        const int reach = s + k;
        auto half_width = [&](int dy) { return std::min(reach, 2 * s + k - std::abs(dy)); };
#pragma omp parallel if ((long long)h * w > (1 << 16))
        {
            std::vector<int> cur, next;
#pragma omp for schedule(static)
            for (int y = 0; y < h; ++y) {
                std::uint8_t* row = o + (std::size_t)y * w;
                std::memset(row, 0, (std::size_t)w);
                const int y0 = std::max(y - reach, 0), y1 = std::min(y + reach, h - 1);
                bool single = true;  // every row in reach has one run: the intersection is one run
                for (int yy = y0; yy <= y1 && single; ++yy) single = first[yy + 1] - first[yy] == 2;
                if (single) {
                    int lo = 0, hi = w;
                    for (int yy = y0; yy <= y1; ++yy) {
                        const int t = half_width(yy - y), a = runs[first[yy]], b = runs[first[yy] + 1];
                        lo = std::max(lo, a == 0 ? 0 : a + t);
                        hi = std::min(hi, b == w ? w : b - t);
                    }
                    if (lo < hi) std::memset(row + lo, 255, (std::size_t)(hi - lo));
                    continue;
                }
                cur.assign({0, w});
                for (int yy = y0; yy <= y1 && !cur.empty(); ++yy) {
                    const int t = half_width(yy - y);
                    next.clear();
                    std::size_t i = 0;
                    for (int r = first[yy]; r < first[yy + 1] && i < cur.size(); r += 2) {
                        const int a = runs[r] == 0 ? 0 : runs[r] + t, b = runs[r + 1] == w ? w : runs[r + 1] - t;
                        if (a >= b) continue;
                        while (i < cur.size() && cur[i + 1] <= a) i += 2;  // current runs left of [a, b)
                        for (std::size_t j = i; j < cur.size() && cur[j] < b; j += 2) {
                            const int lo = std::max(a, cur[j]), hi = std::min(b, cur[j + 1]);
                            if (lo < hi) {
                                next.push_back(lo);
                                next.push_back(hi);
                            }
                        }
                    }
                    std::swap(cur, next);
                }
                for (std::size_t i = 0; i < cur.size(); i += 2)
                    std::memset(row + cur[i], 255, (std::size_t)(cur[i + 1] - cur[i]));
            }
        }
    }
    return out;
}

// The cuda backend's blend schedule run on the host, point by point (csrc/poisson_gpu_impl.h): the
// same per-point math and order of operations as the device, so that tests on machines without a GPU
// check that solver. `levels`: the raw bytes of the GpuLevel table; `schedule`: (n, kScheduleCols)
// int32 rows (see poisson_gpu_impl.h; the small and barrier flags concern the device only).
u8array run_gpu_schedule(u8array src, u8array dst, u8array mask, bool mixed, u8array levels,
                         i32array schedule, long long pool_floats, long long link_bytes) {
    const int h = (int)dst.shape(0), w = (int)dst.shape(1), c = (int)dst.shape(2);
    if ((std::size_t)levels.size() % sizeof(GpuLevel) != 0)
        throw std::invalid_argument("levels: not a whole number of GpuLevel records");
    std::vector<GpuLevel> lv((std::size_t)levels.size() / sizeof(GpuLevel));
    std::memcpy(lv.data(), levels.data(), lv.size() * sizeof(GpuLevel));
    u8array out({h, w, c});
    std::vector<float> pool((std::size_t)pool_floats);
    std::vector<std::uint8_t> links((std::size_t)link_bytes);
    GpuBlendParams p{src.data(), dst.data(), mask.data(), out.mutable_data(), pool.data(), links.data(),
                     lv.data(), h, w, c, mixed ? 1 : 0};
    if (schedule.ndim() != 2 || schedule.shape(1) != kScheduleCols)
        throw std::invalid_argument("schedule: expected (n, kScheduleCols) int32 rows");
    const std::int32_t* e = schedule.data();
    const long long n = schedule.shape(0);
    py::gil_scoped_release nogil;
    auto step = [&](int op, int l) {
        const long long points = op_points(p, op, l);
        for (long long i = 0; i < points; ++i) blend_point(p, op, l, i);
    };
    for (long long k = 0; k < n; ++k) {
        const std::int32_t* row = e + kScheduleCols * k;
        if (row[0] == kSmallFmg || row[0] == kSmallCycle)
            small_steps(row, step);
        else
            step(row[0], row[1]);
    }
    return out;
}

int num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void set_num_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(std::max(1, n));
#else
    (void)n;
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "fastswap CPU kernels (see fastswap.backends.cpu_backend for the documented API)";
    m.def("warp_triangles", &warp_triangles, py::arg("src"), py::arg("src_pts"), py::arg("dst_pts"),
          py::arg("triangles"), py::arg("out_shape"), py::arg("cull_backfacing") = false);
    m.def("poisson_blend", &poisson_blend, py::arg("src"), py::arg("dst"), py::arg("mask"),
          py::arg("mode") = "normal", py::arg("cycles") = 2, py::arg("pre_smooth") = 2,
          py::arg("post_smooth") = 2, py::arg("tol") = 0.f, py::arg("band") = 0);
    m.def("apply_gain", &apply_gain, py::arg("img"), py::arg("gain"), py::arg("knee"),
          "(h, w, 3) uint8 times a (gh, gw, 3) float32 gain brought up bilinearly, highlights kneed (see the C++ source)");
    m.def("erode_octagon", &erode_octagon, py::arg("mask"), py::arg("s"), py::arg("k"),
          "(h, w) uint8 0/255 mask eroded by the octagon of a (2s+1)-square plus k 3x3 crosses (see the C++ source)");
    m.def(
        "_poison_workspace", [](bool on) { g_poison_workspace.store(on); }, py::arg("on"),
        "Test hook: fill the blend's reused buffers with NaN before each call (see the C++ source)");
    m.def("run_gpu_schedule", &run_gpu_schedule, py::arg("src"), py::arg("dst"), py::arg("mask"), py::arg("mixed"),
          py::arg("levels"), py::arg("schedule"), py::arg("pool_floats"), py::arg("link_bytes"),
          "The cuda backend's blend schedule run on the host (see fastswap.backends.gpu_plan)");
    m.def("num_threads", &num_threads, "OpenMP threads this thread's kernel calls use");
    m.def("uses_avx2", &cpu_has_avx2, "Whether the AVX2 code paths run (the CPU has AVX2, FASTSWAP_NO_AVX2 unset)");
    m.def("set_num_threads", &set_num_threads, py::arg("n"),
          "Set the OpenMP threads of the calling thread's kernel calls (batch workers use 1 each)");
}
