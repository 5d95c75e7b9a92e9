#!/usr/bin/env bash
# The self-supervised study (issue #18): the default U-Net on Train400 with Gaussian sigma=25,
# trained supervised and from noisy images only (Noise2Noise, Neighbor2Neighbor, Noise2Void and
# its N2V2 variant, Recorrupted-to-Recorrupted), each for the same 5 CPU-minutes on one thread,
# then scored on BSD68 at sigma 25 with the literature's protocol beside BM3D and the noisy input,
# on the very same noisy images. About 40 minutes on an idle core plus the benchmark (BM3D's
# outputs are cached under data/benchmarks/.cache, shared with the other BSD68 studies).
# Needs Train400 and BSD68 in ../shared/datasets/ (or DATA=<folder holding them>).
#   bash experiments/self_supervised/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/self_supervised
DATA=${DATA:-../shared/datasets}
SWEEP=logs/sweep_self_supervised/$(date +%Y-%m-%d_%H-%M-%S)
COMMON=(sweep=self_supervised "data.data_dir=$DATA/train400" logger=csv)

# 1. the five objectives, then N2V2 (the median replacement without the centre pixel)
python sweep.py "${COMMON[@]}" "hydra.sweep.dir=$SWEEP/objectives"
python train.py "${COMMON[@]}" objective=noise2void objective.n2v2=true "hydra.run.dir=$SWEEP/n2v2"

# 2. steps, CPU seconds and the held-out validation PSNR of every run, from its metrics.json
python - "$SWEEP" "$HERE/runs.csv" <<'PY'
import csv, json, sys
from pathlib import Path
import yaml
rows = []
for metrics in sorted(Path(sys.argv[1]).glob("**/metrics.json")):
    m = json.loads(metrics.read_text())
    objective = yaml.safe_load((metrics.parent / ".hydra" / "config.yaml").read_text())["objective"]
    name = objective["_target_"].rsplit(".", 1)[1] + (" (N2V2)" if objective.get("n2v2") else "")
    rows.append({"objective": name, "run": str(metrics.parent.relative_to(sys.argv[1])),
                 **{k: m.get(k) for k in ("global_step", "cpu_seconds_per_step",
                                          "train_cpu_seconds", "train_seconds",
                                          "best_val/psnr", "test/psnr")}})
with open(sys.argv[2], "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
PY

# 3. BSD68 at sigma 25, every run beside BM3D and the noisy input (literature protocol)
methods=()
for run in "$SWEEP"/objectives/* "$SWEEP"/n2v2; do
    [ -f "$run/metrics.json" ] || continue
    name=$(python -c 'import sys,yaml; o=yaml.safe_load(open(sys.argv[1]))["objective"]; print(o["_target_"].rsplit(".",1)[1] + (" N2V2" if o.get("n2v2") else ""))' "$run/.hydra/config.yaml")
    methods+=("$name=$run")
done
restorelab benchmark --methods "${methods[@]}" --sets bsd68 --sigmas 25 \
    --baselines noisy bm3d --root "$DATA" -o "$HERE/benchmark" --overwrite
