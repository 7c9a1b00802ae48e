// The torch binding of kernels/cuda/b2p.cu: checks the tensors and launches on torch's current stream.
// Python (swr_tutor.cuda_kernels) allocates the outputs; these functions only fill them in.
#include <ATen/cuda/CUDAContext.h>
#include <torch/extension.h>

#include "b2p.h"

namespace {

swr_b2p::Dtype dtype_of(const torch::Tensor& t, const char* name) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return swr_b2p::Dtype::Float32;
    case torch::kFloat16: return swr_b2p::Dtype::Float16;
    case torch::kBFloat16: return swr_b2p::Dtype::BFloat16;
    default: TORCH_CHECK(false, "b2p (cuda): ", name, " must be float32, float16 or bfloat16, got ", t.scalar_type());
  }
}

void check_layout(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(), "b2p (cuda): ", name, " must be a contiguous CUDA tensor");
  TORCH_CHECK(reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0, "b2p (cuda): ", name, " must be 16-byte aligned");
}

void check_inputs(const torch::Tensor& a, const torch::Tensor& x) {
  check_layout(a, "a");
  check_layout(x, "x");
  TORCH_CHECK(a.scalar_type() == torch::kFloat32, "b2p (cuda): a must be float32");
  TORCH_CHECK(x.scalar_type() == torch::kFloat16 || x.scalar_type() == torch::kBFloat16,
              "b2p (cuda): x must be float16 or bfloat16");
  TORCH_CHECK(x.dim() == 3 && a.dim() == 2 && a.size(0) == x.size(0) && a.size(1) == x.size(1),
              "b2p (cuda): a (R, T) and x (R, T, D) expected");
  TORCH_CHECK(x.size(2) % 16 == 0, "b2p (cuda): D must be a multiple of 16");
}

void check_result(cudaError_t error) { TORCH_CHECK(error == cudaSuccess, "b2p (cuda): ", cudaGetErrorString(error)); }

// y (R, T, D) = B2P(a, x); y's dtype picks the output precision.
void forward(const torch::Tensor& a, const torch::Tensor& x, torch::Tensor& y) {
  check_inputs(a, x);
  check_layout(y, "y");
  TORCH_CHECK(y.sizes() == x.sizes(), "b2p (cuda): y must have x's shape");
  const int R = x.size(0), T = x.size(1), D = x.size(2);
  check_result(swr_b2p::launch_forward(a.data_ptr<float>(), x.data_ptr(), dtype_of(x, "x"), y.data_ptr(),
                                       dtype_of(y, "y"), R, T, D, at::cuda::getCurrentCUDAStream()));
}

// dx (R, T, D) in x's dtype and da (slices, R, T) fp32 partial sums, for the gradient dy of y.
void backward(const torch::Tensor& a, const torch::Tensor& x, const torch::Tensor& dy, torch::Tensor& dx,
              torch::Tensor& da) {
  check_inputs(a, x);
  check_layout(dy, "dy");
  check_layout(dx, "dx");
  check_layout(da, "da");
  const int R = x.size(0), T = x.size(1), D = x.size(2);
  TORCH_CHECK(dy.sizes() == x.sizes() && dx.sizes() == x.sizes(), "b2p (cuda): dy and dx must have x's shape");
  TORCH_CHECK(dy.scalar_type() == x.scalar_type() || dy.scalar_type() == torch::kFloat32,
              "b2p (cuda): dy must have x's dtype or float32");
  TORCH_CHECK(dx.scalar_type() == x.scalar_type(), "b2p (cuda): dx must have x's dtype");
  TORCH_CHECK(da.scalar_type() == torch::kFloat32 && da.dim() == 3 && da.size(0) == swr_b2p::channel_slices(D) &&
                  da.size(1) == R && da.size(2) == T,
              "b2p (cuda): da must be float32 of shape (channel slices, R, T)");
  check_result(swr_b2p::launch_backward(a.data_ptr<float>(), x.data_ptr(), dtype_of(x, "x"), dy.data_ptr(),
                                        dtype_of(dy, "dy"), dx.data_ptr(), da.data_ptr<float>(), R, T, D,
                                        at::cuda::getCurrentCUDAStream()));
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "B2P forward: fills y");
  m.def("backward", &backward, "B2P backward: fills dx and the per-slice da");
  m.attr("SLICE") = swr_b2p::SLICE;
}
