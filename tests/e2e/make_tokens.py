#!/usr/bin/env python3
"""make_tokens.py OUT.h5 [VOCAB T N_TRAIN N_VAL SEED]: a small pre-windowed token data set for the
sequence e2e tests, in the samples layout (/train/x, /train/y, /val/x, /val/y).

Text is a walk around one fixed random cycle over the vocabulary (token v is always followed by
next[v]), cut into windows of T + 1 tokens: x = window[:-1] (float32 ids), y = window[1:] (int32
next-token ids). The next token is a function of the current one, so even a model with no mixing
across positions (embedding -> positional_embedding -> layernorm -> lm_head) can drive the loss
far below the uniform log(VOCAB). The first label of every training window is -100 (ignore_index),
so the token counts exclude them."""
import sys

import h5py
import numpy as np


def main():
    out = sys.argv[1]
    vocab, T, n_train, n_val, seed = (int(a) for a in (sys.argv[2:] + ["16", "12", "512", "64", "3"][len(sys.argv) - 2:]))
    rng = np.random.default_rng(seed)
    order = rng.permutation(vocab)
    nxt = np.empty(vocab, dtype=np.int64)
    nxt[order] = np.roll(order, -1)  # order[i] -> order[i + 1]

    def windows(n):
        w = np.empty((n, T + 1), dtype=np.int64)
        w[:, 0] = rng.integers(0, vocab, n)
        for t in range(1, T + 1):
            w[:, t] = nxt[w[:, t - 1]]
        return w[:, :-1].astype(np.float32), w[:, 1:].astype(np.int32)

    with h5py.File(out, "w") as f:
        x, y = windows(n_train)
        y[:, 0] = -100
        f["/train/x"], f["/train/y"] = x, y
        x, y = windows(n_val)
        f["/val/x"], f["/val/y"] = x, y
        f.attrs["vocab"] = vocab


if __name__ == "__main__":
    main()
