#!/usr/bin/env bash
# Regenerates experiments/train400_drunet/: the training stages of the noise-conditional gray
# DRUNet on Train400, the exported weights, and its BSD68 / Set12 table beside BM3D and the
# published rows. About 11 h 46 min of training on a 2-core CPU (one torch thread, stage 3 two),
# plus minutes for the benchmark once BM3D's outputs are cached; on a GPU add trainer=gpu to the
# train lines.
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
keep_if_better() {  # KEPT becomes run $1 when its best validation value beats KEPT's
    if python -c "import sys; sys.exit(not float(sys.argv[2]) > float(sys.argv[1]))" \
            "$(best "$KEPT")" "$(best "$1")"; then KEPT=$1; fi
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
keep_if_better $STAGE2

# 3. stage 3: from the kept weights, a cosine cycle planned for 64 epochs of 8,192 crops of
#    64 x 64, batch 24 (T_max 21,888 steps), in bf16 autocast with 2 threads (2x fp32's speed on a
#    CPU with AVX512-BF16). It was stopped after 5 epochs (step 1,710) when other jobs took the
#    cores; max_steps reproduces that stop on any machine.
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python train.py "${COMMON[@]}" init_weights="$KEPT" \
    data.patch_size=64 data.batch_size=24 data.samples_per_epoch=8192 trainer.max_epochs=64 \
    trainer.max_steps=1710 scheduler.T_max=21888 trainer.precision=bf16-mixed \
    hydra.run.dir=logs/train400_drunet/stage3
STAGE3=logs/train400_drunet/stage3
keep_if_better $STAGE3

# Stages 4 to 6: a cosine cycle from the kept weights on 64 x 64 crops, batch 24, 8,192 crops an
# epoch (342 steps), bf16 autocast, one thread; kept only if validation improves.
#   cycle N EPOCHS MAX_STEPS T_MAX [override ...]
cycle() {
    local run=logs/train400_drunet/stage$1
    python train.py "${COMMON[@]}" init_weights="$KEPT" data.patch_size=64 data.batch_size=24 \
        data.samples_per_epoch=8192 trainer.max_epochs="$2" trainer.max_steps="$3" \
        scheduler.T_max="$4" trainer.precision=bf16-mixed "${@:5}" hydra.run.dir=$run
    keep_if_better $run
}

# 4. stage 4: a shorter cycle of 20 epochs (T_max 6,840 steps) at the default peak 2e-4. Its
#    70-minute max_time stopped it at step 6,439 (epoch 18); max_steps reproduces it.
cycle 4 20 6439 6840
# 5. stage 5: one cycle of 8,500 steps at a lower peak (1e-4), a 110-minute max_time as a guard.
cycle 5 25 8500 8500 optimizer.lr=1.0e-4 trainer.max_time=00:01:50:00
# 6. stage 6: stage 5's cycle again, sized to 24 whole epochs of 342 steps (8,208) so that the
#    last validation sees the end of the decay.
cycle 6 24 8208 8208 optimizer.lr=1.0e-4 trainer.max_time=00:01:45:00
# 7. stage 7: larger crops (96 x 96, batch 12: 1.1x the pixels of a 64 x 64 batch of 24, and a
#    lowest level of 12 x 12 instead of 8 x 8), 12 epochs of 683 steps, one cosine cycle of
#    8,196 steps at peak 1e-4; kept only if validation improves.
python train.py "${COMMON[@]}" init_weights="$KEPT" data.patch_size=96 data.batch_size=12 \
    data.samples_per_epoch=8196 trainer.max_epochs=12 trainer.max_steps=8196 \
    scheduler.T_max=8196 trainer.precision=bf16-mixed optimizer.lr=1.0e-4 \
    trainer.max_time=00:01:30:00 hydra.run.dir=logs/train400_drunet/stage7
keep_if_better logs/train400_drunet/stage7
# 8. stage 8: larger crops again (128 x 128, batch 7: 1.04x stage 7's pixels a step, a lowest
#    level of 16 x 16), 10 epochs of 1,000 steps, one cosine cycle of 10,000 steps at peak 1e-4.
python train.py "${COMMON[@]}" init_weights="$KEPT" data.patch_size=128 data.batch_size=7 \
    data.samples_per_epoch=7000 trainer.max_epochs=10 trainer.max_steps=10000 \
    scheduler.T_max=10000 trainer.precision=bf16-mixed optimizer.lr=1.0e-4 \
    trainer.max_time=00:01:40:00 hydra.run.dir=logs/train400_drunet/stage8
keep_if_better logs/train400_drunet/stage8
# 9. stage 9: stage 8's crops again, a shorter cycle (6 epochs, 6,000 steps) at half the peak.
python train.py "${COMMON[@]}" init_weights="$KEPT" data.patch_size=128 data.batch_size=7 \
    data.samples_per_epoch=7000 trainer.max_epochs=6 trainer.max_steps=6000 \
    scheduler.T_max=6000 trainer.precision=bf16-mixed optimizer.lr=5.0e-5 \
    trainer.max_time=00:00:50:00 hydra.run.dir=logs/train400_drunet/stage9
keep_if_better logs/train400_drunet/stage9
# 10. stage 10: crops of 160 x 160 (batch 5, a lowest level of 20 x 20), 12 epochs of 1,000
#    steps, one cosine cycle of 12,000 steps at peak 1e-4.
python train.py "${COMMON[@]}" init_weights="$KEPT" data.patch_size=160 data.batch_size=5 \
    data.samples_per_epoch=5000 trainer.max_epochs=12 trainer.max_steps=12000 \
    scheduler.T_max=12000 trainer.precision=bf16-mixed optimizer.lr=1.0e-4 \
    trainer.max_time=00:02:05:00 hydra.run.dir=logs/train400_drunet/stage10
keep_if_better logs/train400_drunet/stage10
# 11. stage 11: crops of 176 x 176 (batch 4), 8 epochs of 1,000 steps, a cosine cycle of 8,000
#    steps at peak 7e-5.
python train.py "${COMMON[@]}" init_weights="$KEPT" data.patch_size=176 data.batch_size=4 \
    data.samples_per_epoch=4000 trainer.max_epochs=8 trainer.max_steps=8000 \
    scheduler.T_max=8000 trainer.precision=bf16-mixed optimizer.lr=7.0e-5 \
    trainer.max_time=00:01:20:00 hydra.run.dir=logs/train400_drunet/stage11
keep_if_better logs/train400_drunet/stage11
# 12. stage 12: 176 x 176 crops again, 16 epochs of 1,000 steps, a cosine cycle at peak 5e-5,
#    and an exponential moving average of the weights (decay 0.999) as the model that is
#    validated, kept and exported.
python train.py "${COMMON[@]}" init_weights="$KEPT" callbacks=with_ema data.patch_size=176 \
    data.batch_size=4 data.samples_per_epoch=4000 trainer.max_epochs=16 trainer.max_steps=16000 \
    scheduler.T_max=16000 trainer.precision=bf16-mixed optimizer.lr=5.0e-5 \
    trainer.max_time=00:01:50:00 hydra.run.dir=logs/train400_drunet/stage12
keep_if_better logs/train400_drunet/stage12
echo "shipping $KEPT"

# 13. the weights (safetensors, config embedded) and the logs the card cites.
restorelab export --checkpoint "$KEPT" --format safetensors -o $HERE/model.safetensors --overwrite
for stage in stage1 stage2 stage3 stage4 stage5 stage6 stage7 stage8 stage9 stage10 stage11 stage12; do
    cp logs/train400_drunet/$stage/csv/metrics.csv $HERE/${stage}_metrics.csv
    cp logs/train400_drunet/$stage/metrics.json $HERE/${stage}_run_metrics.json
done

# 14. BSD68 and Set12 at sigma 15, 25, 50 (literature protocol) beside BM3D and the published
#    rows, then sigma 5 and 10 (the low levels where blind nets fail) for the model and the input.
restorelab benchmark --config $HERE/benchmark.yaml --root "$DATA"
restorelab benchmark --methods "DRUNet-16 (ours)=$HERE/model.safetensors" --sets bsd68 set12 \
    --sigmas 5 10 --baselines noisy --root "$DATA" -o $HERE/low_sigma --overwrite
# The same at 15, 25, 50 with the x8 self-ensemble as rows of their own (8x the model's time).
restorelab benchmark --methods "DRUNet-16 (ours)=$HERE/model.safetensors" --ensemble \
    --sets bsd68 set12 --sigmas 15 25 50 --baselines noisy --root "$DATA" -o $HERE/benchmark_x8 --overwrite
python $HERE/training_curve.py
