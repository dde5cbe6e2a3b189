#!/usr/bin/env bash
# fuzz_spec.sh: build the run-spec loader's libFuzzer target with clang (ASan + UBSan) straight
# from the config sources, and run it for SECONDS (default 60) on a working corpus seeded from
# configs/*.yaml and tests/fuzz/corpus/, with a dictionary made of every spec key and layer name.
# Findings (crash-*, timeout-*, oom-*) are written to $FUZZ_DIR/findings/; the script exits
# non-zero when libFuzzer finds one. Copy a finding into tests/fuzz/corpus/ once it is fixed: the
# fuzz_spec_replay ctest replays that folder.
# Usage: scripts/fuzz_spec.sh [SECONDS] [extra libFuzzer flags...]   (FUZZ_DIR default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_SECONDS=${1:-60}
shift || true
OUT=${FUZZ_DIR:-build-fuzz}
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz_spec.sh: $CXX not found (install clang)" >&2; exit 2; }
mkdir -p "$OUT/corpus" "$OUT/findings" "$OUT/obj"

# Build: one object per source (rebuilt when the source or a header is newer), then link.
srcs=(lib/config/*.cpp lib/nn/layer_catalog.cpp lib/core/error.cpp tests/fuzz/fuzz_spec_loader.cpp)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
       -Ilib -Wall -Wextra)
newest_header=$(ls -t lib/config/*.h lib/nn/layer_spec.h lib/core/error.h lib/config/run_spec.h | head -n1)
objs=()
for src in "${srcs[@]}"; do
  obj="$OUT/obj/$(echo "$src" | tr '/' '_').o"
  objs+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
    echo "fuzz_spec.sh: compiling $src"
    "$CXX" "${flags[@]}" -c "$src" -o "$obj"
  fi
done
"$CXX" -fsanitize=fuzzer,address,undefined "${objs[@]}" -lyaml-cpp -o "$OUT/fuzz_spec_loader"

# Seeds and dictionary.
cp configs/*.yaml tests/fuzz/corpus/* "$OUT/corpus/" 2>/dev/null || true
tokens=(':' '- ' '[' ']' '{' '}' ', ' '\"' "'" '&a ' '*a' '---' '#set ' '\x0A' '  ' 'true' 'false'
        '~' '.nan' '.inf' '1e999' '-1' '0' '2.5' '9223372036854775808' '!!str ' '? ')
{
  for tok in "${tokens[@]}"; do printf '"%s"\n' "$tok"; done
  grep -o '^| `[a-z0-9_.]*` |' configs/REFERENCE.md | tr -d '|` ' | tr '.' '\n' | sort -u |
    sed 's/.*/"&"/'
  grep -o '^### `[a-z_]*`' configs/REFERENCE.md | tr -d '#` ' | sed 's/.*/"&"/'
} > "$OUT/spec.dict"

echo "fuzz_spec.sh: fuzzing for ${RUN_SECONDS}s (findings go to $OUT/findings/)"
"$OUT/fuzz_spec_loader" -max_total_time="$RUN_SECONDS" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -dict="$OUT/spec.dict" \
  -artifact_prefix="$OUT/findings/" "$@" "$OUT/corpus"
