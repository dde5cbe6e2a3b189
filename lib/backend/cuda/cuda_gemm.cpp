// cuda_gemm.cpp: GemmEngine (cuda_gemm.h): the cuBLASLt plan cache (descriptor, layouts, heuristic
// algorithm per shape key), the row-major -> column-major operand swap, and the choice between the
// BIAS epilogue and the epilogue kernel. Operands arrive checked and resolved (gemm_desc.h).
// Correctness rules of the heuristic query:
//   - split-K partial sums are reduced in the compute type (fp32) only
//     (CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK = COMPUTE_TYPE): the INPLACE and OUTPUT_TYPE
//     schemes would round each partial to a 16-bit C before the sum, not once at the end;
//   - a BIAS-epilogue plan is queried with the real bias pointer set, and its alignment is part
//     of the plan key (the heuristic may pick vectorised bias loads for aligned pointers);
//   - the heuristic returns up to kAlgoCandidates algorithms, best first; a plan's first
//     execution tries them in order (CandidateChoice) and keeps the first that cuBLASLt does not
//     refuse with CUBLAS_STATUS_NOT_SUPPORTED; the GEMM fails only when all were refused.
#include "backend/cuda/cuda_gemm.h"

#include <cublasLt.h>

#include <string>
#include <unordered_map>

#include <vector>

#include "backend/candidate_choice.h"
#include "backend/cuda/cuda_check.h"

#define MP_CUBLAS_CHECK(call)                                                                     \
  do {                                                                                            \
    const cublasStatus_t mp_cublas_st_ = (call);                                                  \
    if (mp_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                   \
      ::mp::internal_fail(__FILE__, __LINE__,                                                     \
                          std::string(#call) + " failed: " + cublasGetStatusName(mp_cublas_st_) + \
                              ": " + cublasGetStatusString(mp_cublas_st_));                       \
  } while (0)

namespace mp::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLAS's recommendation for Hopper
constexpr size_t kMaxPlans = 1024;
constexpr int kAlgoCandidates = 8;  // heuristic results requested per plan

struct PlanKey {
  int64_t batch, M, N, K;
  bool ta, tb;
  DType ab;   // A and B
  DType d;       // the GEMM's output (C's dtype, or fp32 for the workspace)
  uint32_t epi;  // cublasLtEpilogue_t: DEFAULT, BIAS, GELU_AUX(_BIAS), DGELU, BGRADB
  bool tf32;
  uint32_t align_a, align_b, align_c;  // of our A, B, C (bytes, <= 256)
  uint32_t align_bias;                 // of the bias (or bias-gradient) pointer, else 0
  uint32_t align_aux;                  // of the GELU aux pointer (pre), else 0
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = hash_gemm_dims(k.batch, k.M, k.N, k.K);
    h = hash_mix(h, (uint64_t(k.epi) << 3) | (uint64_t(k.ta) << 2) | (uint64_t(k.tb) << 1) |
                        uint64_t(k.tf32));
    h = hash_mix(h, (uint64_t(k.ab) << 8) | uint64_t(k.d));
    h = hash_mix(h, (uint64_t(k.align_a) << 32) | (uint64_t(k.align_b) << 16) | k.align_c);
    h = hash_mix(h, (uint64_t(k.align_bias) << 16) | k.align_aux);
    return static_cast<size_t>(h);
  }
};

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  // cuBLASLt's operands: "A" = our B, "B" = our A, C = D = our C.
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> algos;  // the heuristic's, best first
  CandidateChoice choice;                              // which one runs (see matmul)
  bool ok() const { return !algos.empty(); }
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: break;
  }
  MP_CHECK(false, "gemm: not a float dtype: " + std::string(dtype_name(t)));
  return CUDA_R_32F;
}

