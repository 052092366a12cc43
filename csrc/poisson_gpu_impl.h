// Per-point math of the cuda backend's multigrid Poisson solve (seamless cloning), written once for
// CuPy's RawModule (csrc/cuda_kernels.cu, NVRTC) and for the C++ build, whose _cpu.run_gpu_schedule
// runs the same schedule point by point on the host so that tests without a GPU check this solver
// against the reference (fastswap/backends/numpy_backend.py, poisson_system).
//
// The solve is for the correction h = f - src on the unknown pixels (mask set, not on the region's
// 1-pixel frame), level 0 being the region itself. Coarse level l has spacing s = 2^l finest pixels:
// its point (i, j) sits on finest pixel (i s, j s) and is unknown when that pixel is. Towards each of
// its four neighbours, a coarse point is coupled to the neighbour when the s finest pixels up to it
// are all unknown; otherwise the first finest pixel outside the domain, t pixels away, is a Dirichlet
// boundary (h = 0 in the error equation) at a fraction t / s of the spacing and adds s / t to the
// diagonal (the symmetric part of Shortley-Weller's stencil). Coarse problems thus keep the fine
// domain's shape, and a known pixel between two coarse points (a line, a hole) cuts their link.
// The schedule (full multigrid, then V-cycles: fastswap/backends/cuda_backend.py) is a list of the
// operations below, each applied to every point of one level; between two operations every point of
// the first is done (a grid-wide barrier on the device). Within one operation points are independent
// (red-black Gauss-Seidel updates one colour, reading only the other), so any order gives the same
// result.
#pragma once

#include "host_device.h"

