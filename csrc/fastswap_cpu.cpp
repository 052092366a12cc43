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
// Layout (rows split by colour): every level stores x (solution), b (right-hand side) and r
// (residual) as h rows of w pixels x C channels, but within a row the even-x pixels come first (the
// E block, ne = (w + 1) / 2 pixels) and the odd-x pixels after them (the O block, w / 2 pixels),
// each pixel's C channels together. Pixel (x, y) is red when x + y is even, so a red (or black)
// Gauss-Seidel pass over a row updates exactly one of its blocks: a contiguous run of elements whose
// left and right neighbours are the other block's elements at fixed offsets and whose upper and
// lower neighbours sit at the same place one row away. The update loops therefore do only useful
// work and vectorise, with no load depending on a store in flight. The finest level, three
// quarters of the memory, keeps one byte per element for "unknown" (its diagonal is 4 everywhere);
// coarse levels keep 1 / diagonal (0 on known elements) and the diagonal as floats.

struct Level {
    int h = 0, w = 0;
    std::vector<std::uint8_t> m;  // 1 = unknown pixel (never on the frame); natural pixel order (h * w)
    std::vector<float> x, b, r;   // solution, right-hand side, residual (h * w * C, split rows)
    std::vector<std::uint8_t> u;  // finest level: 1 on unknown elements, else 0 (split rows)
    std::vector<float> wt;        // coarse levels: 1 / diagonal on unknown elements, else 0 (split rows)
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

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define FS_MULTIVERSION
#endif

// Geometry of a split row of w pixels: where pixel x's channels start, and the interior (non-frame)
// pixels of each block: E pixels j = 1 .. ne_in (x = 2j), O pixels j = 0 .. no_in - 1 (x = 2j + 1).
struct Split {
    int ne, ne_in, no_in;
    explicit Split(int w) : ne((w + 1) / 2), ne_in((w - 2) / 2), no_in((w - 1) / 2) {}
    long long pos(int x, int c) const { return (long long)((x & 1) ? ne + (x >> 1) : (x >> 1)) * c; }
};

// Calls f(x, e) for every pixel x of a split row of w pixels, e = the element offset of its first
// channel in the row: the E block (x = 0, 2, ...), then the O block (x = 1, 3, ...), with no branch
// per pixel.
template <int C, class Fn>
inline void for_each_split(int w, Fn&& f) {
    const int ne = (w + 1) / 2;
    for (int j = 0; j < ne; ++j) f(2 * j, (long long)j * C);
    for (int j = 0; j < w / 2; ++j) f(2 * j + 1, (long long)(ne + j) * C);
}

// One block's update: xo (the block's first interior element, n elements) from its left / right
// neighbours xl / xr (the other block), up / down xu / xd (one row away) and b. Finest level:
// diagonal 4, weight 1/4 on unknown elements. The five pointers address disjoint memory during the
// loop (one block is written, the others read), hence __restrict.
FS_MULTIVERSION
void rb_block(float* __restrict xo, const float* __restrict xl, const float* __restrict xr,
              const float* __restrict xu, const float* __restrict xd, const float* __restrict b,
              const std::uint8_t* __restrict u, long long n) {
    for (long long i = 0; i < n; ++i)
        xo[i] = xo[i] + (u[i] ? 0.25f : 0.f) * (b[i] + xl[i] + xr[i] + xu[i] + xd[i] - 4.f * xo[i]);
}

// The same on a coarse level: weight wt (1 / diagonal, 0 on known elements), diagonal dg.
FS_MULTIVERSION
void rb_block_dg(float* __restrict xo, const float* __restrict xl, const float* __restrict xr,
                 const float* __restrict xu, const float* __restrict xd, const float* __restrict b,
                 const float* __restrict wt, const float* __restrict dg, long long n) {
    for (long long i = 0; i < n; ++i)
        xo[i] = xo[i] + wt[i] * (b[i] + xl[i] + xr[i] + xu[i] + xd[i] - dg[i] * xo[i]);
}

// Residual b + neighbours - diagonal x of one block's n elements into ro, 0 on known elements.
FS_MULTIVERSION
void residual_block(float* __restrict ro, const float* __restrict xo, const float* __restrict xl,
                    const float* __restrict xr, const float* __restrict xu, const float* __restrict xd,
                    const float* __restrict b, const std::uint8_t* __restrict u, long long n) {
    for (long long i = 0; i < n; ++i)
        ro[i] = (u[i] ? 1.f : 0.f) * (b[i] + xl[i] + xr[i] + xu[i] + xd[i] - 4.f * xo[i]);
}

FS_MULTIVERSION
void residual_block_dg(float* __restrict ro, const float* __restrict xo, const float* __restrict xl,
                       const float* __restrict xr, const float* __restrict xu, const float* __restrict xd,
                       const float* __restrict b, const float* __restrict wt, const float* __restrict dg,
                       long long n) {
    for (long long i = 0; i < n; ++i)
        ro[i] = wt[i] * dg[i] * (b[i] + xl[i] + xr[i] + xu[i] + xd[i] - dg[i] * xo[i]);
}

// Where one block of row r starts and what its neighbours are (element offsets into the level's
// arrays); n = its interior elements.
struct BlockAt {
    long long o, l, r, n;  // first interior element, its left and right neighbours' offsets, count
};

template <int C>
BlockAt block_at(const Level& L, int row, bool even) {
    const Split sp(L.w);
    const long long base = (long long)row * L.w * C, eo = (long long)sp.ne * C;
    if (even)  // pixel x = 2j (j >= 1): left 2j - 1 = O[j - 1], right 2j + 1 = O[j]
        return {base + C, base + eo, base + eo + C, (long long)sp.ne_in * C};
    // pixel x = 2j + 1 (j >= 0): left 2j = E[j], right 2j + 2 = E[j + 1]
    return {base + eo, base, base + C, (long long)sp.no_in * C};
}

// ---- Per-row steps of a V-cycle, called in the same way by the one-thread wavefront and by the
// whole-level passes that threads share: the result does not depend on the thread count.

// One colour's red-black Gauss-Seidel update of row r (colour 0: red, 1: black).
template <int C>
void smooth_row(Level& L, int colour, int r) {
    const long long s = (long long)L.w * C;
    const BlockAt a = block_at<C>(L, r, ((r + colour) & 1) == 0);
    float* x = L.x.data();
    if (L.dg.empty())
        rb_block(x + a.o, x + a.l, x + a.r, x + a.o - s, x + a.o + s, L.b.data() + a.o, L.u.data() + a.o, a.n);
    else
        rb_block_dg(x + a.o, x + a.l, x + a.r, x + a.o - s, x + a.o + s, L.b.data() + a.o, L.wt.data() + a.o,
                    L.dg.data() + a.o, a.n);
}

// Residual of row r's interior pixels (1 .. h-2) into L.r; its frame pixels stay 0.
template <int C>
void residual_row(Level& L, int r) {
    const long long s = (long long)L.w * C;
    const float* x = L.x.data();
    for (const bool even : {true, false}) {
        const BlockAt a = block_at<C>(L, r, even);
        if (L.dg.empty())
            residual_block(L.r.data() + a.o, x + a.o, x + a.l, x + a.r, x + a.o - s, x + a.o + s, L.b.data() + a.o,
                           L.u.data() + a.o, a.n);
        else
            residual_block_dg(L.r.data() + a.o, x + a.o, x + a.l, x + a.r, x + a.o - s, x + a.o + s,
                              L.b.data() + a.o, L.wt.data() + a.o, L.dg.data() + a.o, a.n);
    }
}

// Sum of squares of row r of L.r (float partial sum, vectorisable).
template <int C>
double row_squares(const Level& L, int r) {
    const long long s = (long long)L.w * C;
    const float* v = L.r.data() + r * s;
    float part = 0.f;
#pragma omp simd reduction(+ : part)
    for (long long k = 0; k < s; ++k) part += v[k] * v[k];
    return part;
}

// Natural-order copy of a split row of w pixels.
template <int C>
void unsplit_row(const float* split, float* nat, int w) {
    for_each_split<C>(w, [&](int x, long long e) {
        for (int c = 0; c < C; ++c) nat[(long long)x * C + c] = split[e + c];
    });
}

// Scratch rows (natural pixel order) for restriction and interpolation.
struct RowBuf {
    std::vector<float> a, b;
    RowBuf(int w, int c) : a((std::size_t)w * c + 2 * c), b((std::size_t)w * c + 2 * c) {}
};

// Vertex-centred coarsening: coarse point (i, y) sits on fine point (2i, 2y). Coarse right-hand side
// of coarse row y (1 .. K.h-2) = 4 x full weighting (1 2 1 / 2 4 2 / 1 2 1) / 16 of the fine values
// `fine` (F's layout) on fine rows 2y-1 .. 2y+1; the 4 accounts for the doubled grid spacing in the
// unscaled 5-point operator. Fine pixel 2i is E[i], its left and right neighbours O[i-1] and O[i]:
// contiguous in i, so the row is computed in natural order into a scratch row, then split.
template <int C>
void restrict_row(const float* fine, const Level& F, Level& K, int y, RowBuf& buf) {
    const long long fs = (long long)F.w * C, eo = (long long)Split(F.w).ne * C;
    const float* f0 = fine + 2LL * y * fs;  // E block of the centre row
    const float* fu = f0 - fs;
    const float* fd = f0 + fs;
    float* t = buf.a.data();
    const long long n = (long long)(K.w - 2) * C;  // coarse pixels 1 .. K.w-2
    const float* __restrict ue = fu + C;           // E[i], i from 1
    const float* __restrict de = fd + C;
    const float* __restrict ul = fu + eo;  // O[i - 1]
    const float* __restrict ur = fu + eo + C;
    const float* __restrict dl = fd + eo;
    const float* __restrict dr = fd + eo + C;
    const float* __restrict cl = f0 + eo;
    const float* __restrict cr = f0 + eo + C;
    const float* __restrict ce = f0 + C;
    float* __restrict o = t + C;
    for (long long e = 0; e < n; ++e)
        o[e] = 0.25f * (ul[e] + ur[e] + dl[e] + dr[e]) + 0.5f * (ue[e] + de[e] + cl[e] + cr[e]) + ce[e];
    for (int c = 0; c < C; ++c) t[c] = t[(long long)(K.w - 1) * C + c] = 0.f;  // the frame stays 0
    float* kb = K.b.data() + (long long)y * K.w * C;
    for_each_split<C>(K.w, [&](int i, long long e) {
        for (int c = 0; c < C; ++c) kb[e + c] = t[(long long)i * C + c];
    });
}

// Fine row y (1 .. F.h-2) of x (+)= bilinear interpolation of the coarse x, on unknown fine pixels
// only (branch-free: times the unknown indicator). The coarse rows above and below are averaged and
// put in natural order; fine pixel 2j (E[j]) takes coarse pixel j, fine pixel 2j + 1 (O[j]) the mean
// of coarse pixels j and j + 1: both contiguous in j.
template <int C>
void prolong_row(const Level& K, Level& F, int y, bool add, RowBuf& buf) {
    const int y0 = y >> 1, y1 = std::min((y + 1) >> 1, K.h - 1);
    const long long kn = (long long)K.w * C;
    const float* __restrict k0 = K.x.data() + y0 * kn;
    const float* __restrict k1 = K.x.data() + y1 * kn;
    float* __restrict t = buf.b.data();
    for (long long e = 0; e < kn; ++e) t[e] = 0.5f * (k0[e] + k1[e]);  // vertical, whole row (split)
    float* __restrict nat = buf.a.data();
    unsplit_row<C>(t, nat, K.w);
    for (const bool even : {true, false}) {
        const BlockAt a = block_at<C>(F, y, even);
        const float* __restrict n0 = nat + (even ? C : 0);  // coarse pixel j of fine E[j] or O[j]
        const float* __restrict n1 = n0 + C;
        float* __restrict o = F.x.data() + a.o;
        if (F.dg.empty()) {
            const std::uint8_t* __restrict u = F.u.data() + a.o;
            if (even) {
                if (add)
                    for (long long e = 0; e < a.n; ++e) o[e] += (u[e] ? 1.f : 0.f) * n0[e];
                else
                    for (long long e = 0; e < a.n; ++e) o[e] = (u[e] ? 1.f : 0.f) * n0[e];
            } else {
                if (add)
                    for (long long e = 0; e < a.n; ++e) o[e] += (u[e] ? 1.f : 0.f) * (0.5f * (n0[e] + n1[e]));
                else
                    for (long long e = 0; e < a.n; ++e) o[e] = (u[e] ? 1.f : 0.f) * (0.5f * (n0[e] + n1[e]));
            }
        } else {
            const float* __restrict wt = F.wt.data() + a.o;
            const float* __restrict dg = F.dg.data() + a.o;
            if (even) {
                if (add)
                    for (long long e = 0; e < a.n; ++e) o[e] += wt[e] * dg[e] * n0[e];
                else
                    for (long long e = 0; e < a.n; ++e) o[e] = wt[e] * dg[e] * n0[e];
            } else {
                if (add)
                    for (long long e = 0; e < a.n; ++e) o[e] += wt[e] * dg[e] * (0.5f * (n0[e] + n1[e]));
                else
                    for (long long e = 0; e < a.n; ++e) o[e] = wt[e] * dg[e] * (0.5f * (n0[e] + n1[e]));
            }
        }
    }
}

// `sweeps` red-black Gauss-Seidel sweeps in one streaming pass over the rows (a wavefront): at step
// y, sweep k updates the first colour on row y - 2k and the second colour on the row above it. Every
// update then sees exactly the neighbours a plain sweep-after-sweep order would, while the rows in
// flight stay in cache. `reverse` swaps the colours (for a symmetric V-cycle). before(r) runs once
// per row before any update reads row r; after(r) once rows r-1 .. r+1 have their final values.
template <int C, class Before, class After>
void smooth_stream(Level& L, int sweeps, bool reverse, Before&& before, After&& after) {
    const int first = reverse ? 1 : 0, second = 1 - first;
    const int last = L.h - 2;
    if (last < 1) return;
    before(1);
    for (int y = 1; y <= last + 2 * sweeps; ++y) {
        if (y + 1 <= last) before(y + 1);
        for (int k = 0; k < sweeps; ++k) {
            const int r1 = y - 2 * k, r2 = r1 - 1;
            if (r1 >= 1 && r1 <= last) smooth_row<C>(L, first, r1);
            if (r2 >= 1 && r2 <= last) smooth_row<C>(L, second, r2);
        }
        const int r = y - 2 * sweeps;
        if (r >= 1 && r <= last) after(r);
    }
}

// The same sweeps as whole-level passes, each colour's rows shared among the threads (a colour's
// updates read only the other colour, so the order within a pass does not matter).
template <int C>
void smooth_parallel(Level& L, int sweeps, bool reverse) {
    const int first = reverse ? 1 : 0, second = 1 - first;
#pragma omp parallel
    for (int k = 0; k < sweeps; ++k) {
#pragma omp for schedule(static)
        for (int r = 1; r < L.h - 1; ++r) smooth_row<C>(L, first, r);
#pragma omp for schedule(static)
        for (int r = 1; r < L.h - 1; ++r) smooth_row<C>(L, second, r);
    }
}

// Whole-level passes only pay with several threads and enough elements.
inline bool level_parallel(const Level& L, int channels) {
#ifdef _OPENMP
    return omp_get_max_threads() > 1 && (long long)L.h * L.w * channels > kParallelMin;
#else
    (void)L;
    (void)channels;
    return false;
#endif
}

template <int C>
void smooth(Level& L, int sweeps, bool reverse = false) {
    if (level_parallel(L, C))
        smooth_parallel<C>(L, sweeps, reverse);
    else
        smooth_stream<C>(L, sweeps, reverse, [](int) {}, [](int) {});
}

// Restrict the fine values `fine` (F's layout) into K.b, all coarse rows.
template <int C>
void restrict_all(const float* fine, const Level& F, Level& K) {
#pragma omp parallel if (level_parallel(K, C))
    {
        RowBuf buf(K.w, C);
#pragma omp for schedule(static)
        for (int y = 1; y < K.h - 1; ++y) restrict_row<C>(fine, F, K, y, buf);
    }
}

// RMS of level L's residual over its `unknowns` elements.
template <int C>
float level_rms(Level& L, long long unknowns) {
    double acc = 0.0;
    for (int y = 1; y < L.h - 1; ++y) {
        residual_row<C>(L, y);
        acc += row_squares<C>(L, y);
    }
    return unknowns ? (float)std::sqrt(acc / (double)unknowns) : 0.f;
}

// V-cycle on level l. `entry`: x of level l is first set to the interpolation of the next level's x
// (full multigrid's step up). `rms`: also return the RMS of level l's residual after the cycle over
// `unknowns` elements (0 otherwise). One thread streams each smoothing with the interpolation before
// it and the residual and restriction after it riding along; several threads share whole-level
// passes. Both run the same row steps on the same inputs.
template <int C>
float vcycle(std::vector<Level>& lv, std::size_t l, const BlendParams& p, bool entry = false, bool rms = false,
             long long unknowns = 0) {
    Level& L = lv[l];
    if (l + 1 == lv.size()) {  // coarsest: symmetric Gauss-Seidel (forward, then the colours reversed)
        smooth<C>(L, 15);
        smooth<C>(L, 15, true);
        return 0.f;
    }
    Level& K = lv[l + 1];
    const int last = L.h - 2;
    std::vector<double> sq(rms ? (std::size_t)L.h : 0, 0.0);  // per-row sums of squares, added in row order
    if (level_parallel(L, C)) {
        if (entry) {
#pragma omp parallel
            {
                RowBuf buf(K.w, C);
#pragma omp for schedule(static)
                for (int y = 1; y <= last; ++y) prolong_row<C>(K, L, y, false, buf);
            }
        }
        smooth_parallel<C>(L, p.pre_smooth, false);
#pragma omp parallel for schedule(static)
        for (int y = 1; y <= last; ++y) residual_row<C>(L, y);
        restrict_all<C>(L.r.data(), L, K);
        std::fill(K.x.begin(), K.x.end(), 0.f);
        vcycle<C>(lv, l + 1, p);
#pragma omp parallel
        {
            RowBuf buf(K.w, C);
#pragma omp for schedule(static)
            for (int y = 1; y <= last; ++y) prolong_row<C>(K, L, y, true, buf);
        }
        smooth_parallel<C>(L, p.post_smooth, true);
        if (rms) {
#pragma omp parallel for schedule(static)
            for (int y = 1; y <= last; ++y) {
                residual_row<C>(L, y);
                sq[y] = row_squares<C>(L, y);
            }
        }
    } else {
        RowBuf buf(std::max(K.w, L.w), C);
        int next = 1;  // next coarse row to restrict: coarse row y needs fine residual rows up to 2y+1
        smooth_stream<C>(
            L, p.pre_smooth, false,
            [&](int y) {
                if (entry) prolong_row<C>(K, L, y, false, buf);
            },
            [&](int y) {
                residual_row<C>(L, y);
                const int done = y == last ? L.h - 1 : y;  // the frame row's residual is 0 already
                for (; next <= K.h - 2 && 2 * next + 1 <= done; ++next) restrict_row<C>(L.r.data(), L, K, next, buf);
            });
        std::fill(K.x.begin(), K.x.end(), 0.f);
        vcycle<C>(lv, l + 1, p);
        smooth_stream<C>(
            L, p.post_smooth, true, [&](int y) { prolong_row<C>(K, L, y, true, buf); },
            [&](int y) {
                if (!rms) return;
                residual_row<C>(L, y);
                sq[y] = row_squares<C>(L, y);
            });
    }
    if (!rms) return 0.f;
    double acc = 0.0;
    for (double v : sq) acc += v;
    return unknowns ? (float)std::sqrt(acc / (double)unknowns) : 0.f;
}

// Smoother weights (1 / diagonal) and diagonals of coarse level L, whose spacing is `step` (> 1)
// finest pixels: a neighbour outside the domain counts 1 / theta, theta = the distance in coarse
// spacings from the point to the first finest-level pixel outside the domain in that direction.
// Every element is written (0 on known ones).
template <int C>
void set_weights(Level& L, const Level& finest, int step) {
    const std::size_t n = (std::size_t)L.h * L.w;
    L.wt.resize(n * C);
    L.dg.resize(n * C);
    L.u.clear();
    const int fw = finest.w, fh = finest.h, lw = L.w;
    const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
    const std::uint8_t* m = L.m.data();
    const Split sp(lw);
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
            const std::size_t e = (std::size_t)y * lw * C + (std::size_t)sp.pos(i, C);
            for (int c = 0; c < C; ++c) {
                L.wt[e + c] = inv;
                L.dg[e + c] = diag;
            }
        }
}

