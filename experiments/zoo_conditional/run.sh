#!/usr/bin/env bash
# The equal-budget study of the model families on Train400 (issue #16): every family trained
# blind over sigma in [0, 75] for the same 6 CPU-minutes on one thread (CPU time, so a loaded
# machine gives every run the same budget; the wall time grows instead), then all of them scored
# on BSD68 at sigma 15, 25, 50 with the literature's protocol beside BM3D on the very same noisy
# images. About an hour of training on an idle core plus the benchmark (minutes once BM3D's
# outputs are cached under data/benchmarks/.cache).
# Needs Train400 and BSD68 in ../shared/datasets/ (or DATA=<folder holding them>).
#   bash experiments/zoo_conditional/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/zoo_conditional
DATA=${DATA:-../shared/datasets}
SWEEP=logs/sweep_zoo_conditional/$(date +%Y-%m-%d_%H-%M-%S)
COMMON=(sweep=zoo_conditional "data.data_dir=$DATA/train400" logger=csv monitor=val/psnr_levels)

# 1. the six families, each with its own noise-map choice (FFDNet and DRUNet take the map)
python sweep.py "${COMMON[@]}" "hydra.sweep.dir=$SWEEP/families"
# 2. the map's ablation: DRUNet without it, NAFNet with it
python train.py "${COMMON[@]}" model=drunet model.noise_map=false "hydra.run.dir=$SWEEP/drunet_blind"
python train.py "${COMMON[@]}" model=nafnet model.noise_map=true "hydra.run.dir=$SWEEP/nafnet_map"

# 3. parameters, MACs per pixel and seconds per step of every run, from its metrics.json
python - "$SWEEP" "$HERE/runs.csv" <<'PY'
import csv, json, sys
from pathlib import Path
rows = []
for metrics in sorted(Path(sys.argv[1]).glob("**/metrics.json")):
    m = json.loads(metrics.read_text())
    rows.append({"run": str(metrics.parent.relative_to(sys.argv[1])),
                 **{k: m.get(k) for k in ("num_parameters", "macs_per_pixel", "seconds_per_step",
                                          "cpu_seconds_per_step", "train_cpu_seconds",
                                          "global_step", "train_seconds",
                                          "best_val/psnr_levels")}})
with open(sys.argv[2], "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
PY

# 4. BSD68 at sigma 15, 25, 50, every run beside BM3D and the noisy input (literature protocol)
methods=()
for run in "$SWEEP"/families/* "$SWEEP"/drunet_blind "$SWEEP"/nafnet_map; do
    [ -f "$run/metrics.json" ] || continue
    name=$(python -c 'import sys,yaml; c=yaml.safe_load(open(sys.argv[1])); t=c["model"]["_target_"].rsplit(".",1)[1]; m=c["model"].get("noise_map"); print(t + ("" if m is None else (" +map" if m else " blind")))' "$run/.hydra/config.yaml")
    methods+=("$name=$run")
done
restorelab benchmark --methods "${methods[@]}" --sets bsd68 --sigmas 15 25 50 \
    --baselines noisy bm3d --root "$DATA" -o "$HERE/benchmark" --overwrite
