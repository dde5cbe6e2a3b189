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
  DType d;    // the GEMM's output (C's dtype, or fp32 for the workspace)
  bool bias;  // BIAS epilogue (bias has dtype d)
  bool tf32;
  uint32_t align_a, align_b, align_c;  // of our A, B, C (bytes, <= 256)
  uint32_t align_bias;                 // of the bias pointer when bias, else 0
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = hash_gemm_dims(k.batch, k.M, k.N, k.K);
    h = hash_mix(h, (uint64_t(k.ta) << 3) | (uint64_t(k.tb) << 2) | (uint64_t(k.bias) << 1) |
                        uint64_t(k.tf32));
    h = hash_mix(h, (uint64_t(k.ab) << 8) | uint64_t(k.d));
    h = hash_mix(h, (uint64_t(k.align_a) << 32) | (uint64_t(k.align_b) << 16) | k.align_c);
    h = hash_mix(h, k.align_bias);
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

}  // namespace

struct GemmEngine::Impl {
  cudaStream_t stream;
  std::shared_ptr<CachingAllocator> alloc;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  DeviceScratch w32;  // fp32 GEMM result when the bias or rounding needs the epilogue kernel
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;

  Impl(cudaStream_t s, std::shared_ptr<CachingAllocator> a)
      : stream(s), alloc(std::move(a)), w32(alloc) {
    MP_CUBLAS_CHECK(cublasLtCreate(&handle));
    workspace = alloc->alloc(kWorkspaceBytes);
  }
  ~Impl() {
    plans.clear();
    if (handle) cublasLtDestroy(handle);
    if (workspace) alloc->free(workspace, kWorkspaceBytes);
  }

  // The cached plan of key k, which `s` (the shapes k was made from) describes.
  // `bias` is the bias pointer of a BIAS-epilogue key (k.bias), set before the heuristic query.
  Plan& plan(const PlanKey& k, const GemmDesc& s, const void* bias) {
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
    if (k.bias) {
      const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      const int32_t bias_type = static_cast<int32_t>(cuda_type(k.d));
      MP_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                     &bias_type, sizeof(bias_type)));
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &bias, sizeof(bias)));
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
              const void* bias) {
    if (bias)
      MP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                     sizeof(bias)));
    const int used = p.choice.run([&](int i) {
      const cublasLtMatmulHeuristicResult_t& r = p.algos[static_cast<size_t>(i)];
      const cublasStatus_t st = cublasLtMatmul(handle, p.op, &alpha, b, p.la, a, p.lb, &beta, c,
                                               p.lc, c, p.lc, &r.algo, workspace, r.workspaceSize,
                                               stream);
      if (st == CUBLAS_STATUS_NOT_SUPPORTED) return false;
      MP_CUBLAS_CHECK(st);
      return true;
    });
    if (used >= 0 && sync_check_enabled()) {
      const cudaError_t err = cudaDeviceSynchronize();
      if (err != cudaSuccess)
        cuda_fail(__FILE__, __LINE__,
                  "cublasLtMatmul (MPTRAIN_CUDA_SYNC_CHECK: synchronised after it)", err);
    }
    return used >= 0;
  }
};

GemmEngine::GemmEngine(cudaStream_t stream, std::shared_ptr<CachingAllocator> alloc)
    : impl_(std::make_unique<Impl>(stream, std::move(alloc))) {}
GemmEngine::~GemmEngine() = default;
size_t GemmEngine::cached_plans() const { return impl_->plans.size(); }

void GemmEngine::run(const GemmDesc& d, float alpha, const Tensor& A, const Tensor& B, float beta,
                     Tensor& C, const Tensor* bias, bool allow_tf32) {
  Impl& im = *impl_;
  const DType ab = A.dtype();
  const DType bias_dt = bias ? bias->dtype() : DType::F32;
  const void* bias_ptr = bias ? bias->raw() : nullptr;

  if (d.K == 0) {  // C = beta * C + bias: no product, one rounding
    launch_gemm_finish(im.stream, nullptr, bias_ptr, bias_dt, beta, C.raw(), C.dtype(), C.numel(),
                       d.N);
    return;
  }

  const size_t es = dtype_size(ab);
  PlanKey k{d.batch,
            d.M,
            d.N,
            d.K,
            d.trans_a,
            d.trans_b,
            ab,
            C.dtype(),
            false,
            allow_tf32 && ab == DType::F32,
            alignment(A.raw(), d.batch, d.a.batch_stride(), es),
            alignment(B.raw(), d.batch, d.b.batch_stride(), es),
            alignment(C.raw(), d.batch, d.c.batch_stride(), dtype_size(C.dtype())),
            0};
  // The plan of `key` run (no bias epilogue), or an error naming the GEMM when cuBLASLt has no
  // algorithm or refused every candidate.
  auto run_plain = [&](const PlanKey& key, float beta_, void* c) {
    Plan& p = im.plan(key, d, nullptr);
    if (p.ok() && im.matmul(p, alpha, A.raw(), B.raw(), beta_, c, nullptr)) return;
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
  if (alpha == 1.0f && bias_dt == C.dtype() && !d.batched &&
      (reinterpret_cast<uintptr_t>(bias_ptr) % 16) == 0) {
    PlanKey kb = k;
    kb.bias = true;
    kb.align_bias = alignment(bias_ptr, 0, 0, 1);
    Plan& p = im.plan(kb, d, bias_ptr);
    if (p.ok() && im.matmul(p, alpha, A.raw(), B.raw(), beta, C.raw(), bias_ptr)) return;
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

}  // namespace mp::cuda
