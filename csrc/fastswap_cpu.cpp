// fastswap._cpu: the CPU backend's kernels (triangle warp and multigrid Poisson blending).
// Same functions and meaning as fastswap/backends/numpy_backend.py; inputs were validated in Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blend_params.h"
#include "warp_impl.h"

namespace py = pybind11;
using namespace fastswap;

namespace {

using u8array = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using f32array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using i32array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

// ---------------------------------------------------------------------------------------------
// Warp

template <int C>
void warp_rows(const WarpParams& p, int y_begin, int y_end) {
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
                for (int x = xl; x <= xr; ++x, o += c)
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
        }
        const int band = 16;  // rows per work item; each item draws all its triangles in order
        const int bands = (h + band - 1) / band;
#pragma omp parallel for schedule(dynamic, 1)
        for (int b = 0; b < bands; ++b) {
            const int lo = b * band, hi = std::min(h, (b + 1) * band);
            switch (c) {
                case 3: warp_rows<3>(p, lo, hi); break;
                case 4: warp_rows<4>(p, lo, hi); break;
                case 1: warp_rows<1>(p, lo, hi); break;
                default: warp_rows<0>(p, lo, hi); break;
            }
        }
    }
    return py::make_tuple(out, covered);
}

// ---------------------------------------------------------------------------------------------
// Poisson blending: multigrid solve of the correction h = f - src (Dirichlet, irregular domain).
//
// Layout: every level stores h, b (right-hand side) and r (residual) channel-interleaved, so one
// pixel's 4 neighbours are at fixed offsets +-C and +-C*w of every element, and one branch-free loop
// over all elements updates every channel at once (auto-vectorised). Red/black Gauss-Seidel
// updates are written as x += wt * (b + neighbours - diagonal x), where wt is 1 / diagonal on unknown
// pixels of the colour being updated and 0 elsewhere; a red update reads only black neighbours, so
// the loop has no dependency the vectoriser must respect. The finest level, three quarters of the
// memory, keeps one byte per element for this (its diagonal is 4 everywhere) instead of float weights.

struct Level {
    int h = 0, w = 0;
    std::vector<std::uint8_t> m;  // 1 = unknown pixel (never on the frame)
    std::vector<float> x, b, r;   // solution, right-hand side, residual (h * w * C)
    std::vector<float> wr, wb;    // coarse levels: 1 / diagonal on unknown red / black elements, else 0
    std::vector<std::uint8_t> code;  // finest level: 1 / 2 on unknown red / black elements, else 0
    // Diagonal of the 5-point operator per element on coarse levels (empty on the finest, where it
    // is 4). A coarse point next to the domain's edge sees that edge where the finest mask has it,
    // at a fraction theta of the coarse spacing, and weighs it 1 / theta (Shortley-Weller's
    // symmetric part): the coarse problems then keep the fine domain's size, and the V-cycle damps
    // the smoothest error modes of large regions instead of missing them by the boundary's offset.
    std::vector<float> dg;
};

struct Workspace {  // reused across calls (per thread) so repeated swaps do not reallocate
    std::vector<Level> levels;
};

thread_local Workspace tls_ws;

constexpr long long kParallelMin = 1 << 16;  // elements below which a pass runs on one thread
constexpr long long kChunk = 1 << 13;        // elements per OpenMP work item

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define FS_MULTIVERSION
#endif

// One colour's update over elements [lo, hi) of a row of a coarse level: x += wt (b + neighbours -
// dg x). Results go through a small block buffer so the loads of x[k +- c] never hit a store still in
// flight (a store-forwarding stall per vector).
FS_MULTIVERSION
void rb_row_dg(float* __restrict x, const float* __restrict b, const float* __restrict wt,
               const float* __restrict dg, long long lo, long long hi, long long c, long long s) {
    constexpr long long kBlock = 1024;
    float tmp[kBlock];
    for (long long k0 = lo; k0 < hi; k0 += kBlock) {
        const long long n = std::min(kBlock, hi - k0);
        const float* xs = x + k0;
        for (long long i = 0; i < n; ++i)
            tmp[i] = xs[i] + wt[k0 + i] * (b[k0 + i] + xs[i - c] + xs[i + c] + xs[i - s] + xs[i + s] - dg[k0 + i] * xs[i]);
        std::memcpy(x + k0, tmp, (std::size_t)n * sizeof(float));
    }
}

