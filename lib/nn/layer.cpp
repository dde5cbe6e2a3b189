#include "nn/layer.h"

namespace mp {

void ensure_buffer(Backend& be, Tensor& t, const Shape& shape, DType dt) {
  const size_t need = static_cast<size_t>(shape_numel(shape)) * dtype_size(dt);
  if (t.defined() && t.device() == be.device() && t.storage()->bytes() >= need) {
    if (t.dtype() == dt && t.shape() == shape) return;
    t = Tensor(t.storage(), 0, shape, dt);
    return;
  }
  t = be.empty(shape, dt);
}

Shape batch_shape(int64_t batch, const Shape& sample) {
  Shape s{batch};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

const Tensor& Layer::as_dtype(Backend& be, const Tensor& x, Tensor& buf) const {
  if (x.dtype() == dtype_) return x;
  ensure_buffer(be, buf, x.shape(), dtype_);
  be.cast(x, buf);
  return buf;
}

const Tensor& Layer::as_dtype(Context& ctx, const Tensor& x, Tensor& buf,
                              RoundingPoint point) const {
  const Tensor& y = as_dtype(ctx.be, x, buf);
  // A cast into fp32 is exact: nothing to observe.
  if (&y != &x && dtype() != DType::F32)
    observe(ctx, point, y, [&](Tensor& exact) { ctx.be.cast(x, exact); });
  return y;
}

}  // namespace mp
