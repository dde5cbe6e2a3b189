#!/usr/bin/python3
"""gpu_peaks.py: the dense peak FLOP rate of the GPUs scripts/gpu_check.sh may meet, for its MFU
(model FLOP/s over the device's peak). Plain Python 3, no packages: the device may lack numpy.

Figures are the vendors' dense (no structured sparsity) tensor-core and plain-FP32 rates in
TFLOP/s, from the datasheets named per row (where a datasheet quotes a sparse figure, half of it).
A device not in the table gets no peak, and callers print "peak unknown" rather than guess:
H100 PCIe / NVL and H200 NVL have lower clocks and power than their SXM parts, so they are left
out on purpose instead of matched by "H100"/"H200".

  gpu_peaks.py "NVIDIA H200" bf16            -> 989.4
  gpu_peaks.py "NVIDIA H200" fp32 --tf32     -> 494.7   (fp32 policy with precision.allow_tf32)
  gpu_peaks.py "Tesla T4" fp16               -> unknown (exit 1)
"""
import re
import sys

# name pattern (searched, case-insensitive), rows excluded by a second pattern, and the rates.
# (pattern, exclude, label, {bf16/fp16 tensor, tf32 tensor, fp32 non-tensor})
PEAKS = [
    # NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column: BF16/FP16 1,979 and TF32 989
    # TFLOP/s with sparsity (989.4 / 494.7 dense), FP32 67 TFLOP/s (66.9).
    (r"\bH200\b", r"NVL", "H200 SXM", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    # NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: the same rates as the H200 SXM.
    # nvidia-smi names it "NVIDIA H100 80GB HBM3" (SXM5) or "NVIDIA H100 SXM...".
    (r"\bH100\b", r"PCIe|NVL", "H100 SXM", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    # NVIDIA A100 Tensor Core GPU datasheet: BF16/FP16 312, TF32 156, FP32 19.5 TFLOP/s dense,
    # the same for the SXM4 and PCIe parts (40 and 80 GB).
    (r"\bA100\b", None, "A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
]


def peak_tflops(device_name, policy, tf32=False):
    """(label, TFLOP/s) of the GEMM unit a run of `policy` uses on `device_name`, or None.

    bf16 and fp16 policies run their GEMMs on the half-precision tensor cores (same peak);
    fp32 runs on the plain FP32 units unless precision.allow_tf32 lets cuBLAS use TF32."""
    key = {"bf16": "bf16", "fp16": "bf16", "fp32": "tf32" if tf32 else "fp32"}.get(policy)
    if key is None:
        return None
    for pattern, exclude, label, rates in PEAKS:
        if re.search(pattern, device_name, re.I) and not (exclude and re.search(exclude, device_name, re.I)):
            return label, rates[key]
    return None


def main(argv):
    args = [a for a in argv if a != "--tf32"]
    if len(args) != 2:
        sys.stderr.write("usage: gpu_peaks.py DEVICE_NAME {fp32,bf16,fp16} [--tf32]\n")
        return 2
    found = peak_tflops(args[0], args[1], "--tf32" in argv)
    if found is None:
        print("unknown")
        return 1
    print(f"{found[1]:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
