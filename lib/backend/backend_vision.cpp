// backend_vision.cpp: the front door of the convolution, pooling and group-norm ops (backend.h):
// argument checks once for every engine (op_checks.h), then the engine's hook.
#include "backend/backend.h"
#include "backend/op_checks.h"
#include "backend/op_graph_dispatch.h"

namespace mp {

namespace {

using namespace op_checks;

std::string dims(std::initializer_list<int64_t> v) {
  std::string s = "[";
  for (int64_t d : v) s += (s.size() > 1 ? ", " : "") + std::to_string(d);
  return s + "]";
}

void check_window(const Window2d& k, const char* op) {
  MP_CHECK(k.kh >= 1 && k.kw >= 1 && k.sh >= 1 && k.sw >= 1 && k.dh >= 1 && k.dw >= 1 &&
               k.ph >= 0 && k.pw >= 0,
           std::string(op) + ": kernel, stride and dilation must be >= 1 and padding >= 0, got kernel " +
               dims({k.kh, k.kw}) + " stride " + dims({k.sh, k.sw}) + " padding " +
               dims({k.ph, k.pw}) + " dilation " + dims({k.dh, k.dw}));
}

void check_conv(const Conv2dDesc& d, const char* op) {
  check_window(d.win, op);
  MP_CHECK(d.groups >= 1 && d.c % d.groups == 0 && d.k % d.groups == 0,
           std::string(op) + ": groups " + std::to_string(d.groups) + " must divide the input (" +
               std::to_string(d.c) + ") and output (" + std::to_string(d.k) + ") channels");
  const Conv2dDesc r = make_conv2d_desc(d.n, d.c, d.h, d.w, d.k, d.groups, d.win);
  MP_CHECK(r.oh == d.oh && r.ow == d.ow && d.oh >= 1 && d.ow >= 1,
           std::string(op) + ": output plane " + dims({d.oh, d.ow}) + " does not follow from input " +
               dims({d.h, d.w}) + " and the window (expected " + dims({r.oh, r.ow}) + ", >= 1)");
}

void check_pool(const Pool2dDesc& d, const char* op) {
  check_window(d.win, op);
  const Pool2dDesc r = make_pool2d_desc(d.n, d.c, d.h, d.w, d.win);
  MP_CHECK(r.oh == d.oh && r.ow == d.ow && d.oh >= 1 && d.ow >= 1,
           std::string(op) + ": output plane " + dims({d.oh, d.ow}) + " does not follow from input " +
               dims({d.h, d.w}) + " and the window (expected " + dims({r.oh, r.ow}) + ", >= 1)");
}

int64_t wnumel(const Conv2dDesc& d) { return d.k * (d.c / d.groups) * d.win.kh * d.win.kw; }

// The operands of a pass that reads `in` (in_numel elements) and w of in's dtype and writes `out`.
void check_conv_io(Device dev, const char* op, const Conv2dDesc& d, const Tensor& in,
                   const char* in_name, int64_t in_numel, const Tensor& w, const Tensor& out,
                   const char* out_name, int64_t out_numel) {
  check_conv(d, op);
  check_float(in, dev, op, in_name);
  check_dtype(w, in.dtype(), dev, op, "w");
  check_float(out, dev, op, out_name);
  check_numel(in, in_numel, op, in_name);
  check_numel(w, wnumel(d), op, "w");
  check_numel(out, out_numel, op, out_name);
}

}  // namespace

void Backend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                             const Conv2dDesc& d) {
  const char* op = "conv2d_forward";
  check_conv_io(device(), op, d, x, "x", d.n * d.c * d.h * d.w, w, y, "y", d.n * d.k * d.oh * d.ow);
  if (bias) {
    check_float(*bias, device(), op, "bias");
    MP_CHECK(bias->dtype() == DType::F32 || bias->dtype() == y.dtype(),
             std::string(op) + ": bias must be fp32 or y's dtype, got " + bias->describe());
    check_numel(*bias, d.k, op, "bias");
  }
  if (d.n == 0) return;
  run_op("conv2d_forward", &Backend::conv2d_forward_impl, x, w, bias, y, d);
}

void Backend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                   const Conv2dDesc& d) {
  const char* op = "conv2d_backward_data";
  check_conv_io(device(), op, d, dy, "dy", d.n * d.k * d.oh * d.ow, w, dx, "dx",
                d.n * d.c * d.h * d.w);
  if (d.n == 0) return;
  run_op("conv2d_backward_data", &Backend::conv2d_backward_data_impl, dy, w, dx, d);
}

void Backend::conv2d_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* db,
                                      const Conv2dDesc& d) {
  const char* op = "conv2d_backward_weights";
  check_conv(d, op);
  check_float(x, device(), op, "x");
  check_dtype(dy, x.dtype(), device(), op, "dy");
  check_dtype(dw, DType::F32, device(), op, "dw");
  check_numel(x, d.n * d.c * d.h * d.w, op, "x");
  check_numel(dy, d.n * d.k * d.oh * d.ow, op, "dy");
  check_numel(dw, wnumel(d), op, "dw");
  if (db) {
    check_dtype(*db, DType::F32, device(), op, "db");
    check_numel(*db, d.k, op, "db");
  }
  if (d.n == 0) return;
  run_op("conv2d_backward_weights", &Backend::conv2d_backward_weights_impl, x, dy, dw, db, d);
}

