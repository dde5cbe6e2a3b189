#!/usr/bin/env bash
# cli_errors.sh: table of end-to-end cases for the mptrain command line. Each case runs the real
# binary and asserts its exit code and a fragment of its message; every case also checks that no
# signal, abort or backtrace happened and that errors are "mptrain: error: ..." on stderr.
# Usage: cli_errors.sh MPTRAIN_BINARY SOURCE_DIR GROUP   (GROUP: files keys layers overrides usage ok)
set -u
BIN=$1
SRC=$2
GROUP=$3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
cases=0
failed=0

# A valid spec the key cases append to.
BASE='data: {file: d.h5}
model:
  layers: [relu]
'

spec() { printf '%s' "$BASE" > "$1.yaml"; cat >> "$1.yaml"; }   # spec NAME <<< "extra keys"
raw() { cat > "$1"; }                                           # raw FILE <<< "whole text"

# expect NAME EXIT_CODE FRAGMENT -- ARGS...
expect() {
  local name=$1 want=$2 frag=$3
  shift 4
  cases=$((cases + 1))
  "$BIN" "$@" > out.txt 2> err.txt
  local rc=$? problems=()
  [ "$rc" -eq "$want" ] || problems+=("exit code $rc, expected $want")
  [ "$rc" -lt 128 ] || problems+=("killed by a signal")
  if grep -qE 'terminate called|Segmentation|Aborted|core dumped|Sanitizer|^#[0-9]+ ' err.txt; then
    problems+=("crash or backtrace on stderr")
  fi
  local where=err.txt
  [ "$want" -eq 0 ] && where=out.txt
  grep -qF -- "$frag" "$where" || problems+=("message lacks: $frag")
  if [ "$want" -ne 0 ]; then
    head -n1 err.txt | grep -q '^mptrain: error: ' || problems+=("stderr does not start with 'mptrain: error: '")
    [ "$(wc -l < err.txt)" -le 2 ] || problems+=("more than one message on stderr")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name: ${problems[*]}"
    echo "  command: mptrain $*"
    sed 's/^/  stderr: /' err.txt | head -5
  fi
}

group_files() {
  expect missing_file 2 'nope.yaml: cannot read the spec: No such file or directory' -- --config nope.yaml
  mkdir -p adir
  expect directory 2 'adir: is a directory, expected a YAML file' -- --config adir
  : > empty.yaml
  expect empty_file 2 'empty.yaml: the spec is empty' -- --config empty.yaml
  printf '# just a comment\n' > comment.yaml
  expect comment_only 2 'comment.yaml: the spec is empty' -- --config comment.yaml
  printf 'name: x\n\x00\x01\x02\xff\xfe' > binary.yaml
  expect binary_garbage 2 'binary.yaml:2:1: found a NUL byte: this is a binary file' -- --config binary.yaml
  printf 'name: caf\xe9\n' > latin1.yaml
  expect invalid_utf8 2 'latin1.yaml:1:10: invalid UTF-8 (byte 0xE9)' -- --config latin1.yaml
  raw syntax.yaml <<< $'name: x\nmodel: {layers: [relu\n'
  expect yaml_syntax 2 'syntax.yaml:4:1: invalid YAML: end of sequence flow not found' -- --config syntax.yaml
  raw badmap.yaml <<< $'name: x\n  seed: 3\n'
  expect yaml_bad_indent 2 'badmap.yaml:2:7: invalid YAML: illegal map value' -- --config badmap.yaml
  raw list.yaml <<< $'- relu\n- linear\n'
  expect top_level_list 2 'list.yaml:1:1: expected a map of keys (name:, data:, model:, ...) at the top level, got a list' -- --config list.yaml
  spec twodocs <<< $'---\nname: other\n'
  expect two_documents 2 "twodocs.yaml:4:1: a second YAML document ('---')" -- --config twodocs.yaml
  spec alias <<< 'loop: &a [*a]'
  expect recursive_alias 2 'nested more than 64 levels deep (a recursive alias?)' -- --config alias.yaml
}

