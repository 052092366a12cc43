// The cuda backend's kernels, compiled at run time by CuPy's RawModule (NVRTC) with this folder on the
// include path (fastswap/backends/cuda_backend.py). The per-pixel math is the C++ build's:
// warp_impl.h (triangle set-up, row spans, bilinear sampling) and poisson_gpu_impl.h (the multigrid
// solve's operations); here are only the launches' shapes. Semantics: numpy_backend.py.
#include "poisson_gpu_impl.h"
#include "warp_impl.h"

using namespace fastswap;

// Sizes the host checks against its own record layouts (GpuLevel: cuda_backend.LEVEL_DTYPE).
extern "C" __global__ void record_sizes(int* out) {
    out[0] = (int)sizeof(TriSetup);
    out[1] = (int)sizeof(GpuLevel);
}

// ---- Warp: set-up (a thread per triangle), rasterisation (a block per triangle: each pixel keeps the
// highest index of the triangles covering it, so later triangles win as in the reference), sampling
// (a thread per output pixel).

extern "C" __global__ void warp_setup(const float* __restrict__ src_pts, const float* __restrict__ dst_pts,
                                      const int* __restrict__ tris, int num_tris, int cull, int src_h, int src_w,
                                      TriSetup* out) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= num_tris) return;
    float s[6], d[6];
    for (int k = 0; k < 3; ++k) {
        const int v = tris[3 * t + k];
        s[2 * k] = src_pts[2 * v];
        s[2 * k + 1] = src_pts[2 * v + 1];
        d[2 * k] = dst_pts[2 * v];
        d[2 * k + 1] = dst_pts[2 * v + 1];
    }
    setup_triangle(s, d, cull != 0, src_h, src_w, out[t]);
}

extern "C" __global__ void warp_raster(const TriSetup* __restrict__ tris, int out_h, int out_w, int* tri_id) {
    const int t = blockIdx.x;
    const TriSetup& tri = tris[t];
    if (!tri.drawn) return;
    const int y0 = max(tri.y_lo, 0), y1 = min(tri.y_hi, out_h - 1);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int y = y0 + warp; y <= y1; y += warps) {  // a warp per row, its lanes along the row
        int xl, xr;
        row_span(tri, y, &xl, &xr);
        xl = max(xl, 0);
        xr = min(xr, out_w - 1);
        for (int x = xl + lane; x <= xr; x += 32) atomicMax(&tri_id[(long long)y * out_w + x], t);
    }
}

extern "C" __global__ void warp_sample(const u8* __restrict__ src, int src_h, int src_w, int channels,
                                       const TriSetup* __restrict__ tris, const int* __restrict__ tri_id, int out_h,
                                       int out_w, u8* __restrict__ out, u8* __restrict__ covered) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)out_h * out_w) return;
    const int t = tri_id[i];
    u8* o = out + i * channels;
    if (t < 0) {
        covered[i] = 0;
        for (int c = 0; c < channels; ++c) o[c] = 0;
        return;
    }
    covered[i] = 255;
    const TriSetup& tri = tris[t];
    const int y = (int)(i / out_w), x = (int)(i % out_w);
    const double bu = tri.a[1] * y + tri.a[2], bv = tri.a[4] * y + tri.a[5];  // as the C++ rows do
    sample_bilinear(src, src_h, src_w, channels, tri.a[0] * x + bu, tri.a[3] * x + bv, o);
}

// ---- Blend: the schedule of fastswap/backends/gpu_plan.py, either one launch per operation
// (blend_op) or all of it in one launch whose blocks meet at a grid-wide barrier between operations
// (blend_persistent; its grid must fit on the device at once: the host launches one block per
// multiprocessor).

#define FS_BLEND_ARGS                                                                                  \
    const u8 *__restrict__ src, const u8 *__restrict__ dst, const u8 *__restrict__ mask, u8 *__restrict__ out, \
        float *pool, u8 *links, const GpuLevel *__restrict__ levels, int h, int w, int channels, int mixed
#define FS_BLEND_PARAMS \
    GpuBlendParams p { src, dst, mask, out, pool, links, levels, h, w, channels, mixed }