// Right-hand side of one block's n elements (normal mode; see numpy_backend.poisson_system): on
// unknown elements the sum of the neighbours' g (dst - src on known pixels, 0 elsewhere).
FS_MULTIVERSION
void rhs_block(float* __restrict bo, const float* __restrict gl, const float* __restrict gr,
               const float* __restrict gu, const float* __restrict gd, const std::uint8_t* __restrict u, long long n) {
    for (long long k = 0; k < n; ++k) bo[k] = (u[k] ? 1.f : 0.f) * (gl[k] + gr[k] + gu[k] + gd[k]);
}

// Mixed mode, one row in natural order: the known neighbours' g plus the change of guidance where
// the target's gradient is the stronger one. `g` points at the row's first element (rows above and
// below at -+ s), `ind` is the row's unknown indicator per element.
FS_MULTIVERSION
void rhs_row_mixed(float* __restrict b, const float* __restrict g, const std::uint8_t* __restrict src,
                   const std::uint8_t* __restrict dst, const float* __restrict ind, long long n, long long c,
                   long long s) {
    for (long long k = 0; k < n; ++k) {
        float acc = g[k - c] + g[k + c] + g[k - s] + g[k + s];
        const float sp = src[k], dp = dst[k];
        for (const long long o : {-c, c, -s, s}) {
            const float gs = sp - (float)src[k + o], gd = dp - (float)dst[k + o];
            acc += std::abs(gd) > std::abs(gs) ? gd - gs : 0.f;
        }
        b[k] = ind[k] * acc;
    }
}