// Largest power of two (<= 256) dividing the address of every matrix of a strided batch.
uint32_t alignment(const void* p, int64_t batch, int64_t stride_elems, size_t esize) {
  uint64_t a = reinterpret_cast<uintptr_t>(p);
  if (batch > 1) a |= static_cast<uint64_t>(stride_elems) * esize;
  uint32_t al = 256;
  while (al > 1 && (a % al) != 0) al >>= 1;
  return al;
}

// Column-major layout of a row-major stored matrix m (so: cols x rows, leading dim m.ld()), with
// a strided batch when batch > 0.
cublasLtMatrixLayout_t make_layout(DType dt, const GemmMatrix& m, int64_t batch) {
  cublasLtMatrixLayout_t l = nullptr;
  MP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, cuda_type(dt), static_cast<uint64_t>(m.cols),
                                             static_cast<uint64_t>(m.rows), m.ld()));
  if (batch > 0) {
    const int32_t count = static_cast<int32_t>(batch);
    const int64_t stride = m.batch_stride();
    MP_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                     sizeof(count)));
    MP_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                     &stride, sizeof(stride)));
  }
  return l;
}

// The key of a plain (no epilogue) GEMM of d writing C.
PlanKey make_key(const GemmDesc& d, const Tensor& A, const Tensor& B, const Tensor& C, bool tf32) {
  const DType ab = A.dtype();
  const size_t es = dtype_size(ab);
  return PlanKey{d.batch,
                 d.M,
                 d.N,
                 d.K,
                 d.trans_a,
                 d.trans_b,
                 ab,
                 C.dtype(),
                 CUBLASLT_EPILOGUE_DEFAULT,
                 tf32 && ab == DType::F32,
                 alignment(A.raw(), d.batch, d.a.batch_stride(), es),
                 alignment(B.raw(), d.batch, d.b.batch_stride(), es),
                 alignment(C.raw(), d.batch, d.c.batch_stride(), dtype_size(C.dtype())),
                 0,
                 0};
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Whether a GELU aux matrix (pre or its input, row-major [M, N] contiguous: cuBLASLt's N x M
// with leading dimension N) meets cuBLASLt's rule, "leading dimension divisible by 8", and is
// 16-byte aligned (the heuristic is told its alignment; 16 bytes is what vectorised aux loads and
// stores need and is all we ask for, as for the bias).
bool aux_fits(const Tensor& aux, int64_t N) { return N % 8 == 0 && aligned16(aux.raw()); }

bool epi_has_bias(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS ||
         e == CUBLASLT_EPILOGUE_BGRADB;
}
bool epi_has_aux(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_GELU_AUX || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS ||
         e == CUBLASLT_EPILOGUE_DGELU;
}

}  // namespace

// The pointers of an epilogue: the bias (BIAS, GELU_AUX_BIAS: read) or bias gradient (BGRADB:
// written), and the GELU aux matrix (GELU_AUX*: written; DGELU: read), with its leading
// dimension in elements (the output's cuBLASLt rows: our N).
struct EpiPtrs {
  const void* bias = nullptr;
  const void* aux = nullptr;
  int64_t aux_ld = 0;
};

struct GemmEngine::Impl {
  cudaStream_t stream;
  std::shared_ptr<CachingAllocator> alloc;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  DeviceScratch w32;    // fp32 GEMM result when the bias or rounding needs the epilogue kernel
  DeviceScratch bgrad;  // BGRADB's fresh fp32 bias gradient, before beta * db is added
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;

  Impl(cudaStream_t s, std::shared_ptr<CachingAllocator> a)
      : stream(s), alloc(std::move(a)), w32(alloc), bgrad(alloc) {
    MP_CUBLAS_CHECK(cublasLtCreate(&handle));
    workspace = alloc->alloc(kWorkspaceBytes);
  }
  ~Impl() {
    plans.clear();
    if (handle) cublasLtDestroy(handle);
    if (workspace) alloc->free(workspace, kWorkspaceBytes);
  }

  // The cached plan of key k, which `s` (the shapes k was made from) describes.
  // `e` holds the epilogue's pointers (k.epi), set before the heuristic query (their alignment
  // restricts the algorithms it may return).
  Plan& plan(const PlanKey& k, const GemmDesc& s, const EpiPtrs& e) {
    auto it = plans.find(k);
    if (it != plans.end()) return *it->second;
    if (plans.size() >= kMaxPlans) plans.clear();
    auto p = std::make_unique<Plan>();
    const cublasComputeType_t ct =
        k.tf32 && k.ab == DType::F32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    MP_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, ct, CUDA_R_32F));
    const cublasOperation_t op_a = k.tb ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
    const cublasOperation_t op_b = k.ta ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's B is our A
    MP_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
    MP_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
    if (k.epi != CUBLASLT_EPILOGUE_DEFAULT) {
      const auto epi = static_cast<cublasLtEpilogue_t>(k.epi);
      MP_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    }
    // The bias of BIAS / GELU_AUX_BIAS has the output's dtype (our rule: cuBLASLt also takes an
    // fp32 bias for some 16-bit outputs, not for all). BGRADB's gradient is left at cuBLASLt's
    // default, the output's type: fp32 here (the weight gradient's C).
    if (k.epi == CUBLASLT_EPILOGUE_BIAS || k.epi == CUBLASLT_EPILOGUE_GELU_AUX_BIAS) {
      const int32_t bias_type = static_cast<int32_t>(cuda_type(k.d));
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                     &bias_type, sizeof(bias_type)));
    }
    if (epi_has_bias(k.epi))
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &e.bias, sizeof(e.bias)));
    if (epi_has_aux(k.epi)) {  // aux (pre) in the output's dtype: cuBLASLt's default for GELU
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
                                                     &e.aux, sizeof(e.aux)));
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD,
                                                     &e.aux_ld, sizeof(e.aux_ld)));
    }
    // Stored (row-major) shapes: our B is [K, N] or, transposed, [N, K]; our A is [M, K] or [K, M].
    p->la = make_layout(k.ab, s.b, k.batch);
    p->lb = make_layout(k.ab, s.a, k.batch);
    p->lc = make_layout(k.d, s.c, k.batch);

    cublasLtMatmulPreference_t pref = nullptr;
    MP_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    const uint32_t al_a = k.align_b, al_b = k.align_a, al_c = k.align_c;  // swapped operands
    const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;  // NONE (0) always allowed
    cublasLtMatmulHeuristicResult_t res[kAlgoCandidates] = {};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                &reduction, sizeof(reduction));
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                &al_a, sizeof(al_a));
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                &al_b, sizeof(al_b));
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                &al_c, sizeof(al_c));
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                &al_c, sizeof(al_c));
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulAlgoGetHeuristic(handle, p->op, p->la, p->lb, p->lc, p->lc, pref,
                                          kAlgoCandidates, res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    // NOT_SUPPORTED (or no result) means "no algorithm for this combination", not a failure.
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED) MP_CUBLAS_CHECK(st);
    if (st == CUBLAS_STATUS_SUCCESS)
      for (int i = 0; i < found && i < kAlgoCandidates; ++i)
        if (res[i].state == CUBLAS_STATUS_SUCCESS && res[i].workspaceSize <= kWorkspaceBytes)
          p->algos.push_back(res[i]);
    p->choice = CandidateChoice(static_cast<int>(p->algos.size()));
    return *plans.emplace(k, std::move(p)).first->second;
  }

  // D = alpha * op(A) op(B) + beta * C (+ bias by the epilogue when the plan has one); C and D
  // are the same memory. Runs the plan's remembered algorithm, or on its first execution the
  // heuristic's candidates in order until one is not refused. Returns false when every candidate
  // was refused (nothing was launched); any other cuBLASLt error throws.
  bool matmul(Plan& p, float alpha, const void* a, const void* b, float beta, void* c,
              const EpiPtrs& e = {}) {
    if (e.bias)
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &e.bias, sizeof(e.bias)));
    if (e.aux)
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
                                                     &e.aux, sizeof(e.aux)));
    const int used = p.choice.run([&](int i) {
      const cublasLtMatmulHeuristicResult_t& r = p.algos[static_cast<size_t>(i)];
      const cublasStatus_t st = cublasLtMatmul(handle, p.op, &alpha, b, p.la, a, p.lb, &beta, c,
                                               p.lc, c, p.lc, &r.algo, workspace, r.workspaceSize,
                                               stream);
      if (st == CUBLAS_STATUS_NOT_SUPPORTED) return false;
      MP_CUBLAS_CHECK(st);
      return true;
    });
    if (used >= 0 && sync_check_now()) {
      const cudaError_t err = cudaDeviceSynchronize();
      if (err != cudaSuccess)
        cuda_fail(__FILE__, __LINE__,
                  "cublasLtMatmul (MPTRAIN_CUDA_SYNC_CHECK: synchronised after it)", err);
    }
    return used >= 0;
  }

  // D = op(A) op(B) + beta * C with the epilogue of k (alpha 1), or false when cuBLASLt has no
  // algorithm for it or refused every candidate (nothing was launched).
  bool run_epilogue(PlanKey k, const GemmDesc& d, const Tensor& A, const Tensor& B, float beta,
                    void* c, const EpiPtrs& e) {
    k.align_bias = e.bias ? alignment(e.bias, 0, 0, 1) : 0;
    k.align_aux = e.aux ? alignment(e.aux, 0, 0, 1) : 0;
    Plan& p = plan(k, d, e);
    return p.ok() && matmul(p, 1.0f, A.raw(), B.raw(), beta, c, e);
  }
};