// The finest level's update of the elements coded `colour` (diagonal 4, weight 1/4).
FS_MULTIVERSION
void rb_row(float* __restrict x, const float* __restrict b, const std::uint8_t* __restrict code,
            std::uint8_t colour, long long lo, long long hi, long long c, long long s) {
    constexpr long long kBlock = 1024;
    float tmp[kBlock];
    for (long long k0 = lo; k0 < hi; k0 += kBlock) {
        const long long n = std::min(kBlock, hi - k0);
        const float* xs = x + k0;
        for (long long i = 0; i < n; ++i) {
            const float wt = code[k0 + i] == colour ? 0.25f : 0.f;
            tmp[i] = xs[i] + wt * (b[k0 + i] + xs[i - c] + xs[i + c] + xs[i - s] + xs[i + s] - 4.f * xs[i]);
        }
        std::memcpy(x + k0, tmp, (std::size_t)n * sizeof(float));
    }
}


// Residual b + neighbours - diagonal x over elements [lo, hi), 0 on known elements: on the finest
// level (diagonal 4) from the element codes, on coarse ones from the weights and diagonals.
FS_MULTIVERSION
void residual_pass(float* __restrict r, const float* __restrict x, const float* __restrict b,
                   const std::uint8_t* __restrict code, long long lo, long long hi, long long c, long long s) {
#pragma omp parallel for schedule(static) if (hi - lo > kParallelMin)
    for (long long k0 = lo; k0 < hi; k0 += kChunk) {
        const long long k1 = std::min(k0 + kChunk, hi);
#pragma GCC ivdep
        for (long long k = k0; k < k1; ++k)
            r[k] = (code[k] ? 1.f : 0.f) * (b[k] + x[k - c] + x[k + c] + x[k - s] + x[k + s] - 4.f * x[k]);
    }
}

FS_MULTIVERSION
void residual_pass_dg(float* __restrict r, const float* __restrict x, const float* __restrict b,
                      const float* __restrict wr, const float* __restrict wb, const float* __restrict dg,
                      long long lo, long long hi, long long c, long long s) {
#pragma omp parallel for schedule(static) if (hi - lo > kParallelMin)
    for (long long k0 = lo; k0 < hi; k0 += kChunk) {
        const long long k1 = std::min(k0 + kChunk, hi);
#pragma GCC ivdep
        for (long long k = k0; k < k1; ++k)
            r[k] = (wr[k] + wb[k]) * dg[k] * (b[k] + x[k - c] + x[k + c] + x[k - s] + x[k + s] - dg[k] * x[k]);
    }
}

// `sweeps` red-black Gauss-Seidel sweeps in one streaming pass over the rows (a wavefront): at step
// y, sweep k updates the first colour on row y - 2k and the second colour on the row above it. Every
// update then sees exactly the neighbours a plain sweep-after-sweep order would, while the rows in
// flight stay in cache. `reverse` swaps the colours (for a symmetric V-cycle).
template <int C>
void smooth(Level& L, int sweeps, bool reverse = false) {
    const long long s = (long long)L.w * C;
    const int first = reverse ? 1 : 0, second = 1 - first;  // 0: red, 1: black
    const float* wt[2] = {L.wr.data(), L.wb.data()};
    const float* dg = L.dg.empty() ? nullptr : L.dg.data();
    auto row = [&](int colour, int r) {
        if (r < 1 || r > L.h - 2) return;
        if (dg)
            rb_row_dg(L.x.data(), L.b.data(), wt[colour], dg, r * s + C, (r + 1) * s - C, C, s);
        else
            rb_row(L.x.data(), L.b.data(), L.code.data(), (std::uint8_t)(colour + 1), r * s + C, (r + 1) * s - C, C, s);
    };
#ifdef _OPENMP
    // With several threads and a large level: plain sweeps, each colour's rows shared among the threads
    // (a colour's updates read only the other colour, so the order within a pass does not matter and
    // the result is the wavefront's, bit for bit).
    if (omp_get_max_threads() > 1 && (long long)L.h * s > kParallelMin) {
#pragma omp parallel
        for (int k = 0; k < sweeps; ++k) {
#pragma omp for schedule(static)
            for (int r = 1; r < L.h - 1; ++r) row(first, r);
#pragma omp for schedule(static)
            for (int r = 1; r < L.h - 1; ++r) row(second, r);
        }
        return;
    }
#endif
    for (int y = 1; y < L.h - 1 + 2 * sweeps; ++y)
        for (int k = 0; k < sweeps; ++k) {
            row(first, y - 2 * k);
            row(second, y - 2 * k - 1);
        }
}

