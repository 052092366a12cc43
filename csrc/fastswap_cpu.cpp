// fastswap._cpu: the CPU backend's kernels (triangle warp and multigrid Poisson blending).
// Same functions and meaning as fastswap/backends/numpy_backend.py; inputs were validated in Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
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

void warp_rows(const WarpParams& p, int y_begin, int y_end) {
    const int c = p.channels;
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
            std::uint8_t* cov = p.covered + (std::size_t)y * p.out_w + xl;
            for (int x = xl; x <= xr; ++x, o += c, ++cov) {
                sample_bilinear(p.src, p.src_h, p.src_w, c, tri.a[0] * x + bu, tri.a[3] * x + bv, o);
                *cov = 255;
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
            setup_triangle(s, d, cull_backfacing, tris[t]);
        }
        const int band = 16;  // rows per work item; each item draws all its triangles in order
        const int bands = (h + band - 1) / band;
#pragma omp parallel for schedule(dynamic, 1)
        for (int b = 0; b < bands; ++b) warp_rows(p, b * band, std::min(h, (b + 1) * band));
    }
    return py::make_tuple(out, covered);
}

// ---------------------------------------------------------------------------------------------
// Poisson blending: multigrid solve of the correction h = f - src (Dirichlet, irregular domain).

struct Level {
    int h = 0, w = 0;
    std::vector<std::uint8_t> m;  // 1 = unknown pixel (never on the frame)
    std::vector<float> x, b, r;   // solution, right-hand side, residual (h * w * C)
};

struct Workspace {  // reused across calls (per thread) so repeated swaps do not reallocate
    std::vector<Level> levels;
};

thread_local Workspace tls_ws;

template <int C>
void smooth(Level& L, int sweeps) {
    const int w = L.w;
    for (int s = 0; s < sweeps; ++s) {
        for (int colour = 0; colour < 2; ++colour) {
#pragma omp parallel for schedule(static)
            for (int y = 1; y < L.h - 1; ++y) {
                const std::uint8_t* m = L.m.data() + (std::size_t)y * w;
                float* x = L.x.data() + (std::size_t)y * w * C;
                const float* b = L.b.data() + (std::size_t)y * w * C;
                for (int i = 1 + ((y + colour) & 1); i < w - 1; i += 2) {
                    if (!m[i]) continue;
                    float* xi = x + i * C;
                    for (int c = 0; c < C; ++c)
                        xi[c] = 0.25f * (b[i * C + c] + xi[c - C] + xi[c + C] + xi[c - w * C] + xi[c + w * C]);
                }
            }
        }
    }
}

template <int C>
void residual(Level& L) {
    const int w = L.w;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < L.h; ++y) {
        for (int i = 0; i < w; ++i) {
            std::size_t k = (std::size_t)y * w + i;
            float* r = L.r.data() + k * C;
            if (!L.m[k]) {
                for (int c = 0; c < C; ++c) r[c] = 0.f;
                continue;
            }
            const float* x = L.x.data() + k * C;
            const float* b = L.b.data() + k * C;
            for (int c = 0; c < C; ++c)
                r[c] = b[c] - (4.f * x[c] - x[c - C] - x[c + C] - x[c - w * C] - x[c + w * C]);
        }
    }
}

// Vertex-centred coarsening: coarse point (i, j) sits on fine point (2i, 2j).
// Coarse right-hand side = 4 x full weighting (1 2 1 / 2 4 2 / 1 2 1) / 16 of the fine values
// (the 4 accounts for the doubled grid spacing in the unscaled 5-point operator).
template <int C>
void restrict_to(const std::vector<float>& fine, const Level& F, Level& K) {
    static const float wt[3] = {0.5f, 1.f, 0.5f};  // 4 * (1, 2, 1) x (1, 2, 1) / 16 = outer(wt, wt)
#pragma omp parallel for schedule(static)
    for (int y = 0; y < K.h; ++y) {
        for (int i = 0; i < K.w; ++i) {
            float acc[C] = {};
            for (int dy = -1; dy <= 1; ++dy) {
                int fy = 2 * y + dy;
                if (fy < 0 || fy >= F.h) continue;
                for (int dx = -1; dx <= 1; ++dx) {
                    int fx = 2 * i + dx;
                    if (fx < 0 || fx >= F.w) continue;
                    const float k = wt[dy + 1] * wt[dx + 1];
                    const float* v = fine.data() + ((std::size_t)fy * F.w + fx) * C;
                    for (int c = 0; c < C; ++c) acc[c] += k * v[c];
                }
            }
            float* o = K.b.data() + ((std::size_t)y * K.w + i) * C;
            for (int c = 0; c < C; ++c) o[c] = acc[c];
        }
    }
}

// Fine x (+)= bilinear interpolation of coarse x, on unknown fine pixels only.
template <int C>
void prolong(const Level& K, Level& F, bool add) {
#pragma omp parallel for schedule(static)
    for (int y = 1; y < F.h - 1; ++y) {
        const int y0 = y >> 1, y1 = std::min((y + 1) >> 1, K.h - 1);
        for (int i = 1; i < F.w - 1; ++i) {
            std::size_t k = (std::size_t)y * F.w + i;
            if (!F.m[k]) continue;
            const int x0 = i >> 1, x1 = std::min((i + 1) >> 1, K.w - 1);
            const float* a = K.x.data() + ((std::size_t)y0 * K.w + x0) * C;
            const float* bq = K.x.data() + ((std::size_t)y0 * K.w + x1) * C;
            const float* cq = K.x.data() + ((std::size_t)y1 * K.w + x0) * C;
            const float* d = K.x.data() + ((std::size_t)y1 * K.w + x1) * C;
            float* o = F.x.data() + k * C;
            for (int c = 0; c < C; ++c) {
                float v = 0.25f * (a[c] + bq[c] + cq[c] + d[c]);
                o[c] = add ? o[c] + v : v;
            }
        }
    }
}

