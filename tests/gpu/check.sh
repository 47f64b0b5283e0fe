#!/usr/bin/env bash
# The first run of pic_tf on a GPU: run once on a fresh 1-GPU machine from a clone's root.
#
#   tests/gpu/check.sh                 # install .[gpu], paper CIFAR-10 config, 200 steps
#   tests/gpu/check.sh --cpu_dry_run   # the same stages on a CPU: tiny config, 20 steps
#
# Stages: install into a fresh venv; the devices and what training chose for them; 200
# steps in float32 and 200 in the GPU's default precision (step time, GPU utilisation,
# bits/dim); export a SavedModel and colourise with it (reload, sampling time). Each
# stage gets at most the time left of PIC_CHECK_SECONDS (default 540: 9 minutes in
# all); one summary table at the end. Logs and runs go to PIC_CHECK_DIR (default
# gpu_check/). CIFAR-10 is downloaded unless TFDS_DATA_DIR holds it.
set -uo pipefail
cd "$(dirname "$0")/../.."

CONFIG=cifar10 STEPS=200 EXTRAS=gpu
if [[ "${1:-}" == --cpu_dry_run ]]; then
  CONFIG=tiny STEPS=20 EXTRAS=test
elif [[ -n "${1:-}" ]]; then
  echo "usage: $0 [--cpu_dry_run]" >&2; exit 2
fi
BUDGET=${PIC_CHECK_SECONDS:-540}
DIR=${PIC_CHECK_DIR:-gpu_check}
START=$(date +%s)
mkdir -p "$DIR" && rm -rf "${DIR:?}"/runs "${DIR:?}"/serving "${DIR:?}"/colorized
SUMMARY=()

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# stage NAME COMMAND...: runs COMMAND within the time left, logs to $DIR/NAME.log.
stage() {
  local name=$1; shift
  local budget; budget=$(left)
  if (( budget < 5 )); then
    SUMMARY+=("$name|skipped: out of time|0|"); echo "== $name: skipped, out of time"; return 1
  fi
  echo "== $name (at most ${budget}s)"
  local t0; t0=$(date +%s.%N)
  timeout "$budget" "$@" > "$DIR/$name.log" 2>&1
  local rc=$?
  local secs; secs=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
  tail -n 12 "$DIR/$name.log" | sed 's/^/   /'
  local status=ok
  (( rc == 124 )) && status="timed out"
  (( rc != 0 && rc != 124 )) && status="failed (exit $rc)"
  LAST_SECS=$secs
  SUMMARY+=("$name|$status|$secs|")
  return $rc
}

# note TEXT: adds figures to the last stage's summary row.
note() { SUMMARY[-1]="${SUMMARY[-1]}$1"; }

PY=$DIR/venv/bin/python
stage install bash -c "python3 -m venv '$DIR/venv' && '$DIR/venv/bin/pip' install --quiet \
  --upgrade pip && '$DIR/venv/bin/pip' install --quiet -e '.[$EXTRAS]'"

# What bin/train will choose here; TensorFlow's own start-up log goes to devices.tf.log.
SHOW_PLAN="import os; os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
from pic_tf import configs
from pic_tf.training import plan
print('\\n'.join(plan.choose(configs.get_config('$CONFIG')).start_lines(1)))"
stage devices bash -c "{ command -v nvidia-smi > /dev/null && nvidia-smi -L; } ;
  '$PY' -c \"$SHOW_PLAN\" 2> '$DIR/devices.tf.log'"
note "$(grep -m1 '^devices:' "$DIR/devices.log" | cut -c1-90)"

# train NAME [FLAGS...]: $STEPS steps of $CONFIG, GPU utilisation sampled meanwhile.
train() {
  local name=$1; shift
  local util=$DIR/$name.gpu_util
  : > "$util"
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 > "$util" &
    local sampler=$!
  fi
  stage "$name" "$PY" bin/train --config="$CONFIG" --dataset=cifar10 \
    --workdir="$DIR/runs/$name" --num_steps="$STEPS" --set=train.log_every=$((STEPS / 4)) \
    --set=train.eval_every=0 --set=train.eval_examples=1000 --set=train.sample_every=0 \
    --set=train.checkpoint_every=$STEPS "$@"
  local rc=$?
  [[ -n "${sampler:-}" ]] && kill "$sampler" 2> /dev/null
  local log=$DIR/$name.log
  local precision; precision=$(grep -m1 '^  precision' "$log" | awk '{print $2}' | tr -d :)
  # The last progress line of the steps (step N/M ... img/s), not of the evaluation.
  local rate; rate=$(grep -E '^step [0-9]+/[0-9]+ .* img/s' "$log" | tail -1 |
    sed -E 's/.*  ([0-9.]+) img\/s.*/\1/')
  local batch; batch=$(grep -m1 'global batch' "$log" | sed -E 's/.*global batch ([0-9]+).*/\1/')
  local step_ms=n/a
  [[ -n "$rate" && -n "$batch" ]] &&
    step_ms=$(awk -v b="$batch" -v r="$rate" 'BEGIN {printf "%.1f", 1000 * b / r}')
  local gpu=n/a
  [[ -s "$util" ]] && gpu="$(awk '{s += $1} END {printf "%.0f", s / NR}' "$util")%"
  local bpd; bpd=$(grep 'test bpd' "$log" | grep -v '\[' | tail -1 | sed -E 's/.*test bpd ([0-9.]+) \(EMA\).*/\1/')
  note "precision ${precision:-?}, ${step_ms} ms/step, GPU ${gpu}, test bpd ${bpd:-?} (EMA)"
  return $rc
}

train float32 --precision=float32
train default && TRAINED=$DIR/runs/default

if [[ -n "${TRAINED:-}" ]]; then
  stage export "$PY" bin/export --checkpoint="$TRAINED" --export_dir="$DIR/serving"
  stage sample "$PY" bin/colorize --saved_model="$DIR/serving" --dataset=cifar10_bundled \
    --num_images=16 --num_samples=4 --output_dir="$DIR/colorized"
  note "16 images x 4 samples in ${LAST_SECS:-?}s with the reload; $(ls "$DIR/colorized" 2> /dev/null | wc -l) file(s)"
fi

echo
echo "pic_tf GPU check: config $CONFIG, $STEPS steps, $(( $(date +%s) - START ))s of ${BUDGET}s"
printf '%-9s %-18s %8s  %s\n' stage status seconds figures
for row in "${SUMMARY[@]}"; do
  IFS='|' read -r name status secs figures <<< "$row"
  printf '%-9s %-18s %8s  %s\n' "$name" "$status" "$secs" "$figures"
done
! printf '%s\n' "${SUMMARY[@]}" | grep -q '|failed\||timed out\||skipped'
