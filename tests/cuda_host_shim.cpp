// Lets a host C++ compiler read csrc/cuda_kernels.cu (tests/test_cuda_source.py): CUDA's qualifiers
// and built-ins as stubs, so that the kernels' code (not NVRTC's own rules) is checked on machines
// without a GPU. Never run, only compiled.
#include <algorithm>
#include <cmath>
using std::max;
using std::min;
#define __CUDACC_RTC__ 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __shared__
#define __launch_bounds__(threads, blocks)
struct FsDim3 {
    unsigned x, y, z;
};
static FsDim3 blockIdx, threadIdx, blockDim, gridDim;
static unsigned atomicAdd(unsigned* a, unsigned v) {
    const unsigned old = *a;
    *a = old + v;
    return old;
}
static unsigned atomicExch(unsigned* a, unsigned v) {
    const unsigned old = *a;
    *a = v;
    return old;
}
static int atomicMax(int* a, int v) {
    const int old = *a;
    *a = std::max(old, v);
    return old;
}
static void __threadfence() {}
static void __syncthreads() {}
#include "cuda_kernels.cu"