template <int C>
void vcycle(std::vector<Level>& lv, std::size_t l, const BlendParams& p) {
    Level& L = lv[l];
    if (l + 1 == lv.size()) {
        smooth<C>(L, 40);
        return;
    }
    Level& K = lv[l + 1];
    smooth<C>(L, p.pre_smooth);
    residual<C>(L);
    restrict_to<C>(L.r, L, K);
    std::fill(K.x.begin(), K.x.end(), 0.f);
    vcycle<C>(lv, l + 1, p);
    prolong<C>(K, L, true);
    smooth<C>(L, p.post_smooth);
}

template <int C>
void blend_impl(const std::uint8_t* src, const std::uint8_t* dst, const std::uint8_t* mask,
                std::uint8_t* out, const BlendParams& p) {
    const int h = p.h, w = p.w;
    auto& lv = tls_ws.levels;
    // Build the level hierarchy (buffers kept from earlier calls are reused).
    std::size_t nl = 0;
    for (int lh = h, lw = w;; lh = (lh + 1) / 2, lw = (lw + 1) / 2) {
        if (nl == lv.size()) lv.emplace_back();
        Level& L = lv[nl++];
        L.h = lh; L.w = lw;
        std::size_t n = (std::size_t)lh * lw;
        L.m.assign(n, 0);
        L.x.assign(n * C, 0.f);
        L.b.resize(n * C);
        L.r.resize(n * C);
        if (std::min(lh, lw) <= p.coarsest || nl >= 16) break;
    }
    std::vector<Level> levels;  // view of the first nl levels (moved back after the solve)
    levels.reserve(nl);
    for (std::size_t i = 0; i < nl; ++i) levels.push_back(std::move(lv[i]));

    Level& F = levels[0];
    for (int y = 1; y < h - 1; ++y)
        for (int i = 1; i < w - 1; ++i) F.m[(std::size_t)y * w + i] = mask[(std::size_t)y * w + i] != 0;
    for (std::size_t l = 1; l < nl; ++l) {  // coarse point unknown if its fine point is; frame never
        Level& K = levels[l];
        const Level& P = levels[l - 1];
        for (int y = 1; y < K.h - 1; ++y)
            for (int i = 1; i < K.w - 1; ++i)
                K.m[(std::size_t)y * K.w + i] = P.m[(std::size_t)(2 * y) * P.w + 2 * i];
    }
    // Right-hand side of the correction problem (see numpy_backend.poisson_system).
    const int offs[4] = {-w, w, -1, 1};
#pragma omp parallel for schedule(static)
    for (int y = 1; y < h - 1; ++y) {
        for (int i = 1; i < w - 1; ++i) {
            std::size_t k = (std::size_t)y * w + i;
            float* b = F.b.data() + k * C;
            for (int c = 0; c < C; ++c) b[c] = 0.f;
            if (!F.m[k]) continue;
            for (int n = 0; n < 4; ++n) {
                std::size_t q = k + offs[n];
                bool known = !F.m[q];
                for (int c = 0; c < C; ++c) {
                    float sp = src[k * C + c], sq = src[q * C + c];
                    float acc = known ? (float)dst[q * C + c] - sq : 0.f;
                    if (p.mixed) {
                        float gs = sp - sq, gd = (float)dst[k * C + c] - (float)dst[q * C + c];
                        if (std::abs(gd) > std::abs(gs)) acc += gd - gs;
                    }
                    b[c] += acc;
                }
            }
        }
    }
    // Full multigrid: restrict the right-hand side, solve coarsest, interpolate up with a V-cycle each.
    for (std::size_t l = 1; l < nl; ++l) restrict_to<C>(levels[l - 1].b, levels[l - 1], levels[l]);
    smooth<C>(levels[nl - 1], 40);
    for (std::size_t l = nl - 1; l-- > 0;) {
        prolong<C>(levels[l + 1], levels[l], false);
        vcycle<C>(levels, l, p);
    }
    for (int it = 0; it < p.cycles; ++it) vcycle<C>(levels, 0, p);

    const std::size_t n = (std::size_t)h * w;
#pragma omp parallel for schedule(static)
    for (long long k = 0; k < (long long)n; ++k) {
        if (!F.m[k]) {
            for (int c = 0; c < C; ++c) out[k * C + c] = dst[k * C + c];
            continue;
        }
        for (int c = 0; c < C; ++c) {
            float v = std::floor((float)src[k * C + c] + F.x[k * C + c] + 0.5f);
            out[k * C + c] = (std::uint8_t)std::clamp(v, 0.f, 255.f);
        }
    }
    for (std::size_t i = 0; i < nl; ++i) lv[i] = std::move(levels[i]);
}

u8array poisson_blend(u8array src, u8array dst, u8array mask, const std::string& mode, int cycles) {
    BlendParams p{(int)dst.shape(0), (int)dst.shape(1), (int)dst.shape(2), mode == "mixed" ? 1 : 0,
                  cycles, 2, 2, 4};
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

}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "fastswap CPU kernels (see fastswap.backends.cpu_backend for the documented API)";
    m.def("warp_triangles", &warp_triangles, py::arg("src"), py::arg("src_pts"), py::arg("dst_pts"),
          py::arg("triangles"), py::arg("out_shape"), py::arg("cull_backfacing") = false);
    m.def("poisson_blend", &poisson_blend, py::arg("src"), py::arg("dst"), py::arg("mask"),
          py::arg("mode") = "normal", py::arg("cycles") = 2);
    m.def("num_threads", &num_threads);
}
