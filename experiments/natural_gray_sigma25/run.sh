#!/usr/bin/env bash
# Regenerates everything in experiments/natural_gray_sigma25/ and experiments/natural_gray_blind/:
# the two models' training stages, the exported weights, the held-out photographs and both
# evaluations. About 5 h on a 2-core CPU with the two models trained side by side; minutes on a
# GPU (add trainer=gpu to the train.py lines).
#   bash experiments/natural_gray_sigma25/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/natural_gray_sigma25
BLIND=experiments/natural_gray_blind
newest() { ls -d "logs/$1/runs/"* | tail -n 1; }

# Each later stage starts from the weights kept so far (`init_weights`) and is kept only if its
# best validation PSNR beats theirs; test images never decide.
better() {  # the run folder with the higher best validation PSNR of two
    python - "$1" "$2" <<'PY'
import json, sys
def best(run):  # best_<monitor>: val/psnr, or val/psnr_levels for the blind model
    metrics = json.load(open(f"{run}/metrics.json"))
    return next(v for k, v in metrics.items() if k.startswith("best_val/"))
print(max(sys.argv[1:], key=best))
PY
}

# 1. stage 1: 60 epochs of 64x64 crops, both models side by side on one core each.
python train.py experiment=natural_gray_sigma25 logger=csv &
python train.py experiment=natural_gray_blind logger=csv &
wait
STAGE1=$(newest natural_gray_sigma25)
BLIND1=$(newest natural_gray_blind)

# 2. sigma 25, stage 2: 12 epochs of 96x96 crops at a lower learning rate.
python train.py experiment=natural_gray_sigma25 logger=csv task_name=natural_gray_sigma25_stage2 \
    init_weights="$STAGE1" optimizer.lr=2e-4 \
    data.patch_size=96 data.batch_size=8 data.samples_per_epoch=2048 trainer.max_epochs=12
STAGE2=$(newest natural_gray_sigma25_stage2)
KEPT=$(better "$STAGE1" "$STAGE2")

# 3. a second cosine cycle of 64 epochs at 4e-4 for both models (sigma 25: its stage 3; blind:
#    its stage 2), side by side again.
python train.py experiment=natural_gray_sigma25 logger=csv task_name=natural_gray_sigma25_stage3 \
    init_weights="$KEPT" optimizer.lr=4e-4 trainer.max_epochs=64 &
python train.py experiment=natural_gray_blind logger=csv task_name=natural_gray_blind_stage2 \
    init_weights="$BLIND1" optimizer.lr=4e-4 trainer.max_epochs=64 &
wait
STAGE3=$(newest natural_gray_sigma25_stage3)
BLIND2=$(newest natural_gray_blind_stage2)
SIGMA25=$(better "$KEPT" "$STAGE3")
BLIND_RUN=$(better "$BLIND1" "$BLIND2")
echo "shipping $SIGMA25 and $BLIND_RUN"

# 4. weights only (safetensors, the run's config embedded), and the training logs.
restorelab export --checkpoint "$SIGMA25" --format safetensors -o $HERE/model.safetensors
restorelab export --checkpoint "$BLIND_RUN" --format safetensors -o $BLIND/model.safetensors
for run in "$STAGE1:$HERE/stage1" "$STAGE2:$HERE/stage2" "$STAGE3:$HERE/stage3" \
           "$BLIND1:$BLIND/stage1" "$BLIND2:$BLIND/stage2"; do
    cp "${run%%:*}/csv/metrics.csv" "${run#*:}_metrics.csv"
    cp "${run%%:*}/metrics.json" "${run#*:}_run_metrics.json"
done
python $HERE/training_curve.py

# 5. the held-out photographs, and every method on the same seeded noisy inputs.
python $HERE/heldout.py data/heldout_gray
restorelab eval $HERE/model.safetensors --images data/heldout_gray --levels 15 25 50 \
    --baselines all --curve --curve-images 2 --ensemble -o $HERE/eval
restorelab eval $BLIND/model.safetensors --images data/heldout_gray --levels 15 25 50 \
    --baselines noisy bm3d --curve --curve-images 2 --ensemble -o $BLIND/eval
python $HERE/crops.py $HERE/model.safetensors --images data/heldout_gray --sigmas 25 -o $HERE/crops.png
python $HERE/crops.py $BLIND/model.safetensors --images data/heldout_gray --sigmas 15 50 \
    -o $BLIND/crops.png
