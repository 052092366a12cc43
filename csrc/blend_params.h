// Parameters of the multigrid Poisson (seamless-clone) solve of the CPU backend.
#pragma once

namespace fastswap {

struct BlendParams {
    int h, w;           // region size in pixels (src, dst and mask share it)
    int channels;       // channels per pixel (1..4), interleaved
    int mixed;          // 0: source gradients as guidance; 1: per channel the stronger of source/target
    int cycles;         // most V-cycles at the finest level after the full-multigrid pass
    int pre_smooth;     // red-black Gauss-Seidel sweeps before each coarse-grid correction
    int post_smooth;    // sweeps after it
    int coarsest;       // stop coarsening once min(h, w) <= this
    float tol;          // the V-cycles stop early once the residual's RMS over the unknowns is
                        // below tol (grey levels x the 5-point operator's scale); 0: run all cycles
    int band;           // normal mode: the finest level relaxes only pixels within `band` pixels
                        // (Chebyshev distance) of a known pixel, level 1 within band / 2 + 2 of its
                        // own; deeper ones, where the correction is harmonic and smooth, keep the
                        // coarser level's solution interpolated. 0: relax every pixel (mixed mode
                        // always does)
    long long src_stride;   // bytes from one row of src to the next (pixels and channels are contiguous;
    long long dst_stride;   // rows may be a view's, further apart than w * channels) ... of dst
    long long mask_stride;  // ... of mask (one byte per pixel)
};

}  // namespace fastswap
