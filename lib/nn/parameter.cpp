#include "nn/parameter.h"

#include "backend/backend.h"

namespace mp {

Parameter make_parameter(Backend& be, std::string name, const Shape& shape, DType working,
                         bool master_fp32, bool decay) {
  Parameter p;
  p.name = std::move(name);
  p.decay = decay;
  if (working == DType::F32) {
    p.master = be.empty(shape, DType::F32);
    p.working = p.master;
  } else if (master_fp32) {
    p.master = be.empty(shape, DType::F32);
    p.working = be.empty(shape, working);
  } else {
    p.working = be.empty(shape, working);
    p.master = p.working;
  }
  p.grad = be.empty(shape, DType::F32);
  be.fill(p.grad, 0.0f);
  return p;
}

void set_parameter_values(Backend& be, Parameter& p, const Tensor& values_f32) {
  MP_CHECK(values_f32.dtype() == DType::F32 && values_f32.numel() == p.master.numel(),
           "set_parameter_values: " + p.name + " expects fp32 values of its own size");
  if (p.master.dtype() == DType::F32)
    be.copy(values_f32, p.master);
  else
    be.cast(values_f32, p.master);
  sync_working(be, p);
}

void sync_working(Backend& be, Parameter& p) {
  if (p.working.raw() != p.master.raw()) be.cast(p.master, p.working);
}

void freeze_parameter(Parameter& p) {
  p.frozen = true;
  p.grad = Tensor();
}

}  // namespace mp