template <int C>
void residual(Level& L) {
    const long long s = (long long)L.w * C, lo = s + C, hi = (long long)(L.h - 1) * s - C;
    if (L.dg.empty())
        residual_pass(L.r.data(), L.x.data(), L.b.data(), L.code.data(), lo, hi, C, s);
    else
        residual_pass_dg(L.r.data(), L.x.data(), L.b.data(), L.wr.data(), L.wb.data(), L.dg.data(), lo, hi, C, s);
}

// Vertex-centred coarsening: coarse point (i, j) sits on fine point (2i, 2j).
// Coarse right-hand side = 4 x full weighting (1 2 1 / 2 4 2 / 1 2 1) / 16 of the fine values
// (the 4 accounts for the doubled grid spacing in the unscaled 5-point operator).
template <int C>
void restrict_to(const std::vector<float>& fine, const Level& F, Level& K) {
    const std::size_t fs = (std::size_t)F.w * C;
#pragma omp parallel for schedule(static) if ((long long)K.h * K.w * C > kParallelMin)
    for (int y = 1; y < K.h - 1; ++y) {
        for (int i = 1; i < K.w - 1; ++i) {
            const float* f = fine.data() + (std::size_t)(2 * y) * fs + (std::size_t)(2 * i) * C;
            float* o = K.b.data() + ((std::size_t)y * K.w + i) * C;
            for (int c = 0; c < C; ++c) {
                const float* p = f + c;
                o[c] = 0.25f * (p[-fs - C] + p[-fs + C] + p[fs - C] + p[fs + C]) +
                       0.5f * (p[-fs] + p[fs] + p[-C] + p[C]) + p[0];
            }
        }
    }
}

// Fine x (+)= bilinear interpolation of coarse x, on unknown fine pixels only (branch-free: the
// interpolated value is multiplied by the unknown-pixel indicator (wr + wb) x diagonal). Per fine
// row: the coarse rows above and below averaged, then widened to the fine row (even pixels take
// the coarse value, odd ones the mean of two), then one vectorisable pass.
template <int C>
void prolong(const Level& K, Level& F, bool add) {
#pragma omp parallel if ((long long)F.h * F.w * C > kParallelMin)
    {
        std::vector<float> tmp((std::size_t)K.w * C), wide((std::size_t)F.w * C + 2 * C);
#pragma omp for schedule(static)
        for (int y = 1; y < F.h - 1; ++y) {
            const int y0 = y >> 1, y1 = std::min((y + 1) >> 1, K.h - 1);
            const float* k0 = K.x.data() + (std::size_t)y0 * K.w * C;
            const float* k1 = K.x.data() + (std::size_t)y1 * K.w * C;
            for (int e = 0; e < K.w * C; ++e) tmp[e] = 0.5f * (k0[e] + k1[e]);  // vertical, whole row
            for (int j = 0; j < K.w; ++j) {
                const int jn = std::min(j + 1, K.w - 1);
                for (int c = 0; c < C; ++c) {
                    wide[(std::size_t)(2 * j) * C + c] = tmp[(std::size_t)j * C + c];
                    wide[(std::size_t)(2 * j + 1) * C + c] = 0.5f * (tmp[(std::size_t)j * C + c] + tmp[(std::size_t)jn * C + c]);
                }
            }
            const std::size_t row = (std::size_t)y * F.w * C;
            float* __restrict o = F.x.data() + row;
            const float* __restrict wd = wide.data();
            const int lo = C, hi = (F.w - 1) * C;
            if (F.dg.empty()) {
                const std::uint8_t* __restrict code = F.code.data() + row;
                if (add)
                    for (int e = lo; e < hi; ++e) o[e] += (code[e] ? 1.f : 0.f) * wd[e];
                else
                    for (int e = lo; e < hi; ++e) o[e] = (code[e] ? 1.f : 0.f) * wd[e];
            } else {
                const float* __restrict wr = F.wr.data() + row;
                const float* __restrict wb = F.wb.data() + row;
                const float* __restrict dg = F.dg.data() + row;
                if (add)
                    for (int e = lo; e < hi; ++e) o[e] += (wr[e] + wb[e]) * dg[e] * wd[e];
                else
                    for (int e = lo; e < hi; ++e) o[e] = (wr[e] + wb[e]) * dg[e] * wd[e];
            }
        }
    }
}