namespace fastswap {

// Operations of the schedule; each runs over every point of level l (kRestrict*: of level l + 1).
enum GpuBlendOp {
    kSetup = 0,        // level l's links, diagonal, zeros; level 0 also its right-hand side from src/dst
    kRestrictB = 1,    // b[l + 1] = 4 x full weighting of b[l] (full multigrid's right-hand sides)
    // 2: unused
    kSmoothRed = 3,    // Gauss-Seidel update of the unknown points with (x + y) even
    kSmoothBlack = 4,  // ... with (x + y) odd
    kResidual = 5,     // r[l] = b - A x on unknown points, 0 elsewhere
    kRestrictR = 6,    // b[l + 1] = 4 x full weighting of r[l]; x[l + 1] = 0
    kProlongAdd = 7,   // x[l] += bilinear interpolation of x[l + 1] on unknown points
    kProlongSet = 8,   // x[l] = bilinear interpolation of x[l + 1] on unknown points, 0 elsewhere
    kWrite = 9,        // out = round(src + x[0]) clipped on unknown pixels, dst elsewhere
    kRestrictResidual = 10,  // kRestrictR with the residual computed where it is read (no r[l] pass)
    // The steps below run over several levels in order (small_steps); only the device's block 0,
    // on the small levels' copy in shared memory, and the host emulation run them.
    kSmallFmg = 11,    // full multigrid's part on levels l .. L - 1 (right-hand sides restricted down,
                       // the coarsest solved, each level interpolated up and given a V-cycle)
    kSmallCycle = 12,  // a V-cycle of levels l .. L - 1 (coarse-grid correction, from x[l] = 0's
                       // restriction, done by the level above)
};

// The schedule's rows: kScheduleCols ints each.
constexpr int kScheduleCols = 8;
// Row fields: 0 operation, 1 level, 2 small flags (bit 0: block 0 on the shared-memory copy; bit 1:
// copy in before; bit 2: copy out after), 3 grid-wide barrier after, 4 pre-smoothing sweeps,
// 5 post-smoothing sweeps, 6 coarsest sweeps, 7 number of levels (the last three: kSmall* only).

constexpr int kLinkLeft = 1, kLinkRight = 2, kLinkUp = 4, kLinkDown = 8, kUnknown = 16;

// One level of the hierarchy (an array of these lives where the kernels run). 8-byte fields first,
// so that its layout is the same for NumPy's aligned dtype (cuda_backend.LEVEL_DTYPE) and C++.
struct GpuLevel {
    long long x;     // offset (in floats) into the pool of the solution, h * w * channels, HWC
    long long b;     // ... of the right-hand side, same layout
    long long r;     // ... of the residual, same layout
    long long diag;  // ... of the diagonal, h * w (0 on known points)
    long long link;  // offset (in bytes) into the link pool, h * w: kLink* bits and kUnknown
    int h, w;        // points per column and per row (level l + 1: h / 2 + 1, w / 2 + 1)
    int step;        // finest pixels per spacing, 2^l
    int pad;         // unused (keeps the size a multiple of 8)
};

// Everything one operation needs (the kernels build it from their arguments).
struct GpuBlendParams {
    const u8* src;     // guidance (the warped face), h x w x channels uint8, contiguous
    const u8* dst;     // target region, same layout
    const u8* mask;    // h x w uint8; non-zero: solve for this pixel (unless on the frame)
    u8* out;           // result, h x w x channels uint8
    float* pool;       // x, b, r and diag of every level (GpuLevel's offsets)
    u8* links;         // links of every level (GpuLevel::link)
    const GpuLevel* levels;  // num_levels levels, finest first
    int h, w;          // region size in pixels
    int channels;      // 1..4, interleaved
    int mixed;         // 0: source gradients as guidance; 1: per channel the stronger of src / dst
};

constexpr int kMaxChannels = 4;

// Whether finest pixel (x, y) is unknown: inside the region, off its frame, mask set.
FS_HD bool finest_unknown(const GpuBlendParams& p, long long x, long long y) {
    return x > 0 && y > 0 && x < p.w - 1 && y < p.h - 1 && p.mask[y * p.w + x] != 0;
}

// Points an operation runs over.
FS_HD long long op_points(const GpuBlendParams& p, int op, int l) {
    const GpuLevel& L = p.levels[(op == kRestrictB || op == kRestrictR || op == kRestrictResidual) ? l + 1 : l];
    return (long long)L.h * L.w;
}

FS_HD void setup_point(const GpuBlendParams& p, int l, long long i) {
    const GpuLevel& L = p.levels[l];
    const int C = p.channels;
    const int y = (int)i / L.w, x = (int)i - y * L.w;
    float* xs = p.pool + L.x + i * C;
    float* bs = p.pool + L.b + i * C;
    float* rs = p.pool + L.r + i * C;
    for (int c = 0; c < C; ++c) xs[c] = bs[c] = rs[c] = 0.f;
    const long long fx = (long long)x * L.step, fy = (long long)y * L.step;
    const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
    u8 link = 0;
    float diag = 0.f;
    if (finest_unknown(p, fx, fy)) {
        link = kUnknown;
        for (int d = 0; d < 4; ++d) {
            int t = 0;  // finest pixels to the first known one towards the neighbour, 0: none
            for (int k = 1; k <= L.step; ++k)
                if (!finest_unknown(p, fx + dx[d] * k, fy + dy[d] * k)) {
                    t = k;
                    break;
                }
            if (t == 0) {
                link |= (u8)(1 << d);
                diag += 1.f;
            } else {
                diag += (float)L.step / (float)t;
            }
        }
        if (l == 0) {  // right-hand side of the correction's equation (see poisson_system)
            const u8* sp = p.src + i * C;
            const u8* tp = p.dst + i * C;
            for (int d = 0; d < 4; ++d) {
                const long long q = (fy + dy[d]) * p.w + (fx + dx[d]);
                const u8* sq = p.src + q * C;
                const u8* tq = p.dst + q * C;
                const bool known = !(link & (1 << d));
                for (int c = 0; c < C; ++c) {
                    float acc = known ? (float)tq[c] - (float)sq[c] : 0.f;
                    if (p.mixed) {
                        const float gs = (float)sp[c] - (float)sq[c], gd = (float)tp[c] - (float)tq[c];
                        const float v = (gd < 0 ? -gd : gd) > (gs < 0 ? -gs : gs) ? gd : gs;
                        acc += v - gs;
                    }
                    bs[c] += acc;
                }
            }
        }
    }
    p.links[L.link + i] = link;
    p.pool[L.diag + i] = diag;
}

FS_HD void neighbour_sum(const GpuBlendParams& p, const GpuLevel& L, long long i, u8 link, float* acc);

// The residual b - A x of point i of level L into acc (0 on known points).
FS_HD void residual_at(const GpuBlendParams& p, const GpuLevel& L, long long i, float* acc) {
    const int C = p.channels;
    const u8 link = p.links[L.link + i];
    if (!(link & kUnknown)) {
        for (int c = 0; c < C; ++c) acc[c] = 0.f;
        return;
    }
    neighbour_sum(p, L, i, link, acc);
    const float dg = p.pool[L.diag + i];
    const float* bs = p.pool + L.b + i * C;
    const float* xs = p.pool + L.x + i * C;
    for (int c = 0; c < C; ++c) acc[c] = bs[c] + acc[c] - dg * xs[c];
}

// 4 x full weighting (1 2 1 / 2 4 2 / 1 2 1) / 16 of level l's values at `from` (0 on known points)
// onto point i of level l + 1 (0 there unless unknown). `residual`: from r[l], and x[l + 1] = 0
// there (a cycle's coarse-grid correction starts from 0); else from b[l].
// `from` is b[l] (kRestrictB), r[l] (kRestrictR) or the residual computed here (kRestrictResidual).
FS_HD void restrict_point(const GpuBlendParams& p, int l, long long i, int op) {
    const bool residual = op != kRestrictB;
    const GpuLevel& F = p.levels[l];
    const GpuLevel& K = p.levels[l + 1];
    const int C = p.channels;
    const int y = (int)i / K.w, x = (int)i - y * K.w;
    float acc[kMaxChannels] = {0.f, 0.f, 0.f, 0.f};
    const bool unknown = (p.links[K.link + i] & kUnknown) != 0;
    if (unknown) {
        const float* from = p.pool + (op == kRestrictB ? F.b : F.r);
        float r[kMaxChannels];
        for (int b = -1; b <= 1; ++b) {
            const long long fy = 2 * y + b;
            if (fy < 0 || fy >= F.h) continue;
            for (int a = -1; a <= 1; ++a) {
                const long long fx = 2 * x + a;
                if (fx < 0 || fx >= F.w) continue;
                const float wgt = (float)((2 - (a < 0 ? -a : a)) * (2 - (b < 0 ? -b : b))) * 0.25f;
                const float* v = from + (fy * F.w + fx) * C;
                if (op == kRestrictResidual) {
                    residual_at(p, F, fy * F.w + fx, r);
                    v = r;
                }
                for (int c = 0; c < C; ++c) acc[c] += wgt * v[c];
            }
        }
    }
    float* bs = p.pool + K.b + i * C;
    for (int c = 0; c < C; ++c) bs[c] = acc[c];
    if (residual) {
        float* xs = p.pool + K.x + i * C;
        for (int c = 0; c < C; ++c) xs[c] = 0.f;
    }
}

// Sum of the coupled neighbours' x of point i (y, x) of level L, per channel, into acc.
FS_HD void neighbour_sum(const GpuBlendParams& p, const GpuLevel& L, long long i, u8 link, float* acc) {
    const int C = p.channels;
    const float* xs = p.pool + L.x;
    for (int c = 0; c < C; ++c) acc[c] = 0.f;
    if (link & kLinkLeft)
        for (int c = 0; c < C; ++c) acc[c] += xs[(i - 1) * C + c];
    if (link & kLinkRight)
        for (int c = 0; c < C; ++c) acc[c] += xs[(i + 1) * C + c];
    if (link & kLinkUp)
        for (int c = 0; c < C; ++c) acc[c] += xs[(i - L.w) * C + c];
    if (link & kLinkDown)
        for (int c = 0; c < C; ++c) acc[c] += xs[(i + L.w) * C + c];
}

FS_HD void smooth_point(const GpuBlendParams& p, int l, long long i, int colour) {
    const GpuLevel& L = p.levels[l];
    const int y = (int)i / L.w, x = (int)i - y * L.w;
    if (((x + y) & 1) != colour) return;
    const u8 link = p.links[L.link + i];
    if (!(link & kUnknown)) return;
    const int C = p.channels;
    float acc[kMaxChannels];
    neighbour_sum(p, L, i, link, acc);
    const float inv = 1.f / p.pool[L.diag + i];
    const float* bs = p.pool + L.b + i * C;
    float* xs = p.pool + L.x + i * C;
    for (int c = 0; c < C; ++c) xs[c] = (bs[c] + acc[c]) * inv;
}

FS_HD void residual_point(const GpuBlendParams& p, int l, long long i) {
    const GpuLevel& L = p.levels[l];
    float acc[kMaxChannels];
    residual_at(p, L, i, acc);
    float* rs = p.pool + L.r + i * p.channels;
    for (int c = 0; c < p.channels; ++c) rs[c] = acc[c];
}

// Bilinear interpolation of level l + 1's x onto point i of level l (unknown points only).
FS_HD void prolong_point(const GpuBlendParams& p, int l, long long i, bool add) {
    const GpuLevel& F = p.levels[l];
    const GpuLevel& K = p.levels[l + 1];
    const int C = p.channels;
    float* xs = p.pool + F.x + i * C;
    if (!(p.links[F.link + i] & kUnknown)) {
        if (!add)
            for (int c = 0; c < C; ++c) xs[c] = 0.f;
        return;
    }
    const int y = (int)i / F.w, x = (int)i - y * F.w;
    const long long ci = x >> 1, cj = y >> 1, ax = x & 1, ay = y & 1;
    const float* k = p.pool + K.x;
    const long long q00 = (cj * K.w + ci) * C, q10 = (cj * K.w + ci + ax) * C;
    const long long q01 = ((cj + ay) * K.w + ci) * C, q11 = ((cj + ay) * K.w + ci + ax) * C;
    for (int c = 0; c < C; ++c) {
        const float v = 0.25f * ((k[q00 + c] + k[q10 + c]) + (k[q01 + c] + k[q11 + c]));
        xs[c] = add ? xs[c] + v : v;
    }
}

FS_HD void write_point(const GpuBlendParams& p, long long i) {
    const int C = p.channels;
    const bool unknown = (p.links[p.levels[0].link + i] & kUnknown) != 0;
    const float* xs = p.pool + p.levels[0].x + i * C;
    for (int c = 0; c < C; ++c) {
        if (!unknown) {
            p.out[i * C + c] = p.dst[i * C + c];
            continue;
        }
        const float f = floorf((float)p.src[i * C + c] + xs[c] + 0.5f);
        p.out[i * C + c] = (u8)(f < 0.f ? 0.f : (f > 255.f ? 255.f : f));
    }
}

// Operation `op` on point i (see op_points) of level l.
FS_HD void blend_point(const GpuBlendParams& p, int op, int l, long long i) {
    switch (op) {
        case kSetup: setup_point(p, l, i); break;
        case kRestrictB: restrict_point(p, l, i, kRestrictB); break;
        case kSmoothRed: smooth_point(p, l, i, 0); break;
        case kSmoothBlack: smooth_point(p, l, i, 1); break;
        case kResidual: residual_point(p, l, i); break;
        case kRestrictR: restrict_point(p, l, i, kRestrictR); break;
        case kRestrictResidual: restrict_point(p, l, i, kRestrictResidual); break;
        case kProlongAdd: prolong_point(p, l, i, true); break;
        case kProlongSet: prolong_point(p, l, i, false); break;
        case kWrite: write_point(p, i); break;
        default: break;
    }
}

// The steps of a kSmallFmg or kSmallCycle row (fields as kScheduleCols says) in order: step(op, level)
// for each, every point of one step done before the next starts. The same sequence the schedule
// would list for these levels one operation a row (fastswap/backends/gpu_plan.py).
template <class Step>
FS_HD void small_steps(const int* row, Step& step) {
    const int op = row[0], l = row[1], pre = row[4], post = row[5], sweeps = row[6], n = row[7];
    const int last = n - 1;
    // a V-cycle of levels v .. last (v's x is its start), as the recursion would order its steps
    auto vcycle = [&](int v) {
        for (int lv = v; lv < last; ++lv) {
            for (int k = 0; k < pre; ++k) {
                step(kSmoothRed, lv);
                step(kSmoothBlack, lv);
            }
            step(kRestrictResidual, lv);
        }
        for (int k = 0; k < sweeps; ++k) {
            step(kSmoothRed, last);
            step(kSmoothBlack, last);
        }
        for (int lv = last - 1; lv >= v; --lv) {
            step(kProlongAdd, lv);
            for (int k = 0; k < post; ++k) {
                step(kSmoothBlack, lv);
                step(kSmoothRed, lv);
            }
        }
    };
    if (op == kSmallCycle) {
        vcycle(l);
        return;
    }
    for (int lv = l; lv < last; ++lv) step(kRestrictB, lv);  // kSmallFmg
    vcycle(last);
    for (int lv = last - 1; lv >= l; --lv) {
        step(kProlongSet, lv);
        vcycle(lv);
    }
}

}  // namespace fastswap
