#!/usr/bin/env bash
# Regenerates everything in experiments/natural_gray_sigma25/ and experiments/natural_gray_blind/:
# the two trainings (and the sigma-25 model's fine-tuning stage), the exported weights, the
# held-out photographs and both evaluations. About 3 h on a 2-core CPU with the two trainings
# side by side; minutes on a GPU (add trainer=gpu to the train.py lines).
#   bash experiments/natural_gray_sigma25/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/natural_gray_sigma25
BLIND=experiments/natural_gray_blind
newest() { ls -d "logs/$1/runs/"* | tail -n 1; }

# 1. sigma 25: 60 epochs of 64x64 crops (stage 1), then 12 epochs of 96x96 crops at a lower
#    learning rate, started from stage 1's best weights (stage 2). The blind net: stage 1 only.
python train.py experiment=natural_gray_sigma25 logger=csv &
python train.py experiment=natural_gray_blind logger=csv &
wait
python train.py experiment=natural_gray_sigma25 logger=csv task_name=natural_gray_sigma25_finetune \
    init_weights="$(newest natural_gray_sigma25)" optimizer.lr=2e-4 \
    data.patch_size=96 data.batch_size=8 data.samples_per_epoch=2048 trainer.max_epochs=12
SIGMA25=$(newest natural_gray_sigma25_finetune)
BLIND_RUN=$(newest natural_gray_blind)

# 2. weights only (safetensors, the run's config embedded), and the training logs.
restorelab export --checkpoint "$SIGMA25" --format safetensors -o $HERE/model.safetensors
restorelab export --checkpoint "$BLIND_RUN" --format safetensors -o $BLIND/model.safetensors
cp "$(newest natural_gray_sigma25)/csv/metrics.csv" $HERE/training_metrics.csv
cp "$SIGMA25/csv/metrics.csv" $HERE/finetune_metrics.csv
cp "$BLIND_RUN/csv/metrics.csv" $BLIND/training_metrics.csv
python $HERE/training_curve.py

# 3. the held-out photographs, and every method on the same seeded noisy inputs.
python $HERE/heldout.py data/heldout_gray
restorelab eval $HERE/model.safetensors --images data/heldout_gray --levels 15 25 50 \
    --baselines all --curve --curve-images 2 --ensemble -o $HERE/eval
restorelab eval $BLIND/model.safetensors --images data/heldout_gray --levels 15 25 50 \
    --baselines noisy bm3d --curve --curve-images 2 --ensemble -o $BLIND/eval
python $HERE/crops.py $HERE/model.safetensors --images data/heldout_gray --sigmas 25 -o $HERE/crops.png
python $HERE/crops.py $BLIND/model.safetensors --images data/heldout_gray --sigmas 15 50 \
    -o $BLIND/crops.png
