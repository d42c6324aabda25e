#!/bin/bash
# issue 42 item 5: the default run as a new user runs it, `nail-jax train --seed S`, lone
# runs, seeds 0-9, one after the other, at the commit checked out in this worktree.
cd /work/run-42 && . .venv/bin/activate
git log --oneline -1
for S in 0 1 2 3 4 5 6 7 8 9; do
  echo "=== seed $S $(date -u +%H:%M:%S)"
  /usr/bin/time -f "wall %e s" python -m nail_jax train --seed $S --out runs/default_check/seed_$S --no-progress
done
echo "=== done $(date -u +%H:%M:%S)"