// Every point of one step, the block's threads striding over them, then the block's barrier.
struct BlockStep {
    const GpuBlendParams& p;
    __device__ void operator()(int op, int level) const {
        const long long n = op_points(p, op, level);
        for (long long i = threadIdx.x; i < n; i += blockDim.x) blend_point(p, op, level, i);
        __syncthreads();
    }
};

// Row `row` of the schedule (kScheduleCols ints a row); kSmall* rows are launched with one block.
extern "C" __global__ void blend_op(FS_BLEND_ARGS, const int* __restrict__ schedule, int row) {
    FS_BLEND_PARAMS;
    const int* r = schedule + (long long)kScheduleCols * row;
    const int op = r[0], level = r[1];
    if (op == kSmallFmg || op == kSmallCycle) {
        BlockStep step{p};
        small_steps(r, step);
        return;
    }
    const long long n = op_points(p, op, level);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) blend_point(p, op, level, i);
}

// Grid-wide barrier: bar[0] counts the blocks arrived, bar[1] is the generation (both 0 at launch).
// The last block to arrive resets the count and opens the next generation; the fences make every
// block's writes before the barrier visible to every block after it.
__device__ __forceinline__ void grid_barrier(unsigned int* bar) {
    __syncthreads();
    if (threadIdx.x == 0) {
        volatile unsigned int* gen = bar + 1;
        const unsigned int g = *gen;
        __threadfence();
        if (atomicAdd(bar, 1u) == gridDim.x - 1) {
            atomicExch(bar, 0u);
            __threadfence();
            atomicAdd(bar + 1, 1u);
        } else {
            while (*gen == g) {
            }
        }
        __threadfence();
    }
    __syncthreads();
}

// Operations on small levels (schedule flag bit 0) are done by block 0 alone on copies of the small
// levels' data in shared memory: the pool's and the links' tails from tail_float / tail_link on (the
// coarsest levels come last). Bit 1: copy the tail in before the operation (the first of a run of
// small operations); bit 2: copy it back out after (the last of a run). Launched with
// FS_PERSISTENT_THREADS threads a block and (pool_floats - tail_float) * 4 + (link_bytes - tail_link) bytes of dynamic shared memory.
#ifndef FS_PERSISTENT_THREADS
#define FS_PERSISTENT_THREADS 512  // the host's cuda_backend.PERSISTENT_BLOCK
#endif
extern "C" __global__ void __launch_bounds__(FS_PERSISTENT_THREADS, 1)
    blend_persistent(FS_BLEND_ARGS, const int* __restrict__ schedule, int entries, unsigned int* bar,
                     long long pool_floats, long long tail_float, long long link_bytes, long long tail_link) {
    FS_BLEND_PARAMS;
    extern __shared__ float tail[];
    const long long nf = pool_floats - tail_float, nl = link_bytes - tail_link;
    u8* tail_links = (u8*)(tail + nf);
    GpuBlendParams ps = p;  // the same offsets, into shared memory for the tail
    ps.pool = tail - tail_float;
    ps.links = tail_links - tail_link;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (int e = 0; e < entries; ++e) {
        const int* row = schedule + (long long)kScheduleCols * e;
        const int op = row[0], level = row[1], small = row[2], barrier = row[3];
        const long long n = op_points(p, op, level);
        if (small & 1) {  // one block: the next small operation needs only this block's barrier
            if (blockIdx.x == 0) {
                if (small & 2) {
                    for (long long k = threadIdx.x; k < nf; k += blockDim.x) tail[k] = pool[tail_float + k];
                    for (long long k = threadIdx.x; k < nl; k += blockDim.x) tail_links[k] = links[tail_link + k];
                    __syncthreads();
                }
                if (op == kSmallFmg || op == kSmallCycle) {
                    BlockStep step{ps};
                    small_steps(row, step);
                } else {
                    for (long long i = threadIdx.x; i < n; i += blockDim.x) blend_point(ps, op, level, i);
                }
                if (small & 4) {
                    __syncthreads();
                    for (long long k = threadIdx.x; k < nf; k += blockDim.x) pool[tail_float + k] = tail[k];
                }
            }
        } else {
            for (long long i = first; i < n; i += stride) blend_point(p, op, level, i);
        }
        if (barrier)
            grid_barrier(bar);
        else
            __syncthreads();
    }
}
