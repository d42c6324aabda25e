#!/bin/bash
# issue 42 item 4: ant, closed-form KL at the preset's weight, seeds 0-4 x 1M env steps, commit ea40ee1
cd /work/run-42 && . .venv/bin/activate
date
python experiments/nail_kl.py --task ant --seeds 5 --steps 1003520 --arms nail_analytic --pool
date
