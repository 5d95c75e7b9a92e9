#!/usr/bin/env bash
# Regenerates this folder: the 8-run sweep (depth 2, 3), then two runs of its best variant
# (chosen on validation PSNR among those 8, never on test): with max-pool / bilinear upsample
# instead of strided / transposed convolutions, and at data.image_size=128; and the same sweep at
# depth 4 (4 runs). The max-pool and depth-4 runs go into the sweep's folder and report.
#
#   OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 flock /tmp/restorelab-cpu.lock \
#       bash experiments/faces_architecture/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
stamp="$(date +%Y-%m-%d_%H-%M-%S)"
sweep_dir="$PWD/logs/sweep_faces_architecture/multiruns/$stamp"
size_dir="$PWD/logs/sweep_faces_architecture/size128/$stamp"

start=$(date +%s)
python sweep.py sweep=faces_architecture "hydra.sweep.dir=$sweep_dir"

# The best variant by best validation PSNR, as overrides: model.kernel_size=.. model.depth=..
best=$(python - "$sweep_dir" <<'EOF'
import sys
from pathlib import Path

from restorelab.report import collect

study = collect(Path(sys.argv[1]))
run = max(study.runs, key=lambda r: r["best_val/psnr"])
keys = ("model.kernel_size", "model.depth", "model.skip")
print(" ".join(f"{k}={run['overrides'][k]}" for k in keys))
EOF
)
echo "best variant on validation: $best"

python train.py sweep=faces_architecture $best model.down=maxpool model.up=upsample \
    "hydra.run.dir=$sweep_dir/8"
# A command-line value replaces the sweep's own list: kernel size x skip at depth 4.
python train.py -m sweep=faces_architecture model.depth=4 "hydra.sweep.dir=$sweep_dir/depth4"
python sweep.py --report "$sweep_dir"

python train.py sweep=faces_architecture $best model.down=strided model.up=transposed \
    data.image_size=128 "hydra.run.dir=$size_dir/0"
python sweep.py --report "$size_dir"

# The best variant at 48 and at 128 beside the noisy input, BM3D and NLM (true sigma), in the
# evaluation harness (its own per-image noise seeds, so its numbers differ a little from the
# training job's test scores).
best_job=$(python - "$sweep_dir" $best <<'EOF'
import sys
from pathlib import Path

from restorelab.report import collect

wanted = dict(item.split("=", 1) for item in sys.argv[2:])
wanted["model.down"] = "strided"
print(next(run["job"] for run in collect(Path(sys.argv[1])).runs
           if all(run["overrides"].get(k) == v for k, v in wanted.items())))
EOF
)
restorelab eval "$sweep_dir/$best_job" --baselines noisy bm3d nlm -o "$here/eval_48" --overwrite
restorelab eval "$size_dir/0" --baselines noisy bm3d nlm -o "$here/eval_128" --overwrite
echo "wall time: $(( $(date +%s) - start )) s"

cp "$sweep_dir"/{results.csv,results.md,comparison.png,curves.png} "$here/"
for file in results.csv comparison.png curves.png; do
    cp "$size_dir/$file" "$here/size128_$file"
done
echo "study: $sweep_dir | 128x128: $size_dir"
