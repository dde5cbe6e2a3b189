#include "nn/layer_spec.h"

#include "core/error.h"

namespace mp {

namespace {

ParamDesc p_int(std::string n, int64_t def, double lo, std::string doc, bool required = false) {
  ParamDesc d{std::move(n), ParamKind::Int, def, required, lo, 1e300, false, {}, std::move(doc)};
  return d;
}
ParamDesc p_float(std::string n, double def, double lo, double hi, bool hi_excl, std::string doc) {
  return ParamDesc{std::move(n), ParamKind::Float, def, false, lo, hi, hi_excl, {}, std::move(doc)};
}
ParamDesc p_bool(std::string n, bool def, std::string doc) {
  return ParamDesc{std::move(n), ParamKind::Bool, def, false, 0, 0, false, {}, std::move(doc)};
}
ParamDesc p_choice(std::string n, std::string def, std::vector<std::string> ch, std::string doc) {
  return ParamDesc{std::move(n), ParamKind::Choice, std::move(def), false, 0, 0, false,
                   std::move(ch), std::move(doc)};
}

}  // namespace

const std::vector<ParamDesc>& common_layer_params() {
  static const std::vector<ParamDesc> common = {
      ParamDesc{"name", ParamKind::String, std::string(), false, 0, 0, false, {},
                "name used for this layer's parameters (default: its position, e.g. layers.3)"},
      p_choice("precision", "auto", {"auto", "fp32"},
               "auto: the policy's compute dtype; fp32: run this layer in fp32 (per-layer override)"),
  };
  return common;
}

const std::vector<LayerDesc>& layer_catalog() {
  // causal_self_attention's path (nn/attention.h), also a transformer_block parameter.
  static const ParamDesc kAttentionPath = p_choice(
      "attention", "auto", {"auto", "fused", "unfused"},
      "fused: one flash-style kernel per head without the T x T scores (fp32 softmax statistics; "
      "CUDA: head dims 32, 64, 128, other d unfused); unfused: score GEMM, softmax, P V GEMM; "
      "auto: fused on CUDA where d is supported, unfused on the CPU. Training steps with "
      "dropout > 0 always run unfused");
  static const std::vector<LayerDesc> catalog = {
      {"linear", false,
       {p_int("out", 0, 1, "output features", true), p_bool("bias", true, "add a learned bias"),
        p_choice("init", "kaiming_uniform",
                 {"kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "normal",
                  "zeros"},
                 "weight initialiser (bias starts at zero)"),
        p_float("init_std", 0.02, 0.0, 1e300, false, "standard deviation for init: normal")},
       "fully connected: y = x W^T + b over the last dimension"},
      {"relu", false, {}, "max(x, 0)"},
      {"gelu", false,
       {p_choice("approximate", "tanh", {"tanh", "none"}, "tanh approximation or exact erf form")},
       "Gaussian error linear unit"},
      {"tanh", false, {}, "hyperbolic tangent"},
      {"sigmoid", false, {}, "logistic sigmoid"},
      {"silu", false, {}, "x * sigmoid(x) (swish)"},
      {"dropout", false, {p_float("p", 0.1, 0.0, 1.0, true, "probability of zeroing an element")},
       "inverted dropout (scales kept elements by 1/(1-p) in training, identity in eval)"},
      {"layernorm", false,
       {p_float("eps", 1e-5, 1e-12, 1.0, false, "added to the variance"),
        p_bool("affine", true, "learned scale (gamma) and shift (beta)")},
       "layer normalisation over the last dimension; statistics in fp32"},
      {"flatten", false, {}, "collapse all but the batch dimension"},
      {"conv2d", false,
       {p_int("out", 0, 1, "output channels", true),
        p_int("kernel", 0, 1, "kernel size (square, kernel x kernel)", true),
        p_int("stride", 1, 1, "step between windows"),
        p_int("padding", 0, 0, "zeros added on each side of height and width"),
        p_int("dilation", 1, 1, "spacing between kernel taps (1 = dense)"),
        p_int("groups", 1, 1, "channel groups (must divide the input channels and out)"),
        p_bool("bias", true, "add a learned per-channel bias"),
        p_choice("init", "kaiming_uniform",
                 {"kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "normal",
                  "zeros"},
                 "weight initialiser (fan_in = in/groups * kernel^2; bias starts at zero)"),
        p_float("init_std", 0.02, 0.0, 1e300, false, "standard deviation for init: normal")},
       "2-D convolution over [C, H, W] images (NCHW; [H, W] is one channel); fp32 accumulation, "
       "one rounding of the output"},
      {"max_pool2d", false,
       {p_int("kernel", 0, 1, "window size (square)", true),
        p_int("stride", 0, 0, "step between windows (0: the kernel size)"),
        p_int("padding", 0, 0, "implicit -inf padding on each side (at most kernel / 2)")},
       "maximum over each window of [C, H, W]; the gradient goes to the first maximum"},
      {"avg_pool2d", false,
       {p_int("kernel", 0, 1, "window size (square)", true),
        p_int("stride", 0, 0, "step between windows (0: the kernel size)"),
        p_int("padding", 0, 0, "zero padding on each side, counted in the mean (at most kernel / 2)")},
       "mean over each window of [C, H, W] (divisor kernel^2)"},
      {"global_avg_pool", false, {}, "mean over height and width: [C, H, W] -> [C]"},
      {"group_norm", false,
       {p_int("groups", 0, 1, "channel groups (must divide the channels)", true),
        p_float("eps", 1e-5, 1e-12, 1.0, false, "added to the variance"),
        p_bool("affine", true, "learned per-channel scale (gamma) and shift (beta)")},
       "group normalisation over [C, ...]: statistics per sample and group of channels, in fp32"},
      {"residual", true, {}, "y = x + f(x) for the listed layers f (output shape must match input)"},
      {"sequential", true, {}, "the listed layers applied in order"},
      {"embedding", false,
       {p_int("vocab", 0, 1, "number of token ids (ids must be integers in [0, vocab))", true),
        p_int("dim", 0, 1, "width of each token's vector", true),
        p_choice("init", "normal", {"normal", "zeros"}, "weight initialiser"),
        p_float("init_std", 0.02, 0.0, 1e300, false, "standard deviation for init: normal")},
       "token ids [T] (fp32 integers) -> rows of a learned [vocab, dim] table; the gradient is a "
       "deterministic fp32 scatter-add"},
      {"positional_embedding", false,
       {p_int("max_len", 0, 0, "positions the table holds (0: the input's T)"),
        p_float("init_std", 0.02, 0.0, 1e300, false, "standard deviation of the normal init")},
       "y = x + P[0:T] for x [T, dim]: learned absolute positions"},
      {"lm_head", false,
       {p_int("vocab", 0, 1, "number of output logits (the vocabulary size)", true),
        p_bool("tie", false, "share the weight of an earlier embedding layer (one parameter)"),
        ParamDesc{"tie_to", ParamKind::String, std::string(), false, 0, 0, false, {},
                  "name of the embedding to tie to (default: the first embedding before this layer)"},
        p_bool("bias", false, "add a learned bias"),
        p_float("init_std", 0.02, 0.0, 1e300, false, "standard deviation of the normal init (untied)")},
       "logits over the vocabulary: y = x W^T (+ b), W [vocab, dim] its own or a tied embedding's"},
      {"causal_self_attention", false,
       {p_int("heads", 0, 1, "attention heads (must divide the input width C; head size C / heads)",
              true),
        p_float("dropout", 0.0, 0.0, 1.0, true,
                "dropout on the attention probabilities (training only)"),
        p_bool("bias", true, "learned biases in the QKV and output projections"),
        kAttentionPath},
       "causal multi-head self-attention over [T, C]: QKV projection, softmax(Q K^T / sqrt(d)) "
       "with keys after the query masked (fp32 softmax), V, output projection"},
      {"transformer_block", false,
       {p_int("heads", 0, 1, "attention heads (must divide the input width C)", true),
        p_int("mlp_ratio", 4, 1, "MLP hidden width as a multiple of C"),
        p_float("dropout", 0.0, 0.0, 1.0, true,
                "dropout on the attention probabilities and after each residual branch"),
        p_float("eps", 1e-5, 1e-12, 1.0, false, "the layernorms' eps"), kAttentionPath},
       "pre-norm GPT block over [T, C]: x + attn(layernorm(x)), then x + mlp(layernorm(x)) with "
       "mlp = linear(mlp_ratio C), gelu (tanh), linear(C); parameters <name>.ln1, .attn.qkv, "
       ".attn.proj, .ln2, .mlp.fc, .mlp.proj"},
  };
  return catalog;
}

const LayerDesc* find_layer_desc(std::string_view type) {
  for (const auto& d : layer_catalog())
    if (d.type == type) return &d;
  return nullptr;
}

LayerSpec default_layer_spec(std::string_view type) {
  const LayerDesc* d = find_layer_desc(type);
  MP_CHECK(d != nullptr, "default_layer_spec: unknown layer type " + std::string(type));
  LayerSpec s;
  s.type = d->type;
  for (const auto& p : common_layer_params()) s.params[p.name] = p.def;
  for (const auto& p : d->params) s.params[p.name] = p.def;
  return s;
}

}  // namespace mp