group_keys() {
  spec unknown_key <<< $'optimizer:\n  lrr: 0.1'
  expect unknown_key 2 'unknown_key.yaml:5:3: optimizer.lrr: unknown key (did you mean "lr"?)' -- --config unknown_key.yaml
  spec unknown_section <<< 'optimiser: {lr: 0.1}'
  expect unknown_section 2 'unknown_section.yaml:4:1: optimiser: unknown key (did you mean "optimizer"?)' -- --config unknown_section.yaml
  spec string_for_number <<< $'optimizer:\n  lr: fast'
  expect string_for_number 2 'string_for_number.yaml:5:7: optimizer.lr: expected a positive number, got "fast"' -- --config string_for_number.yaml
  spec map_for_scalar <<< 'train: {epochs: {n: 3}}'
  expect map_for_scalar 2 'train.epochs: expected an integer >= 1, got a map' -- --config map_for_scalar.yaml
  spec list_for_scalar <<< 'precision: {policy: [fp16]}'
  expect list_for_scalar 2 'precision.policy: expected one of fp32|fp16|bf16|auto, got a list' -- --config list_for_scalar.yaml
  # Keys that were accepted and ignored are gone or narrowed (issue 8 part 6).
  spec removed_deterministic <<< 'train: {deterministic: false}'
  expect removed_deterministic 2 'removed_deterministic.yaml:4:9: train.deterministic: unknown key' -- --config removed_deterministic.yaml
  spec removed_grad_accum <<< 'precision: {grad_accum_dtype: bf16}'
  expect removed_grad_accum 2 'removed_grad_accum.yaml:4:13: precision.grad_accum_dtype: unknown key' -- --config removed_grad_accum.yaml
  spec allreduce_fp8 <<< 'precision: {allreduce_dtype: fp8}'
  expect allreduce_fp8 2 'precision.allreduce_dtype: expected one of fp32|bf16, got "fp8"' -- --config allreduce_fp8.yaml
  spec scalar_for_section <<< 'optimizer: adamw'
  expect scalar_for_section 2 'optimizer: expected a map of keys (type, lr,' -- --config scalar_for_section.yaml
  spec negative_lr <<< 'optimizer: {lr: -0.1}'
  expect out_of_range 2 'optimizer.lr: expected a positive number, got "-0.1"' -- --config negative_lr.yaml
  spec policy <<< 'precision: {policy: fp8}'
  expect unknown_choice 2 'precision.policy: expected one of fp32|fp16|bf16|auto, got "fp8"' -- --config policy.yaml
  spec mode <<< 'precision: {loss_scale: {mode: dynamc}}'
  expect loss_scale_mode 2 'precision.loss_scale.mode: expected one of auto|dynamic|static|none, got "dynamc" (did you mean "dynamic"?)' -- --config mode.yaml
  raw nofile.yaml <<< $'model: {layers: [relu]}'
  expect missing_data_file 2 'nofile.yaml: data.file: missing required key' -- --config nofile.yaml
  raw nolayers.yaml <<< $'data: {file: d.h5}'
  expect missing_layers 2 'nolayers.yaml: model.layers: missing required key' -- --config nolayers.yaml
  spec dup <<< $'optimizer:\n  lr: 0.1\n  lr: 0.2'
  expect duplicate_key 2 'dup.yaml:6:3: optimizer.lr: duplicate key (first given on line 5)' -- --config dup.yaml
  spec accum <<< 'train: {accum_steps: 2.5}'
  expect int_as_float 2 'train.accum_steps: expected an integer >= 1, got "2.5" (not a whole number)' -- --config accum.yaml
  spec huge <<< 'optimizer: {lr: 1e999}'
  expect huge_float 2 'got "1e999" (out of the range of a 64-bit float)' -- --config huge.yaml
  spec bigint <<< 'train: {steps: 123456789012345678901234}'
  expect huge_integer 2 'got "123456789012345678901234" (beyond the 64-bit integer range)' -- --config bigint.yaml
  spec nan <<< 'optimizer: {lr: .nan}'
  expect nan 2 'optimizer.lr: expected a positive number, got ".nan" (must be a finite number)' -- --config nan.yaml
  raw inf.yaml <<< $'model: {layers: [relu]}\ndata: {file: d.h5, input_scale: .inf}'
  expect inf 2 'data.input_scale: expected a number, got ".inf" (must be a finite number)' -- --config inf.yaml
  raw quoted.yaml <<< $'model: {layers: [relu]}\ndata: {file: d.h5, batch_size: "64"}'
  expect quoted_number 2 'data.batch_size: expected an integer >= 1, got "64" (a quoted string; write it without quotes)' -- --config quoted.yaml
  raw yes.yaml <<< $'model: {layers: [relu]}\ndata: {file: d.h5, shuffle: yes}'
  expect yes_for_bool 2 'data.shuffle: expected true or false, got "yes"' -- --config yes.yaml
  spec name <<< 'name: my run'
  expect bad_name 2 $'name: expected a name of letters, digits, \'_\', \'.\' and \'-\', got "my run"' -- --config name.yaml
  spec nesterov <<< 'optimizer: {type: sgd, nesterov: true}'
  expect nesterov_without_momentum 2 'optimizer.nesterov: expected false when optimizer.momentum is 0' -- --config nesterov.yaml
  spec growth <<< 'precision: {loss_scale: {growth_factor: 0.5}}'
  expect growth_factor 2 'precision.loss_scale.growth_factor: expected a number > 1, got "0.5"' -- --config growth.yaml
  spec backoff <<< 'precision: {loss_scale: {backoff_factor: 1}}'
  expect backoff_factor 2 'precision.loss_scale.backoff_factor: expected a number in (0, 1), got "1"' -- --config backoff.yaml
  spec placeholder <<< 'output: {dir: "runs/{nmae}"}'
  expect bad_placeholder 2 'output.dir: unknown placeholder {nmae} (did you mean "name"?)' -- --config placeholder.yaml
}