template <int C>
void vcycle(std::vector<Level>& lv, std::size_t l, const BlendParams& p) {
    Level& L = lv[l];
    if (l + 1 == lv.size()) {  // coarsest: symmetric Gauss-Seidel (forward, then the colours reversed)
        smooth<C>(L, 15);
        smooth<C>(L, 15, true);
        return;
    }
    Level& K = lv[l + 1];
    smooth<C>(L, p.pre_smooth);
    residual<C>(L);
    restrict_to<C>(L.r, L, K);
    std::fill(K.x.begin(), K.x.end(), 0.f);
    vcycle<C>(lv, l + 1, p);
    prolong<C>(K, L, true);
    smooth<C>(L, p.post_smooth, true);
}

// RMS of the finest level's residual over its `unknowns` elements (computed into F.r, which is 0
// elsewhere).
template <int C>
float residual_rms(Level& F, long long unknowns) {
    residual<C>(F);
    double acc = 0.0;
    const float* r = F.r.data();
    const long long n = (long long)F.r.size();
    for (long long k0 = 0; k0 < n; k0 += kChunk) {  // float partial sums, vectorisable
        const long long k1 = std::min(k0 + kChunk, n);
        float part = 0.f;
#pragma omp simd reduction(+ : part)
        for (long long k = k0; k < k1; ++k) part += r[k] * r[k];
        acc += part;
    }
    return unknowns ? (float)std::sqrt(acc / (double)unknowns) : 0.f;
}

// Smoother weights (1 / diagonal) and diagonals of coarse level L, whose spacing is `step` (> 1)
// finest pixels: a neighbour outside the domain counts 1 / theta, theta = the distance in coarse
// spacings from the point to the first finest-level pixel outside the domain in that direction.
// Every element is written (0 on known ones), row by row.
template <int C>
void set_weights(Level& L, const Level& finest, int step) {
    const std::size_t n = (std::size_t)L.h * L.w;
    L.wr.resize(n * C);
    L.wb.resize(n * C);
    L.dg.resize(n * C);
    const int fw = finest.w, fh = finest.h, lw = L.w;
    const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
    const std::uint8_t* m = L.m.data();
    for (int y = 0; y < L.h; ++y)
        for (int i = 0; i < lw; ++i) {
            const std::size_t k = (std::size_t)y * lw + i;
            float diag = 0.f, inv = 0.f;
            if (m[k]) {  // never on the frame, so the 4 neighbours exist
                if (m[k - 1] && m[k + 1] && m[k - lw] && m[k + lw]) {
                    diag = 4.f;
                } else {
                    for (int d = 0; d < 4; ++d) {
                        if (m[(std::size_t)(y + dy[d]) * lw + (i + dx[d])]) {
                            diag += 1.f;
                            continue;
                        }
                        int t = 1;  // finest pixels to the first one outside the domain
                        for (; t < step; ++t) {
                            const int fx = i * step + dx[d] * t, fy = y * step + dy[d] * t;
                            if (fx <= 0 || fy <= 0 || fx >= fw - 1 || fy >= fh - 1) break;
                            if (!finest.m[(std::size_t)fy * fw + fx]) break;
                        }
                        diag += (float)step / (float)t;
                    }
                }
                inv = 1.f / diag;
            }
            const bool black = (y + i) & 1;
            const float fr = black ? 0.f : inv, fb = black ? inv : 0.f;
            for (int c = 0; c < C; ++c) {
                L.wr[k * C + c] = fr;
                L.wb[k * C + c] = fb;
                L.dg[k * C + c] = diag;
            }
        }
}