// out = the solved pixel (src + x, rounded and clamped) on unknown pixels, dst elsewhere: per row, the
// solution for every element, then a byte select by the row's mask widened to elements (both loops
// vectorised). x is the row in natural order.
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
#pragma omp parallel if ((long long)F.h * F.w * C > kParallelMin)
    {
        std::vector<float> nat(rs);
#pragma omp for schedule(static)
        for (int y = 0; y < F.h; ++y) {
            unsplit_row<C>(F.x.data() + y * rs, nat.data(), F.w);
            result_row<C>(src + y * rs, dst + y * rs, nat.data(), F.m.data() + (std::size_t)y * F.w, out + y * rs,
                          F.w);
        }
    }
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
        if (nl == 1) {  // the finest: every element is written below (the frame explicitly)
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
    const Split fsp(w);
    const long long es = (long long)w * C;
    long long unknowns = 0;  // unknown elements (pixels x channels)
    F.u.resize((std::size_t)h * w * C);
    F.wt.clear();
    F.dg.clear();
    for (int y = 0; y < h; ++y) {
        std::uint8_t* mr = F.m.data() + (std::size_t)y * w;
        for (int i = 0; i < w; ++i) {
            const bool u = y > 0 && y < h - 1 && i > 0 && i < w - 1 && mask[(std::size_t)y * w + i] != 0;
            mr[i] = u;
            unknowns += u ? C : 0;
        }
        std::uint8_t* ur = F.u.data() + y * es;
        for_each_split<C>(w, [&](int i, long long e) {
            for (int c = 0; c < C; ++c) ur[e + c] = mr[i];
        });
    }
    for (std::size_t l = 1; l < nl; ++l) {  // coarse point unknown if its fine point is; frame never
        Level& K = levels[l];
        const Level& P = levels[l - 1];
        for (int y = 1; y < K.h - 1; ++y)
            for (int i = 1; i < K.w - 1; ++i)
                K.m[(std::size_t)y * K.w + i] = P.m[(std::size_t)(2 * y) * P.w + 2 * i];
        set_weights<C>(K, F, 1 << l);
    }
    // Right-hand side of the correction problem, from g = dst - src on known pixels (in F.r as
    // scratch). Normal mode: g split like the solution, then b block by block (contiguous loops);
    // mixed mode, which compares gradients of src and dst: in natural order, then split row by row.
    {
        std::vector<float>& g = F.r;
        const bool par = (long long)h * w * C > kParallelMin;
        if (!p.mixed) {
#pragma omp parallel for schedule(static) if (par)
            for (int y = 0; y < h; ++y) {
                const std::uint8_t* m = F.m.data() + (std::size_t)y * w;
                const std::uint8_t* sr = src + y * es;
                const std::uint8_t* dr = dst + y * es;
                float* gr = g.data() + y * es;
                for_each_split<C>(w, [&](int i, long long e) {
                    const float known = m[i] ? 0.f : 1.f;
                    for (int c = 0; c < C; ++c)
                        gr[e + c] = known * ((float)dr[(std::size_t)i * C + c] - (float)sr[(std::size_t)i * C + c]);
                });
            }
#pragma omp parallel for schedule(static) if (par)
            for (int y = 1; y < h - 1; ++y)
                for (const bool even : {true, false}) {
                    const BlockAt a = block_at<C>(F, y, even);
                    rhs_block(F.b.data() + a.o, g.data() + a.l, g.data() + a.r, g.data() + a.o - es,
                              g.data() + a.o + es, F.u.data() + a.o, a.n);
                }
            for (int y = 1; y < h - 1; ++y)  // the frame pixels of b (the blocks cover the inside)
                for (const int i : {0, w - 1})
                    std::fill_n(F.b.begin() + y * es + fsp.pos(i, C), C, 0.f);
        } else {
#pragma omp parallel if (par)
            {
                std::vector<float> ind(es), row(es);
#pragma omp for schedule(static)
                for (int y = 0; y < h; ++y) {
                    const std::uint8_t* m = F.m.data() + (std::size_t)y * w;
                    for (int i = 0; i < w; ++i)
                        for (int c = 0; c < C; ++c) ind[(std::size_t)i * C + c] = m[i] ? 1.f : 0.f;
                    const long long k0 = y * es;
                    for (long long k = 0; k < es; ++k)
                        g[k0 + k] = (1.f - ind[k]) * ((float)dst[k0 + k] - (float)src[k0 + k]);
                }
#pragma omp for schedule(static)
                for (int y = 1; y < h - 1; ++y) {
                    const std::uint8_t* m = F.m.data() + (std::size_t)y * w;
                    for (int i = 0; i < w; ++i)
                        for (int c = 0; c < C; ++c) ind[(std::size_t)i * C + c] = m[i] ? 1.f : 0.f;
                    const long long k0 = y * es;
                    std::fill(row.begin(), row.end(), 0.f);
                    rhs_row_mixed(row.data() + C, g.data() + k0 + C, src + k0 + C, dst + k0 + C, ind.data() + C,
                                  es - 2 * C, C, es);
                    float* bo = F.b.data() + k0;
                    for_each_split<C>(w, [&](int i, long long e) {
                        for (int c = 0; c < C; ++c) bo[e + c] = row[(std::size_t)i * C + c];
                    });
                }
            }
        }
        std::fill(F.b.begin(), F.b.begin() + es, 0.f);
        std::fill(F.b.end() - es, F.b.end(), 0.f);
        // r: the scratch goes; its frame stays 0 from here on (the residual passes write the inside,
        // and the restriction of an even-sized level reads the last row and column too). x: the
        // frame stays 0 (interpolation writes the inside only); all of it on a single level.
        std::fill(g.begin(), g.begin() + es, 0.f);
        std::fill(g.end() - es, g.end(), 0.f);
        for (int y = 1; y < h - 1; ++y)
            for (const int i : {0, w - 1})
                std::fill_n(g.begin() + y * es + fsp.pos(i, C), C, 0.f);
        if (nl == 1) {
            std::fill(F.x.begin(), F.x.end(), 0.f);
        } else {
            std::fill(F.x.begin(), F.x.begin() + es, 0.f);
            std::fill(F.x.end() - es, F.x.end(), 0.f);
            for (int y = 1; y < h - 1; ++y)
                for (const int i : {0, w - 1})
                    std::fill_n(F.x.begin() + y * es + fsp.pos(i, C), C, 0.f);
        }
    }
    // Full multigrid: restrict the right-hand side, solve coarsest, interpolate up with a V-cycle
    // each. Then further V-cycles (at most p.cycles) while the finest residual's RMS is at least
    // p.tol; each cycle's last pass computes that RMS on the way.
    for (std::size_t l = 1; l < nl; ++l) restrict_all<C>(levels[l - 1].b.data(), levels[l - 1], levels[l]);
    const bool check = p.tol > 0.f && p.cycles > 0;
    if (nl == 1) {  // a region too small to coarsen: Gauss-Seidel alone
        smooth<C>(F, 30);
        for (int it = 0; it < p.cycles; ++it) {
            if (check && level_rms<C>(F, unknowns) < p.tol) break;
            vcycle<C>(levels, 0, p);
        }
    } else {
        smooth<C>(levels[nl - 1], 30);
        for (std::size_t l = nl - 1; l-- > 1;) vcycle<C>(levels, l, p, true);
        float rms = vcycle<C>(levels, 0, p, true, check, unknowns);
        for (int it = 0; it < p.cycles && (!check || rms >= p.tol); ++it)
            rms = vcycle<C>(levels, 0, p, false, check && it + 1 < p.cycles, unknowns);
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