group_layers() {
  raw ltype.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - flatten\n    - linaer: {out: 3}'
  expect unknown_layer 2 'ltype.yaml:5:7: model.layers.1: unknown layer type "linaer" (did you mean "linear"?)' -- --config ltype.yaml
  raw lparam.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - linear: {out: 3, bais: false}'
  expect unknown_layer_param 2 'lparam.yaml:4:24: model.layers.0.linear.bais: unknown parameter of linear (did you mean "bias"?)' -- --config lparam.yaml
  raw lreq.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - linear'
  expect missing_out 2 'model.layers.0.linear: missing required parameter "out"' -- --config lreq.yaml
  raw lrange.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - dropout: {p: 1.5}'
  expect layer_param_range 2 'model.layers.0.dropout.p: expected a number in [0, 1), got "1.5"' -- --config lrange.yaml
  raw lkind.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - linear: {out: wide}'
  expect layer_param_type 2 'model.layers.0.linear.out: expected an integer >= 1, got "wide"' -- --config lkind.yaml
  raw lchoice.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - gelu: {approximate: exact}'
  expect layer_param_choice 2 'model.layers.0.gelu.approximate: expected one of tanh|none, got "exact"' -- --config lchoice.yaml
  raw lcont.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - residual: relu'
  expect container_not_list 2 'model.layers.0.residual: expected a list of layers, got "relu"' -- --config lcont.yaml
  raw lindent.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - linear:\n      out: 5'
  expect layer_bad_indent 2 'model.layers.0: expected one layer per item, got a map with 2 keys (linear, out)' -- --config lindent.yaml
  raw lempty.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers: []'
  expect empty_layers 2 'model.layers: expected a non-empty list of layers, got []' -- --config lempty.yaml
  raw lnested.yaml <<< $'data: {file: d.h5}\nmodel:\n  layers:\n    - residual:\n        - linear: {out: 0}'
  expect nested_layer_error 2 'lnested.yaml:5:25: model.layers.0.residual.0.linear.out: expected an integer >= 1, got "0"' -- --config lnested.yaml
}

