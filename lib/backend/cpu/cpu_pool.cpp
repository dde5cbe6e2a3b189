// cpu_pool.cpp: CpuBackend's pooling hooks. Planes (n * c of them) run in parallel; each is staged
// through per-thread fp32 buffers and handed to the kernels/pool.h element functions, then rounded
// once on store. The backward is a gather (each input element sums the windows that hold it), so
// it is deterministic and needs no atomics.
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "kernels/pool.h"

namespace mp::cpu {

void CpuBackend::pool2d_forward_impl(bool max, const Tensor& x, Tensor& y, Tensor* argmax,
                                     const Pool2dDesc& d) {
  const int64_t in = d.h * d.w, out = d.oh * d.ow;
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(in + out), &stride);
  int32_t* arg = argmax ? argmax->data<int32_t>() : nullptr;
  for_each_row(threads_, d.n * d.c, in, [&](int64_t p) {
    float* mine = ts + stride * static_cast<size_t>(omp_get_thread_num());
    const float* xs = f32_in(x, p * in, in, mine);
    float* ys = f32_out(y, p * out, mine + in);
    for (int64_t oy = 0; oy < d.oh; ++oy)
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const int64_t o = oy * d.ow + ox;
        ys[o] = max ? kernels::max_pool_at(xs, d.h, d.w, d.win, oy, ox, arg + p * out + o)
                    : kernels::avg_pool_at(xs, d.h, d.w, d.win, oy, ox);
      }
    f32_commit(y, p * out, out, ys);
  });
}

void CpuBackend::pool2d_backward_impl(const Tensor& dy, const Tensor* argmax, Tensor& dx,
                                      const Pool2dDesc& d) {
  const int64_t in = d.h * d.w, out = d.oh * d.ow;
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(in + out), &stride);
  const int32_t* arg = argmax ? argmax->data<int32_t>() : nullptr;
  for_each_row(threads_, d.n * d.c, in, [&](int64_t p) {
    float* mine = ts + stride * static_cast<size_t>(omp_get_thread_num());
    const float* dys = f32_in(dy, p * out, out, mine);
    float* dxs = f32_out(dx, p * in, mine + out);
    const int32_t* a = arg ? arg + p * out : nullptr;
    for (int64_t iy = 0; iy < d.h; ++iy)
      for (int64_t ix = 0; ix < d.w; ++ix)
        dxs[iy * d.w + ix] = kernels::pool_grad_at(dys, a, d.w, d.oh, d.ow, d.win, iy, ix);
    f32_commit(dx, p * in, in, dxs);
  });
}

}  // namespace mp::cpu
