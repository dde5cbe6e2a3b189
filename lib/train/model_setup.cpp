#include "train/model_setup.h"

#include <algorithm>
#include <sstream>

#include "data/data_file_path.h"
#include "nn/attention.h"

namespace mp {

std::string resolve_data_file(const RunSpec& spec) { return resolve_data_file(spec.data.file, spec.source); }

Device estimate_device(const std::string& device) {
  if (device == "cuda") return Device::CUDA;
  if (device == "auto" && cuda_device_count() > 0) return Device::CUDA;
  return Device::CPU;
}

MemoryEstimate estimate_memory(const RunSpec& spec, Model& model) {
  MemoryEstimate m;
  const Device engine = estimate_device(spec.device);
  model.visit_layers([&](Layer& l) {
    if (auto* a = dynamic_cast<CausalSelfAttention*>(&l)) a->plan_estimate(engine);
  });
  for (const Parameter* p : model.params()) {
    const int64_t n = p->master.numel();
    if (p->working.raw() != p->master.raw()) {
      m.working_bytes += n * static_cast<int64_t>(dtype_size(p->working.dtype()));
      m.master_bytes += n * static_cast<int64_t>(dtype_size(p->master.dtype()));
    } else {
      m.working_bytes += n * static_cast<int64_t>(dtype_size(p->master.dtype()));
    }
    if (p->frozen) continue;  // optimizer.freeze: no gradient buffer, no optimizer state
    m.grad_bytes += n * 4;
    if (spec.optimizer.type == "adamw") m.optimizer_bytes += 2 * n * 4;
    else if (spec.optimizer.momentum > 0) m.optimizer_bytes += n * 4;
  }
  // Each layer keeps its output for the next layer's backward and one gradient buffer of the
  // same size: 2 x outputs in the layer's dtype, per sample, times the micro-batch.
  for (const LayerRow& r : model.summary())
    m.activation_bytes += (2 * r.activation_elems * static_cast<int64_t>(dtype_size(r.dtype)) +
                           r.saved_bytes) * spec.data.batch_size;
  return m;
}

namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string mib(int64_t bytes) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(2);
  o << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return o.str();
}

}  // namespace

std::string model_report(const RunSpec& spec, Model& model) {
  std::ostringstream o;
  char line[256];
  const std::vector<LayerRow> rows = model.summary();
  int type_w = 11;  // wide enough for every type name in the table (causal_self_attention: 21)
  for (const LayerRow& r : rows) type_w = std::max(type_w, static_cast<int>(r.type.size()));
  std::snprintf(line, sizeof line, "%-28s %-*s %-6s %-18s %14s\n", "layer", type_w, "type",
                "dtype", "output (per sample)", "parameters");
  o << "model: input " << shape_str(model.input_shape()) << ", policy " << spec.precision.policy
    << ", master weights " << spec.precision.master_weights << "\n" << line;
  for (const LayerRow& r : rows) {
    const std::string name = std::string(static_cast<size_t>(2 * r.depth), ' ') + r.name;
    std::snprintf(line, sizeof line, "%-28s %-*s %-6s %-18s %14s\n", name.c_str(), type_w,
                  r.type.c_str(),
                  std::string(dtype_name(r.dtype)).c_str(), shape_str(r.out_shape).c_str(),
                  with_commas(r.params).c_str());
    o << line;
  }
  o << "total parameters: " << with_commas(model.num_params()) << "\n";
  const MemoryEstimate m = estimate_memory(spec, model);
  o << "memory estimate (micro-batch " << spec.data.batch_size << ", optimizer "
    << spec.optimizer.type << ", "
    << (estimate_device(spec.device) == Device::CUDA ? "cuda" : "cpu") << " engine):\n";
  auto row = [&](const char* what, int64_t bytes) {
    std::snprintf(line, sizeof line, "  %-34s %14s\n", what, mib(bytes).c_str());
    o << line;
  };
  row(("parameters (working, " + spec.precision.policy + ")").c_str(), m.working_bytes);
  row("master weights (fp32)", m.master_bytes);
  row("gradients (fp32)", m.grad_bytes);
  row("optimizer state (fp32)", m.optimizer_bytes);
  row("activations + their gradients", m.activation_bytes);
  row("total", m.total());
  return o.str();
}

}  // namespace mp
