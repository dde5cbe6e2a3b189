#!/usr/bin/python3
"""bench_torch_gpt.py: the PyTorch reference for the char-GPT training step (scripts/bench_gpt.sh runs
it next to mptrain's bench_train_spec on configs/charlm_gpt.yaml).

The same model as the config (the defaults below are configs/charlm_gpt.yaml's; bench_gpt.sh passes
them explicitly): token embedding + learned positional embedding, `layers` pre-norm blocks
(x + attn(ln1(x)), x + mlp(ln2(x)); attention with a biased QKV and output projection, causal mask,
softmax; MLP dim -> 4 dim -> dim with tanh-GELU), a final layernorm and an lm_head tied to the
embedding, no dropout; cross-entropy over every token; AdamW with gradient clipping at norm 1;
synthetic token ids held in memory. fp32, and bf16 as torch.autocast("cpu", dtype=torch.bfloat16)
(fp32 parameters, bf16 GEMMs: PyTorch's usual CPU mixed precision); no fp16 (no CPU autocast for it
in this PyTorch). PyTorch 1.13 (Debian's python3-torch) has no scaled_dot_product_attention, so
attention is the standard batched-matmul formulation (what nanoGPT does without flash attention).

Prints a table (fwd, fwd+bwd, step ms, steps/s, tokens/s); --csv FILE writes
dtype,step_s,step_p10_s,fwd_s,fwdbwd_s,load_start,load_end. Benchmark only, never a test.
"""
import argparse
import math
import sys

from torch_bench_timing import Timed, measure


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--round-s", type=float, default=1.0)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=76)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--csv", default="")
    a = ap.parse_args()

    import torch  # after argparse so --help works without torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T, V, C, H = a.batch, a.context, a.vocab, a.dim, a.heads

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(C, 3 * C)
            self.proj = nn.Linear(C, C)
            self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril().logical_not())

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(x).split(C, dim=2)
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
            p = F.softmax(s.masked_fill(self.mask[:t, :t], float("-inf")).float(), dim=-1)
            o = (p.to(v.dtype) @ v).transpose(1, 2).reshape(b, t, C)
            return self.proj(o)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn, self.ln2 = nn.LayerNorm(C), Attention(), nn.LayerNorm(C)
            self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(approximate="tanh"),
                                     nn.Linear(4 * C, C))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(V, C), nn.Parameter(torch.zeros(T, C))
            self.blocks = nn.Sequential(*[Block() for _ in range(a.layers)])
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx):
            x = self.blocks(self.tok(idx) + self.pos[: idx.shape[1]])
            return self.ln_f(x) @ self.tok.weight.t()  # lm_head tied to the embedding

    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))

    class Run:
        pass

    runs = []
    for dt in a.dtypes.split(","):
        if dt not in ("fp32", "bf16"):
            print(f"bench_torch_gpt: skipping {dt} (no CPU autocast for it here)", file=sys.stderr)
            continue
        r = Run()
        r.dt = dt
        r.model = GPT()
        r.params = sum(p.numel() for p in r.model.parameters())
        r.opt = torch.optim.AdamW(r.model.parameters(), lr=a.lr, weight_decay=a.weight_decay)

        def ctx(dt=dt):
            return torch.autocast("cpu", dtype=torch.bfloat16, enabled=(dt == "bf16"))

        def loss_of(r=r, ctx=ctx):
            with ctx():
                logits = r.model(x)
            return F.cross_entropy(logits.float().view(-1, V), y.view(-1))

        def fwd(r=r, ctx=ctx):
            with torch.no_grad(), ctx():
                r.model(x)

        def fwdbwd(r=r):
            r.opt.zero_grad(set_to_none=True)
            loss_of().backward()

        def step(r=r):
            r.opt.zero_grad(set_to_none=True)
            loss_of().backward()
            torch.nn.utils.clip_grad_norm_(r.model.parameters(), 1.0)
            r.opt.step()

        r.timed = {"step": Timed(step, 5), "fwd": Timed(fwd, 3), "fwdbwd": Timed(fwdbwd, 3)}
        runs.append(r)

    load0, load1 = measure(runs, a.rounds, a.round_s)
    print(f"bench_torch_gpt: PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"MKLDNN {torch.backends.mkldnn.is_available()}; GPT {a.layers}x{C} heads {H}, context {T}, "
          f"vocab {V}, batch {B} ({runs[0].params if runs else 0} parameters); load average (1 min) "
          f"{load0:.2f} at start, {load1:.2f} at end; {a.rounds} passes; medians of all timed calls")
    print(f"{'dtype':6} {'fwd ms':>8} {'fwd+bwd':>9} {'step ms':>8} {'steps/s':>8} {'tokens/s':>9}")
    for r in runs:
        s = r.timed["step"].median()
        print(f"{r.dt:6} {r.timed['fwd'].median() * 1e3:8.2f} {r.timed['fwdbwd'].median() * 1e3:9.2f} "
              f"{s * 1e3:8.2f} {1 / s:8.2f} {B * T / s:9.0f}")
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("dtype,step_s,step_p10_s,fwd_s,fwdbwd_s,load_start,load_end\n")
            for r in runs:
                t = r.timed
                f.write(f"{r.dt},{t['step'].median():.9g},{t['step'].p10():.9g},{t['fwd'].median():.9g},"
                        f"{t['fwdbwd'].median():.9g},{load0:.2f},{load1:.2f}\n")


if __name__ == "__main__":
    main()