// g = dst - src on known elements, 0 on unknown ones, over elements [lo, hi).
FS_MULTIVERSION
void boundary_difference(float* __restrict g, const std::uint8_t* __restrict src, const std::uint8_t* __restrict dst,
                         const std::uint8_t* __restrict code, long long lo, long long hi) {
    for (long long k = lo; k < hi; ++k) g[k] = (code[k] ? 0.f : 1.f) * ((float)dst[k] - (float)src[k]);
}

// Right-hand side on unknown elements of [lo, hi): the known neighbours' g, plus (mixed) the change
// of guidance where the target's gradient is the stronger one.
FS_MULTIVERSION
void rhs_pass(float* __restrict b, const float* __restrict g, const std::uint8_t* __restrict code, long long lo,
              long long hi, long long c, long long s) {
    for (long long k = lo; k < hi; ++k) b[k] = (code[k] ? 1.f : 0.f) * (g[k - c] + g[k + c] + g[k - s] + g[k + s]);
}

FS_MULTIVERSION
void rhs_pass_mixed(float* __restrict b, const float* __restrict g, const std::uint8_t* __restrict src,
                    const std::uint8_t* __restrict dst, const std::uint8_t* __restrict code, long long lo,
                    long long hi, long long c, long long s) {
    for (long long k = lo; k < hi; ++k) {
        float acc = g[k - c] + g[k + c] + g[k - s] + g[k + s];
        const float sp = src[k], dp = dst[k];
        for (const long long o : {-c, c, -s, s}) {
            const float gs = sp - (float)src[k + o], gd = dp - (float)dst[k + o];
            acc += std::abs(gd) > std::abs(gs) ? gd - gs : 0.f;
        }
        b[k] = (code[k] ? 1.f : 0.f) * acc;
    }
}

// out = the solved pixel (src + x, rounded and clamped) on unknown pixels, dst elsewhere: per row, the
// solution for every element, then a byte select by the row's mask widened to elements (both loops
// vectorised).
template <int C>
inline __attribute__((always_inline)) void result_row_impl(const std::uint8_t* __restrict src,
                                                            const std::uint8_t* __restrict dst,
                                                            const float* __restrict x,
                                                            const std::uint8_t* __restrict unknown,
                                                            std::uint8_t* __restrict out, int w) {
    constexpr int kBlock = 256;
    std::uint8_t solved[kBlock * C], pick[kBlock * C];
    for (int i0 = 0; i0 < w; i0 += kBlock) {
        const int np = std::min(kBlock, w - i0), n = np * C;
        const std::uint8_t* s = src + (std::size_t)i0 * C;
        const std::uint8_t* d = dst + (std::size_t)i0 * C;
        const float* xs = x + (std::size_t)i0 * C;
        for (int k = 0; k < n; ++k) {
            const float v = std::min(std::max((float)s[k] + xs[k] + 0.5f, 0.f), 255.f);
            solved[k] = (std::uint8_t)(int)v;  // v >= 0: truncation is floor
        }
        for (int i = 0; i < np; ++i)
            for (int c = 0; c < C; ++c) pick[i * C + c] = (std::uint8_t)(0 - (unknown[i0 + i] != 0));  // 0xff / 0
        std::uint8_t* o = out + (std::size_t)i0 * C;
        for (int k = 0; k < n; ++k) o[k] = (std::uint8_t)((solved[k] & pick[k]) | (d[k] & ~pick[k]));
    }
}

