// What the per-pixel headers (warp_impl.h, colour_impl.h) share: FS_HD marks a function for both the
// C++ build and CuPy's RawModule (NVRTC, which has no standard headers), and the integer types they use.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FS_HD __host__ __device__ __forceinline__
#else
#include <cmath>
#include <cstdint>
#define FS_HD inline
#endif

namespace fastswap {

#if defined(__CUDACC_RTC__)
typedef long long i64;
typedef unsigned char u8;
#else
typedef std::int64_t i64;
typedef std::uint8_t u8;
#endif

}  // namespace fastswap