void Backend::pool2d_forward(bool max, const Tensor& x, Tensor& y, Tensor* argmax,
                             const Pool2dDesc& d) {
  const char* op = "pool2d_forward";
  check_pool(d, op);
  check_float(x, device(), op, "x");
  check_float(y, device(), op, "y");
  check_numel(x, d.n * d.c * d.h * d.w, op, "x");
  check_numel(y, d.n * d.c * d.oh * d.ow, op, "y");
  MP_CHECK(max == (argmax != nullptr),
           std::string(op) + ": max pooling needs an argmax tensor, average pooling none");
  if (argmax) {
    check_dtype(*argmax, DType::I32, device(), op, "argmax");
    check_numel(*argmax, y.numel(), op, "argmax");
  }
  if (y.numel() == 0) return;
  run_op("pool2d_forward", &Backend::pool2d_forward_impl, max, x, y, argmax, d);
}

void Backend::pool2d_backward(const Tensor& dy, const Tensor* argmax, Tensor& dx,
                              const Pool2dDesc& d) {
  const char* op = "pool2d_backward";
  check_pool(d, op);
  check_float(dy, device(), op, "dy");
  check_float(dx, device(), op, "dx");
  check_numel(dy, d.n * d.c * d.oh * d.ow, op, "dy");
  check_numel(dx, d.n * d.c * d.h * d.w, op, "dx");
  if (argmax) {
    check_dtype(*argmax, DType::I32, device(), op, "argmax");
    check_numel(*argmax, dy.numel(), op, "argmax");
  }
  if (dx.numel() == 0) return;
  run_op("pool2d_backward", &Backend::pool2d_backward_impl, dy, argmax, dx, d);
}

namespace {

// x [n, c, ...] with c divisible by groups; returns n * groups (the rows of mean and rstd).
int64_t group_rows(const Tensor& x, int64_t groups, const char* op) {
  MP_CHECK(x.shape().size() >= 2, std::string(op) + ": x must be [n, c, ...], got " + x.describe());
  MP_CHECK(groups >= 1 && x.dim(1) % groups == 0,
           std::string(op) + ": groups " + std::to_string(groups) + " must divide the " +
               std::to_string(x.dim(1)) + " channels of x " + x.describe());
  return x.dim(0) * groups;
}

}  // namespace

void Backend::group_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 int64_t groups, float eps, Tensor& y, Tensor& mean, Tensor& rstd) {
  const char* op = "group_norm_forward";
  check_float(x, device(), op, "x");
  const int64_t rows = group_rows(x, groups, op);
  check_float(gamma, device(), op, "gamma");
  check_float(beta, device(), op, "beta");
  check_float(y, device(), op, "y");
  check_dtype(mean, DType::F32, device(), op, "mean");
  check_dtype(rstd, DType::F32, device(), op, "rstd");
  check_numel(gamma, x.dim(1), op, "gamma");
  check_numel(beta, x.dim(1), op, "beta");
  check_numel(y, x.numel(), op, "y");
  check_numel(mean, rows, op, "mean");
  check_numel(rstd, rows, op, "rstd");
  if (x.numel() == 0) return;
  run_op("group_norm_forward", &Backend::group_norm_forward_impl, x, gamma, beta, groups, eps, y, mean, rstd);
}

void Backend::group_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  int64_t groups, const Tensor& mean, const Tensor& rstd,
                                  Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const char* op = "group_norm_backward";
  check_float(x, device(), op, "x");
  const int64_t rows = group_rows(x, groups, op);
  check_float(dy, device(), op, "dy");
  check_float(gamma, device(), op, "gamma");
  check_float(dx, device(), op, "dx");
  check_dtype(mean, DType::F32, device(), op, "mean");
  check_dtype(rstd, DType::F32, device(), op, "rstd");
  check_dtype(dgamma, DType::F32, device(), op, "dgamma");
  check_dtype(dbeta, DType::F32, device(), op, "dbeta");
  check_numel(dy, x.numel(), op, "dy");
  check_numel(dx, x.numel(), op, "dx");
  check_numel(gamma, x.dim(1), op, "gamma");
  check_numel(mean, rows, op, "mean");
  check_numel(rstd, rows, op, "rstd");
  check_numel(dgamma, x.dim(1), op, "dgamma");
  check_numel(dbeta, x.dim(1), op, "dbeta");
  if (x.numel() == 0) return;
  run_op("group_norm_backward", &Backend::group_norm_backward_impl, dy, x, gamma, groups, mean, rstd, dx, dgamma, dbeta);
}

}  // namespace mp