group_overrides() {
  spec ok <<< ''
  expect set_unknown_key 2 '--set optimizer.lrr: unknown key (did you mean "optimizer.lr"?)' -- --config ok.yaml --set optimizer.lrr=0.1
  expect set_bad_value 2 '--set optimizer.lr: expected a positive number, got "fast"' -- --config ok.yaml --set optimizer.lr=fast
  expect set_unparsable 2 '--set optimizer.lr: cannot parse the value "[0.1" as YAML' -- --config ok.yaml --set 'optimizer.lr=[0.1'
  expect set_no_equals 2 '--set optimizer.lr: expected KEY=VALUE' -- --config ok.yaml --set optimizer.lr
  expect set_float_for_int 2 '--set train.accum_steps: expected an integer >= 1, got "2.5"' -- --config ok.yaml --set train.accum_steps=2.5
  expect set_layer_index 2 '--set model.layers.3.linear.out: model.layers has 1 item' -- --config ok.yaml --set model.layers.3.linear.out=5
  expect set_inside_leaf 2 '--set optimizer.lr.x: optimizer.lr is a number, it has no keys inside' -- --config ok.yaml --set optimizer.lr.x=1
  expect set_section_map 2 '--set precision.loss_scale: precision.loss_scale.mode: expected one of auto|dynamic|static|none' -- --config ok.yaml --set 'precision.loss_scale={mode: fast}'
  expect set_layer_type 2 '--set model.layers.0: unknown layer type "gleu" (did you mean "gelu"?)' -- --config ok.yaml --set model.layers.0=gleu
  expect out_bad_placeholder 2 '--out runs/{nmae}: unknown placeholder {nmae}' -- --config ok.yaml --out 'runs/{nmae}' --print-config
}

group_usage() {
  spec ok <<< ''
  expect no_config 2 '--config is required' --
  expect unknown_flag 2 'run mptrain --help' -- --config ok.yaml --learning-rate 3
  expect unknown_flag_named 2 '--learning-rate' -- --config ok.yaml --learning-rate 3
  expect bad_device 2 'gpu not in {auto,cpu,cuda}' -- --config ok.yaml --device gpu
  expect bad_threads 2 '--threads: Value -3 not in range 0 to 4096' -- --config ok.yaml --threads -3
  expect threads_with_subcommand 2 'is an option of training' -- --threads 2 inspect ok.yaml
  expect set_without_value 2 '--set' -- --config ok.yaml --set
  expect quiet_and_verbose 2 'excludes' -- --config ok.yaml -q -v
  expect sweep_without_config 2 '--config is required' -- sweep --grid precision.policy=fp32,bf16
  expect eval_without_checkpoint 2 '--checkpoint is required' -- eval --config ok.yaml
  expect inspect_without_file 2 'file is required' -- inspect
  expect option_before_subcommand 2 '--config is an option of training, not of this subcommand' -- --config ok.yaml sweep --config ok.yaml
  expect config_is_directory 2 '.: is a directory' -- --config . --print-config
}

group_ok() {
  expect help 0 'Examples:' -- --help
  expect help_documents_set 0 '--set KEY=VALUE' -- --help
  # --version prints project()'s version from CMakeLists.txt (checkpoints record the same).
  proj_version=$(sed -n 's/^project(mptrain VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
  [ -n "$proj_version" ] || proj_version="(no version found in CMakeLists.txt)"
  expect version 0 "mptrain $proj_version" -- --version
  expect sweep_help 0 'Example:' -- sweep --help
  expect print_config 0 'name: mnist_mlp' -- --config "$SRC/configs/mnist_mlp.yaml" --print-config
  expect print_config_overrides 0 '    mode: dynamic' -- --config "$SRC/configs/mnist_mlp.yaml" --set precision.policy=fp16 --print-config
  expect print_config_device_out 0 'device: cpu' -- --config "$SRC/configs/mnist_mlp.yaml" --device cpu --out 'runs/{name}_{precision.policy}' --print-config
  grep -qF 'dir: "runs/{name}_{precision.policy}"' out.txt || { echo "FAIL --out not in the dump"; failed=$((failed + 1)); }
  # The printed spec reproduces itself.
  cases=$((cases + 1))
  "$BIN" --config "$SRC/configs/mnist_mlp.yaml" --set train.accum_steps=4 --print-config > a.yaml &&
    "$BIN" --config a.yaml --print-config > b.yaml && cmp -s a.yaml b.yaml &&
    echo "ok   print_config_round_trip" ||
    { echo "FAIL print_config_round_trip"; failed=$((failed + 1)); }
}

case "$GROUP" in
  files | keys | layers | overrides | usage | ok) "group_$GROUP" ;;
  *) echo "unknown group $GROUP" >&2; exit 2 ;;
esac
echo "$GROUP: $((cases - failed))/$cases passed"
[ "$failed" -eq 0 ]
