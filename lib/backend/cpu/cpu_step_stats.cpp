// cpu_step_stats.cpp: CpuBackend's device-resident step results (backend.h StepStatSlot): clear,
// sum_into (sum()'s bits added in fp64), softmax_xent_deferred (a bad label recorded, not raised)
// and check_grads (check_grad of each gradient, combined in list order in fp64: the bits of the
// per-parameter loop it replaces). The CPU engine's "device" is host memory, so none of these
// reads anything back; they exist so the trainer's logic is the same on both engines.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "kernels/softmax_xent.h"

namespace mp::cpu {

namespace {

double get_f64(const Tensor& stats, int64_t slot) {
  double d;
  std::memcpy(&d, stats.data<int64_t>() + slot, sizeof(double));
  return d;
}

void set_f64(Tensor& stats, int64_t slot, double d) {
  std::memcpy(stats.data<int64_t>() + slot, &d, sizeof(double));
}

}  // namespace

void CpuBackend::clear_step_stats_impl(Tensor& stats) {
  std::memset(stats.raw(), 0, stats.nbytes());
}

void CpuBackend::sum_into_impl(const Tensor& x, Tensor& stats, int64_t slot) {
  set_f64(stats, slot, get_f64(stats, slot) + sum_impl(x));
}

void CpuBackend::softmax_xent_deferred_impl(const Tensor& logits, const Tensor& labels,
                                            int32_t ignore_index, float grad_scale,
                                            Tensor& losses, Tensor* dlogits, Tensor& stats) {
  const int64_t rows = logits.rows(), C = logits.cols();
  const int32_t* lab = labels.data<int32_t>();
  int64_t bad = -1;
  for (int64_t r = 0; r < rows && bad < 0; ++r)
    if (!kernels::xent_label_valid(lab[r], C, ignore_index)) bad = r;
  if (bad < 0) {
    softmax_xent_impl(logits, labels, ignore_index, grad_scale, losses, dlogits);
    return;
  }
  // The slow path (the step will end with the DataError): record the lowest bad row, then the
  // rows as the CUDA kernel leaves them: bad rows loss NaN (kernels::softmax_xent_row's value)
  // and zero gradient, which is what an ignored row gets, plus the NaN.
  int64_t* slot = stats.data<int64_t>() + kStatBadLabel;
  *slot = std::max(*slot, pack_bad_label(bad, lab[bad]));
  Tensor fixed = empty_impl(labels.shape(), DType::I32);
  int32_t* f = fixed.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r)
    f[r] = kernels::xent_label_valid(lab[r], C, ignore_index) ? lab[r] : ignore_index;
  softmax_xent_impl(logits, fixed, ignore_index, grad_scale, losses, dlogits);
  float* l = losses.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    if (!kernels::xent_label_valid(lab[r], C, ignore_index))
      l[r] = std::numeric_limits<float>::quiet_NaN();
}

void CpuBackend::check_grads_impl(const std::vector<const Tensor*>& grads, float inv_scale,
                                  Tensor& stats) {
  double total = 0.0;
  int64_t flags = 0;
  for (const Tensor* g : grads) {
    const GradCheck c = check_grad_impl(*g, inv_scale);
    total += c.sum_squares;
    flags |= (c.nonfinite ? 1 : 0) | (c.scaled_nonfinite ? 2 : 0);
  }
  set_f64(stats, kStatSumSquares, total);
  stats.data<int64_t>()[kStatGradFlags] = flags;
}

}  // namespace mp::cpu
