// checkpoint_linear_fusion.cpp: a checkpoint written from a model built without the Linear + gelu
// fusion (ModelOptions::fuse_linear_gelu = false) passes check_compatible for the fused model
// and, loaded into it the way the trainer restores parameters, gives the same output bits: the
// fusion changes no parameter name or shape (nn/linear_fusion.h).
#include <doctest/doctest.h>

#include <random>

#include "checkpoint/checkpoint_compat.h"
#include "checkpoint/checkpoint_io.h"
#include "nn/model.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;

namespace {

std::vector<LayerSpec> mlp_layers() {
  auto layer = [](const std::string& type, std::map<std::string, ParamValue> kv) {
    LayerSpec s = default_layer_spec(type);
    for (auto& [k, v] : kv) s.params[k] = v;
    s.where = "test";
    return s;
  };
  return {layer("transformer_block", {{"heads", int64_t{2}}}), layer("linear", {{"out", int64_t{16}}}),
          layer("gelu", {}), layer("linear", {{"out", int64_t{8}}})};
}

std::unique_ptr<Model> build(Backend& be, bool fuse, uint64_t seed) {
  ModelOptions opt;
  opt.compute = DType::BF16;
  opt.seed = seed;
  opt.fuse_linear_gelu = fuse;
  return Model::build(be, mlp_layers(), {4, 8}, opt);
}

std::vector<float> output(Backend& be, Model& m) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(2 * 4 * 8);
  for (float& v : x) v = u(rng);
  Context ctx(be, false);
  return to_host_floats(be, m.forward(ctx, from_host_floats(be, x, {2, 4, 8}, DType::F32)));
}

}  // namespace

TEST_CASE("a checkpoint of the unfused model loads into the fused one, same outputs") {
  auto be = make_cpu_backend(1);
  auto plain = build(*be, false, 1);
  auto fused = build(*be, true, 2);  // other initial values: the checkpoint must replace them
  REQUIRE(plain->linear_gelu_links() == 0);
  REQUIRE(fused->linear_gelu_links() == 4);
  CHECK(make_model_signature(plain->params()) == make_model_signature(fused->params()));

  mp::testing::TempDir dir("linear_fusion");
  CheckpointData ck;
  ck.policy = "bf16";
  ck.model_signature = make_model_signature(plain->params());
  for (const Parameter* p : plain->params())
    ck.params.push_back({"", p->name, p->master.shape(), to_host_floats(*be, p->master)});
  const auto path = dir.path / "step_00000000.h5";
  write_checkpoint_file(path, ck);
  const CheckpointData back = read_checkpoint(path);
  check_compatible(back, path.string(), make_model_signature(fused->params()), DType::BF16);

  CHECK(output(*be, *plain) != output(*be, *fused));  // different initial values
  for (const CheckpointTensor& t : back.params) {
    Parameter* p = fused->find_param(t.name);
    REQUIRE_MESSAGE(p != nullptr, t.name);
    set_parameter_values(*be, *p, from_host_floats(*be, t.values, t.shape, DType::F32));
  }
  CHECK(output(*be, *plain) == output(*be, *fused));
}
