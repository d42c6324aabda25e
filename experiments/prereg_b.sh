#!/usr/bin/env bash
# Part B of docs/preregistration.md: halfcheetah's spectral_window_epoch cell, AIL against
# NAIL at weight 0.1 against an AIL slowed to NAIL's pace. Every stage is resumable: a
# finished run is kept, an interrupted one resumes from its last checkpoint.
#
#   experiments/prereg_b.sh calibrate   # seeds 500-501: nail_w0.1 and ail at 3 policy rates,
#                                       # then `prereg.py --calibrate` picks ail_slow's rate
#   experiments/prereg_b.sh cpu         # seeds 300-309, two vmapped runs of 5 per arm, in turn
#   experiments/prereg_b.sh gpu         # seeds 400-415, 16 per arm, the three arms at once
#
# Runs go to $RUNS (default runs/prereg_b), their copies (config.json, metrics.jsonl,
# summary.json) to $RESULTS (default experiments/results/prereg_b): calibration/<name>/,
# cpu/seed<S>/<arm>/, gpu/seed400/<arm>/ (with each arm's log). ail_slow's rate is read from
# $CALIBRATION (default: the committed experiments/results/prereg_b/calibration/). On a lent
# GPU: RESULTS=$OUT/prereg_b experiments/prereg_b.sh gpu (its time is not yet measured). SMOKE=1 checks the script in a minute on a CPU:
# one epoch, the seed counts of each stage, under /tmp/prereg_b_smoke (nothing is reported).
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE=${1:?usage: experiments/prereg_b.sh calibrate|cpu|gpu}
PY=${PYTHON:-python}
RUNS=${RUNS:-runs/prereg_b}
RESULTS=${RESULTS:-experiments/results/prereg_b}
CALIBRATION=${CALIBRATION:-experiments/results/prereg_b/calibration/calibration.json}
STEPS=1000000  # 991,232 env steps: 8,192 warm-up and 97 epochs of 10,240
OFFSET=0
if [[ "${SMOKE:-0}" == 1 ]]; then
  STEPS=18432 RUNS=/tmp/prereg_b_smoke/runs RESULTS=/tmp/prereg_b_smoke/results
  CALIBRATION=$RESULTS/calibration/calibration.json OFFSET=600
fi
CELL=(--preset halfcheetah --demos halfcheetah --set disc.spectral_norm=true
      --set disc_window=10240 --checkpoint-every 5 --no-progress)
NAIL_W01=(--algo nail --set nail.weight=0.1 --set nail.kl=sample --set nail.kl_target=none)

# train OUT ARGS...: start, resume or keep the run in OUT, then copy it to $RESULTS
train() {
  local out=$1 keep=$2
  shift 2
  if [[ -f "$out/summary.json" ]]; then
    echo "$out: finished, kept"
  elif compgen -G "$out/checkpoints/*" > /dev/null; then
    $PY -m nail_jax train --resume "$out" --steps "$STEPS" --no-progress || [[ $? == 3 ]]
  else
    local again=()
    [[ -e "$out/config.json" ]] && again=(--overwrite)  # stopped before its first checkpoint
    $PY -m nail_jax train "$@" "${CELL[@]}" --steps "$STEPS" --out "$out" "${again[@]}" \
      || [[ $? == 3 ]]  # a diverged run counts (its summary.json says where)
  fi
  mkdir -p "$keep"
  cp "$out"/config.json "$out"/metrics.jsonl "$out"/summary.json "$keep"/
}

rate() {  # ail_slow's policy learning rate, committed by the calibration
  if [[ ! -f "$CALIBRATION" ]]; then
    echo "prereg_b: $CALIBRATION is missing; run the calibrate stage first" >&2
    exit 2
  fi
  $PY -c "import json, sys; print(json.load(open(sys.argv[1]))['policy_learning_rate'])" \
    "$CALIBRATION"
}

case $STAGE in
  calibrate)
    train "$RUNS/calibration/nail_w0.1" "$RESULTS/calibration/nail_w0.1" \
      "${NAIL_W01[@]}" --seed $((500 + OFFSET)) --seeds 2
    for lr in 3e-4 1.5e-4 7.5e-5; do
      name=ail_lr$($PY -c "print(f'{float(\"$lr\"):g}')")
      train "$RUNS/calibration/$name" "$RESULTS/calibration/$name" \
        --algo ail --set sac.policy_learning_rate=$lr --seed $((500 + OFFSET)) --seeds 2
    done
    if [[ "${SMOKE:-0}" == 1 ]]; then  # one epoch reaches nothing: a stand-in rate
      echo '{"policy_learning_rate": 0.0003, "smoke": true}' > "$CALIBRATION"
    else
      $PY experiments/prereg.py --calibrate --results "$RESULTS/calibration"
    fi
    ;;
  cpu)
    LR=$(rate) n=5
    [[ "${SMOKE:-0}" == 1 ]] && n=2
    for seed in $((300 + OFFSET)) $((305 + OFFSET)); do
      train "$RUNS/cpu/seed$seed/ail" "$RESULTS/cpu/seed$seed/ail" \
        --algo ail --seed $seed --seeds $n
      train "$RUNS/cpu/seed$seed/nail_w0.1" "$RESULTS/cpu/seed$seed/nail_w0.1" \
        "${NAIL_W01[@]}" --seed $seed --seeds $n
      train "$RUNS/cpu/seed$seed/ail_slow" "$RESULTS/cpu/seed$seed/ail_slow" \
        --algo ail --set sac.policy_learning_rate="$LR" --seed $seed --seeds $n
    done
    [[ "${SMOKE:-0}" == 1 ]] || $PY experiments/prereg.py --part b --set cpu
    ;;
  gpu)
    LR=$(rate)
    export XLA_PYTHON_CLIENT_PREALLOCATE=false  # three processes share the GPU
    seeds=16 s=$((400 + OFFSET))
    [[ "${SMOKE:-0}" == 1 ]] && seeds=2
    mkdir -p "$RESULTS/gpu"
    train "$RUNS/gpu/seed$s/ail" "$RESULTS/gpu/seed$s/ail" \
      --algo ail --seed $s --seeds $seeds > "$RESULTS/gpu/ail.log" 2>&1 &
    train "$RUNS/gpu/seed$s/nail_w0.1" "$RESULTS/gpu/seed$s/nail_w0.1" \
      "${NAIL_W01[@]}" --seed $s --seeds $seeds > "$RESULTS/gpu/nail_w0.1.log" 2>&1 &
    train "$RUNS/gpu/seed$s/ail_slow" "$RESULTS/gpu/seed$s/ail_slow" \
      --algo ail --set sac.policy_learning_rate="$LR" --seed $s --seeds $seeds \
      > "$RESULTS/gpu/ail_slow.log" 2>&1 &
    wait
    [[ "${SMOKE:-0}" == 1 ]] || $PY experiments/prereg.py --part b --set gpu
    ;;
  *)
    echo "usage: experiments/prereg_b.sh calibrate|cpu|gpu" >&2
    exit 2
    ;;
esac
