#!/usr/bin/env bash
# The lipschitz_gail paper profile as one prepared GPU script (issue 16): Brax hopper, walker2d and
# halfcheetah at 1M imitator steps per seed, SAM as the paper runs it, sweeps run_001-003 and
# PURPLE, then the figure and the claims.
#
#   bash experiments/lipschitz_gail/paper_gpu.sh                 # GPU machine, full budget
#   SMOKE=1 bash experiments/lipschitz_gail/paper_gpu.sh         # any machine, tiny budget
#
# On the lent GPU machine (../shared/gpu/README.md) run it after the wheel install line, with
# `.whl` carried. Results go to $RESULTS (default results/), the figure and claims.json to $OUT.
set -euo pipefail
RESULTS=${RESULTS:-results}
OUT=${OUT:-paper_figures/out}
PY=${PYTHON:-python}
FLAGS=(--profile paper --results "$RESULTS" --resume-or-new)
if [[ -n "${SMOKE:-}" ]]; then
  # every code path of the paper profile, at a budget that runs in minutes on a CPU
  FLAGS+=(--envs brax/inverted_double_pendulum --seeds 1 --lambdas 1 10 --total-timesteps 400 --num-chunks 1
          --learning-starts 100 --batch-size 16 --hidden-sizes 16 --expert-steps 400
          --expert-seeds 1 --expert-episodes 2 --subsample-every 5 --num-envs 1
          --updates-per-step 1 --expert-num-envs 1 --gp-types none wgan --nogp-ablations none_ls)
fi
"$PY" -c 'import jax; print("devices:", jax.devices())'
time "$PY" -m experiments.lipschitz_gail "${FLAGS[@]}"
"$PY" -m paper_figures.lipschitz_gail --results "$RESULTS" --out "$OUT"
