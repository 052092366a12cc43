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
// Poisson blending: csrc/multigrid_impl.inc, compiled for any x86-64 and for AVX2.

namespace mg_generic {
#include "multigrid_impl.inc"
}  // namespace mg_generic

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FS_HAVE_AVX2_COPY 1
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
#ifdef FS_HAVE_AVX2_COPY
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) return mg_avx2::blend_impl<C>(src, dst, mask, out, p);
#endif
    mg_generic::blend_impl<C>(src, dst, mask, out, p);
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