GemmEngine::GemmEngine(cudaStream_t stream, std::shared_ptr<CachingAllocator> alloc)
    : impl_(std::make_unique<Impl>(stream, std::move(alloc))) {}
GemmEngine::~GemmEngine() = default;
size_t GemmEngine::cached_plans() const { return impl_->plans.size(); }

void GemmEngine::run(const GemmDesc& d, float alpha, const Tensor& A, const Tensor& B, float beta,
                     Tensor& C, const Tensor* bias, bool allow_tf32) {
  Impl& im = *impl_;
  const DType bias_dt = bias ? bias->dtype() : DType::F32;
  const void* bias_ptr = bias ? bias->raw() : nullptr;

  if (d.K == 0) {  // C = beta * C + bias: no product, one rounding
    launch_gemm_finish(im.stream, nullptr, bias_ptr, bias_dt, beta, C.raw(), C.dtype(), C.numel(),
                       d.N);
    return;
  }

  const PlanKey k = make_key(d, A, B, C, allow_tf32);
  // The plan of `key` run (no bias epilogue), or an error naming the GEMM when cuBLASLt has no
  // algorithm or refused every candidate.
  auto run_plain = [&](const PlanKey& key, float beta_, void* c) {
    Plan& p = im.plan(key, d, EpiPtrs{});
    if (p.ok() && im.matmul(p, alpha, A.raw(), B.raw(), beta_, c)) return;
    MP_CHECK(false, "gemm: cuBLASLt " +
                        std::string(p.ok() ? "refused all " + std::to_string(p.algos.size()) +
                                                 " algorithms of its heuristic"
                                           : "has no algorithm") +
                        " for batch=" + std::to_string(key.batch) + " M=" + std::to_string(key.M) +
                        " N=" + std::to_string(key.N) + " K=" + std::to_string(key.K) + " (" +
                        std::string(dtype_name(key.ab)) + " x " + std::string(dtype_name(key.ab)) +
                        " -> " + std::string(dtype_name(key.d)) + (key.tf32 ? ", tf32" : "") +
                        "): " + gemm_operands(d, A, B, C));
  };

  if (!bias) {
    run_plain(k, beta, C.raw());
    return;
  }
  // Bias through the epilogue: fp32 math, before the one rounding of the output.
  if (alpha == 1.0f && bias_dt == C.dtype() && !d.batched && aligned16(bias_ptr)) {
    PlanKey kb = k;
    kb.epi = CUBLASLT_EPILOGUE_BIAS;
    kb.align_bias = alignment(bias_ptr, 0, 0, 1);
    EpiPtrs e;
    e.bias = bias_ptr;
    Plan& p = im.plan(kb, d, e);
    if (p.ok() && im.matmul(p, alpha, A.raw(), B.raw(), beta, C.raw(), e)) return;
    // No epilogue algorithm, or all refused: the paths below add the bias themselves.
  }
  if (C.dtype() == DType::F32) {  // C = alpha*AB + beta*C, then C += bias, all fp32
    run_plain(k, beta, C.raw());
    launch_gemm_finish(im.stream, static_cast<const float*>(C.raw()), bias_ptr, bias_dt, 0.0f,
                       C.raw(), DType::F32, C.numel(), d.N);
    return;
  }
  // C fp16/bf16: fp32 product in the workspace, then one rounding of product + bias + beta*C.
  float* w = im.w32.get_as<float>(static_cast<size_t>(C.numel()));
  PlanKey kw = k;
  kw.d = DType::F32;
  kw.align_c = alignment(w, 0, 0, 4);
  run_plain(kw, 0.0f, w);
  launch_gemm_finish(im.stream, w, bias_ptr, bias_dt, beta, C.raw(), C.dtype(), C.numel(), d.N);
}

