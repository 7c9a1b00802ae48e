// The host side of kernels/cuda/b2p.cu: what the torch binding (b2p_binding.cpp) calls.
// Plain pointers and sizes only, so that b2p.cu compiles with nvcc alone (no torch headers).
#pragma once

#include <cuda_runtime.h>

namespace swr_b2p {

enum class Dtype { Float32, Float16, BFloat16 };

// Tokens per tile, tiles (= warps) per block, channels per block: the launch geometry.
constexpr int TILE = 16;
constexpr int TILES_PER_BLOCK = 8;
constexpr int SLICE = 64;

// Blocks along the channels: D is cut into slices of SLICE channels (D must be a multiple of 16).
inline int channel_slices(int D) { return (D + SLICE - 1) / SLICE; }

// y (rows, T, D) = B2P(a, x) for decays a (rows, T) fp32 and inputs x (rows, T, D) fp16 or bf16.
// All tensors contiguous, 16-byte aligned; D a multiple of 16. Returns the launch's error code.
cudaError_t launch_forward(const float* a, const void* x, Dtype x_dtype, void* y, Dtype y_dtype,
                           int rows, int T, int D, cudaStream_t stream);

// dx (rows, T, D) in x's dtype and da (channel_slices(D), rows, T) fp32, one partial sum per channel slice,
// for the gradient dy (rows, T, D) of y, in x's dtype or fp32.
cudaError_t launch_backward(const float* a, const void* x, Dtype x_dtype, const void* dy, Dtype dy_dtype,
                            void* dx, float* da, int rows, int T, int D, cudaStream_t stream);

}  // namespace swr_b2p
