#!/usr/bin/python3
"""prepare.py: build datasets/kjv/kjv.h5, a character-level corpus for mptrain, from a UTF-8 text.

The text is normally the King James Bible as Debian's `bible-kjv` package prints it
(`bible -f "Gen1:1-Rev22:21"`, run by prepare.sh, which also passes the package's version as
provenance); any UTF-8 text works (the tests use a tiny generated one).

Layout written (gzip level 9, chunked, byte-reproducible: no timestamps):
  /vocab         int32 [V]   the characters as Unicode code points, ascending; token id = index
  /train/tokens  uint8 [L1]  token ids of the first 95 % of the text (uint16 when V > 256,
                             int32 when V > 65536)
  /val/tokens    uint8 [L2]  token ids of the rest
  root attributes: source, package, package_version, command, license, sha256 (of the UTF-8
  text), text_bytes, text_chars, vocab_size, train_tokens, val_tokens, split, format,
  created_by. No download address is recorded: package name and version plus the sha256
  identify the source.

Split by position: the cut is the first line boundary at or after val_fraction from the end, so
no verse is split; train is the text before it, val the text after it (for the KJV: Genesis 1:1
.. Colossians 1:10, and Colossians 1:11 .. Revelation 22:21).

Needs numpy and h5py (Debian: python3-h5py); run with /usr/bin/python3.
"""
import argparse
import hashlib
import os
import sys

import h5py
import numpy as np


def fail(msg):
    sys.exit(f"prepare.py: {msg}")


def split_point(text, val_fraction):
    """Index where val starts: the first line start at or after len(text) * (1 - val_fraction)."""
    target = int(len(text) * (1.0 - val_fraction))
    nl = text.find("\n", max(target - 1, 0))
    cut = len(text) if nl < 0 else nl + 1
    if cut <= 0 or cut >= len(text):
        fail(f"the text ({len(text)} characters) is too short to split {1 - val_fraction:.0%} / "
             f"{val_fraction:.0%} at a line boundary; give a longer text")
    return cut


def token_dtype(vocab_size):
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True, help="the UTF-8 text file")
    ap.add_argument("--package", default="", help="Debian package the text comes from (e.g. bible-kjv)")
    ap.add_argument("--package-version", default="", help="its version (dpkg-query -W)")
    ap.add_argument("--command", default="", help="the command that printed the text")
    ap.add_argument("--license", default="", help="the text's licence")
    ap.add_argument("--out", default=os.path.join(here, "kjv.h5"), help="output file (default: %(default)s)")
    ap.add_argument("--val-fraction", type=float, default=0.05, help="val share (default: %(default)s)")
    args = ap.parse_args()
    if not 0.0 < args.val_fraction < 1.0:
        fail(f"--val-fraction: expected a number in (0, 1), got {args.val_fraction}")
    try:
        with open(args.text, "rb") as f:
            raw = f.read()
    except OSError as e:
        fail(f"--text {args.text}: cannot read it ({e.strerror})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"--text {args.text}: expected UTF-8 text, found an invalid byte at offset {e.start}")
    if not text:
        fail(f"--text {args.text}: the text is empty")
    vocab = np.array(sorted({ord(c) for c in text}), dtype=np.int32)
    index = {int(cp): i for i, cp in enumerate(vocab)}
    ids = np.fromiter((index[ord(c)] for c in text), dtype=np.int64, count=len(text))
    cut = split_point(text, args.val_fraction)
    dt = token_dtype(len(vocab))
    tmp = args.out + ".tmp"
    with h5py.File(tmp, "w", track_order=False) as f:
        f.create_dataset("vocab", data=vocab, dtype=np.int32, track_times=False)
        for name, part in (("train", ids[:cut]), ("val", ids[cut:])):
            f.create_dataset(f"{name}/tokens", data=part.astype(dt), chunks=(min(len(part), 1 << 16),),
                             compression="gzip", compression_opts=9, track_times=False)
        f.attrs["source"] = (f"Debian package {args.package} {args.package_version}" if args.package
                             else f"text file {os.path.basename(args.text)}")
        f.attrs["package"] = args.package
        f.attrs["package_version"] = args.package_version
        f.attrs["command"] = args.command
        f.attrs["license"] = args.license
        f.attrs["sha256"] = hashlib.sha256(raw).hexdigest()
        f.attrs["text_bytes"] = len(raw)
        f.attrs["text_chars"] = len(text)
        f.attrs["vocab_size"] = len(vocab)
        f.attrs["train_tokens"] = cut
        f.attrs["val_tokens"] = len(text) - cut
        f.attrs["split"] = (f"by position: train = the first {cut} characters, val = the last "
                            f"{len(text) - cut} (val_fraction {args.val_fraction}, cut at the next "
                            f"line boundary)")
        f.attrs["format"] = ("char-level: /vocab int32 Unicode code points (ascending), token id = "
                             "index into /vocab; /train/tokens and /val/tokens 1-D id streams")
        f.attrs["created_by"] = "datasets/kjv/prepare.py"
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: vocab {len(vocab)}, train {cut} tokens, val {len(text) - cut} tokens "
          f"({np.dtype(dt).name}), {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