// ---- the Linear + GELU epilogues (cuda_gemm.h) ---------------------------------------------------

bool GemmEngine::run_gelu_aux(const GemmDesc& d, const Tensor& x, const Tensor& w,
                              const Tensor* bias, Tensor& pre, Tensor& y, bool allow_tf32) {
  if (d.K == 0 || d.batched || !aux_fits(pre, d.N)) return false;
  if (bias && (bias->dtype() != y.dtype() || !aligned16(bias->raw()))) return false;
  PlanKey k = make_key(d, x, w, y, allow_tf32);
  k.epi = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
  EpiPtrs e;
  e.bias = bias ? bias->raw() : nullptr;
  e.aux = pre.raw();
  e.aux_ld = d.N;
  return impl_->run_epilogue(k, d, x, w, 0.0f, y.raw(), e);
}

bool GemmEngine::run_dgelu(const GemmDesc& d, const Tensor& dy, const Tensor& w, const Tensor& pre,
                           Tensor& dpre, bool allow_tf32) {
  if (d.K == 0 || d.batched || !aux_fits(pre, d.N)) return false;
  PlanKey k = make_key(d, dy, w, dpre, allow_tf32);
  k.epi = CUBLASLT_EPILOGUE_DGELU;
  EpiPtrs e;
  e.aux = pre.raw();
  e.aux_ld = d.N;
  return impl_->run_epilogue(k, d, dy, w, 0.0f, dpre.raw(), e);
}

bool GemmEngine::run_bgradb(const GemmDesc& d, const Tensor& dy, const Tensor& x, float beta,
                            Tensor& dw, Tensor& db, bool allow_tf32) {
  if (d.K == 0 || d.batched || d.empty() || dw.dtype() != DType::F32) return false;
  Impl& im = *impl_;
  float* g = im.bgrad.get_as<float>(static_cast<size_t>(d.M));
  PlanKey k = make_key(d, dy, x, dw, allow_tf32);
  k.epi = CUBLASLT_EPILOGUE_BGRADB;
  EpiPtrs e;
  e.bias = g;
  if (!im.run_epilogue(k, d, dy, x, beta, dw.raw(), e)) return false;
  // db = beta * db + g: the finish kernel's (g + beta * db) in fp32, db not read when beta == 0.
  launch_gemm_finish(im.stream, g, nullptr, DType::F32, beta, db.raw(), DType::F32, d.M, d.M);
  return true;
}

}  // namespace mp::cuda
