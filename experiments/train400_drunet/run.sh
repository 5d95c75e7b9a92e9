#!/usr/bin/env bash
# Regenerates experiments/train400_drunet/: the training stages of the noise-conditional gray
# DRUNet on Train400, the exported weights, and its BSD68 / Set12 table beside BM3D and the
# published rows. About 1 h 20 min of training on a 2-core CPU (one torch thread), plus minutes
# for the benchmark once BM3D's outputs are cached; on a GPU add trainer=gpu to the train lines.
# Needs Train400, BSD68 and Set12 in ../shared/datasets/ (or pass DATA=<folder holding them>).
#   bash experiments/train400_drunet/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/train400_drunet
DATA=${DATA:-../shared/datasets}
COMMON=(experiment=train400_drunet "data.data_dir=$DATA/train400" logger=csv)

best() {  # best validation value (val/psnr_levels, the mean over sigma 15, 25, 50) of a run
    python -c 'import json,sys; m=json.load(open(sys.argv[1]+"/metrics.json")); print(m["best_val/psnr_levels"])' "$1"
}

# 1. stage 1: 45 epochs of 1,024 crops of 48 x 48, batch 16, lr 2e-4 with cosine decay.
python train.py "${COMMON[@]}" trainer.max_epochs=45 hydra.run.dir=logs/train400_drunet/stage1
STAGE1=logs/train400_drunet/stage1
KEPT=$STAGE1

# 2. stage 2: from stage 1's best weights, a second cosine cycle of 30 epochs of 2,048 crops,
#    batch 32; kept only if its best validation value is higher (held-out Train400 images only).
python train.py "${COMMON[@]}" init_weights="$STAGE1" data.batch_size=32 \
    data.samples_per_epoch=2048 trainer.max_epochs=30 hydra.run.dir=logs/train400_drunet/stage2
STAGE2=logs/train400_drunet/stage2
if python -c "import sys; sys.exit(not float(sys.argv[2]) > float(sys.argv[1]))" \
        "$(best $STAGE1)" "$(best $STAGE2)"; then KEPT=$STAGE2; fi
echo "shipping $KEPT"

# 3. the weights (safetensors, config embedded) and the logs the card cites.
restorelab export --checkpoint "$KEPT" --format safetensors -o $HERE/model.safetensors --overwrite
for stage in stage1 stage2; do
    cp logs/train400_drunet/$stage/csv/metrics.csv $HERE/${stage}_metrics.csv
    cp logs/train400_drunet/$stage/metrics.json $HERE/${stage}_run_metrics.json
done

# 4. BSD68 and Set12 at sigma 15, 25, 50 (literature protocol) beside BM3D and the published
#    rows, then sigma 5 and 10 (the low levels where blind nets fail) for the model and the input.
restorelab benchmark --config $HERE/benchmark.yaml --root "$DATA"
restorelab benchmark --methods "DRUNet-16 (ours)=$HERE/model.safetensors" --sets bsd68 set12 \
    --sigmas 5 10 --baselines noisy --root "$DATA" -o $HERE/low_sigma
python $HERE/training_curve.py
