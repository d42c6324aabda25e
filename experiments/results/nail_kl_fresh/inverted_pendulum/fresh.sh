#!/bin/bash
# issue 42 item 5: the pendulum preset's KL form, confirmed on fresh seeds 10-19 (never used for a choice).
# Rule fixed before running (docs/research-log.md 2026-12-07, thirteenth session): the preset takes
# nail.kl=analytic if, on seeds 10-19, nail_analytic has at least as many seeds ending >= 0.9 as
# nail_sample and a collapse rate no higher. Commit 7898c09.
cd /work/run-42 && . .venv/bin/activate
set -x
for arm in nail_sample nail_analytic; do
  kl=${arm#nail_}
  python -m nail_jax train --algo nail --preset inverted_pendulum --seeds 10 --steps 99328 --seed 10 \
    --out runs/nail_kl_fresh/inverted_pendulum/$arm --checkpoint-every 5 \
    --set nail.kl=$kl --set nail.kl_target=none --no-progress
done