template <int C>
FS_MULTIVERSION void result_row(const std::uint8_t* src, const std::uint8_t* dst, const float* x,
                                const std::uint8_t* unknown, std::uint8_t* out, int w) {
    result_row_impl<C>(src, dst, x, unknown, out, w);
}

template <int C>
void write_result(const Level& F, const std::uint8_t* src, const std::uint8_t* dst, std::uint8_t* out) {
    const std::size_t rs = (std::size_t)F.w * C;
#pragma omp parallel for schedule(static) if ((long long)F.h * F.w * C > kParallelMin)
    for (int y = 0; y < F.h; ++y)
        result_row<C>(src + y * rs, dst + y * rs, F.x.data() + y * rs, F.m.data() + (std::size_t)y * F.w,
                      out + y * rs, F.w);
}

template <int C>
void blend_impl(const std::uint8_t* src, const std::uint8_t* dst, const std::uint8_t* mask,
                std::uint8_t* out, const BlendParams& p) {
    const int h = p.h, w = p.w;
    auto& lv = tls_ws.levels;
    // Build the level hierarchy (buffers kept from earlier calls are reused).
    std::size_t nl = 0;
    // Coarse point i sits on fine point 2i; n / 2 + 1 points cover the fine grid up to its last row
    // and column (with (n + 1) / 2 an even-sized level's coarse frame would sit one fine pixel inside
    // it, cutting into a mask that reaches the frame).
    for (int lh = h, lw = w;; lh = lh / 2 + 1, lw = lw / 2 + 1) {
        if (nl == lv.size()) lv.emplace_back();
        Level& L = lv[nl++];
        L.h = lh; L.w = lw;
        std::size_t n = (std::size_t)lh * lw;
        L.m.assign(n, 0);
        if (nl == 1) {  // the finest: every element is written below (x's frame explicitly)
            L.x.resize(n * C);
            L.b.resize(n * C);
            L.r.resize(n * C);
        } else {
            L.x.assign(n * C, 0.f);
            L.b.assign(n * C, 0.f);
            L.r.assign(n * C, 0.f);
        }
        if (std::min(lh, lw) <= p.coarsest || nl >= 16) break;
    }
    std::vector<Level> levels;  // the first nl levels (moved back after the solve)
    levels.reserve(nl);
    for (std::size_t i = 0; i < nl; ++i) levels.push_back(std::move(lv[i]));

    Level& F = levels[0];
    long long unknowns = 0;  // unknown elements (pixels x channels)
    F.code.resize((std::size_t)h * w * C);
    F.wr.clear();
    F.wb.clear();
    F.dg.clear();
    for (int y = 0; y < h; ++y) {
        std::uint8_t* cd = F.code.data() + (std::size_t)y * w * C;
        for (int i = 0; i < w; ++i) {
            const bool u = y > 0 && y < h - 1 && i > 0 && i < w - 1 && mask[(std::size_t)y * w + i] != 0;
            F.m[(std::size_t)y * w + i] = u;
            unknowns += u ? C : 0;
            const std::uint8_t v = u ? (std::uint8_t)(1 + ((y + i) & 1)) : 0;
            for (int c = 0; c < C; ++c) cd[i * C + c] = v;
        }
    }
    for (std::size_t l = 1; l < nl; ++l) {  // coarse point unknown if its fine point is; frame never
        Level& K = levels[l];
        const Level& P = levels[l - 1];
        for (int y = 1; y < K.h - 1; ++y)
            for (int i = 1; i < K.w - 1; ++i)
                K.m[(std::size_t)y * K.w + i] = P.m[(std::size_t)(2 * y) * P.w + 2 * i];
        set_weights<C>(K, F, 1 << l);
    }
    // Right-hand side of the correction problem (see numpy_backend.poisson_system), element-wise:
    // b = sum over the 4 neighbours q of [q known] (dst_q - src_q) + [mixed] guidance change.
    {
        const long long es = (long long)w * C, lo = es + C, hi = (long long)(h - 1) * es - C;
        std::vector<float>& g = F.r;  // scratch: (dst - src) on known pixels, 0 on unknown ones
        const std::uint8_t* code = F.code.data();
#pragma omp parallel for schedule(static) if ((long long)h * w * C > kParallelMin)
        for (long long k0 = 0; k0 < (long long)h * w * C; k0 += kChunk)
            boundary_difference(g.data(), src, dst, code, k0, std::min(k0 + kChunk, (long long)h * w * C));
#pragma omp parallel for schedule(static) if (hi - lo > kParallelMin)
        for (long long k0 = lo; k0 < hi; k0 += kChunk) {
            const long long k1 = std::min(k0 + kChunk, hi);
            if (p.mixed)
                rhs_pass_mixed(F.b.data(), g.data(), src, dst, code, k0, k1, C, es);
            else
                rhs_pass(F.b.data(), g.data(), code, k0, k1, C, es);
        }
        // The residual passes write rows 1 .. h-2 only; the restriction of an even-sized level reads
        // the last row too, so the scratch values there must not stay behind.
        std::fill(g.begin(), g.begin() + lo, 0.f);
        std::fill(g.begin() + hi, g.end(), 0.f);
        std::fill(F.b.begin(), F.b.begin() + lo, 0.f);
        std::fill(F.b.begin() + hi, F.b.end(), 0.f);
        // x: the frame stays 0 (interpolation writes the inside only); all of it on a single level.
        if (nl == 1) {
            std::fill(F.x.begin(), F.x.end(), 0.f);
        } else {
            std::fill(F.x.begin(), F.x.begin() + es, 0.f);
            std::fill(F.x.end() - es, F.x.end(), 0.f);
            for (int y = 1; y < h - 1; ++y) {
                std::fill_n(F.x.begin() + y * es, C, 0.f);
                std::fill_n(F.x.begin() + (y + 1) * es - C, C, 0.f);
            }
        }
    }
    // Full multigrid: restrict the right-hand side, solve coarsest, interpolate up with a V-cycle each.
    for (std::size_t l = 1; l < nl; ++l) restrict_to<C>(levels[l - 1].b, levels[l - 1], levels[l]);
    smooth<C>(levels[nl - 1], 30);
    for (std::size_t l = nl - 1; l-- > 0;) {
        prolong<C>(levels[l + 1], levels[l], false);
        vcycle<C>(levels, l, p);
    }
    for (int it = 0; it < p.cycles; ++it) {
        if (p.tol > 0.f && residual_rms<C>(F, unknowns) < p.tol) break;
        vcycle<C>(levels, 0, p);
    }
    write_result<C>(F, src, dst, out);
    for (std::size_t i = 0; i < nl; ++i) lv[i] = std::move(levels[i]);
}

// Seamless cloning (see numpy_backend.poisson_blend); cycles / pre_smooth / post_smooth / tol set the
// accuracy of the full-multigrid solve (BlendParams).
u8array poisson_blend(u8array src, u8array dst, u8array mask, const std::string& mode, int cycles,
                      int pre_smooth, int post_smooth, float tol) {
    BlendParams p{(int)dst.shape(0), (int)dst.shape(1), (int)dst.shape(2), mode == "mixed" ? 1 : 0,
                  cycles, pre_smooth, post_smooth, 4, tol};
    u8array out({p.h, p.w, p.channels});
    const std::uint8_t* s = src.data();
    const std::uint8_t* d = dst.data();
    const std::uint8_t* m = mask.data();
    std::uint8_t* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        if (p.h < 3 || p.w < 3) {
            std::memcpy(o, d, (std::size_t)p.h * p.w * p.channels);
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
          py::arg("post_smooth") = 2, py::arg("tol") = 0.f);
    m.def("num_threads", &num_threads, "OpenMP threads this thread's kernel calls use");
    m.def("set_num_threads", &set_num_threads, py::arg("n"),
          "Set the OpenMP threads of the calling thread's kernel calls (batch workers use 1 each)");
}
