#!/usr/bin/env bash
# Regenerates experiments/train400_drunet_sigma25/: the sigma=25 fine-tune of the noise-conditional
# Train400 DRUNet, its exported weights and its BSD68 / Set12 table at sigma=25 beside BM3D, the
# conditional net it started from and the older sigma=25 U-Net. About 25 minutes of training on a
# 2-core CPU (one torch thread), plus minutes for the benchmark once BM3D's outputs are cached; on
# a GPU add trainer=gpu to the train line.
# Starts from the conditional net's stage 6: logs/train400_drunet/stage6, which
# experiments/train400_drunet/run.sh writes (its shipped export now holds stage 7, trained after
# this fine-tune; START=<a run, checkpoint or export> picks another start).
# Needs Train400, BSD68 and Set12 in ../shared/datasets/ (or pass DATA=<folder holding them>).
#   bash experiments/train400_drunet_sigma25/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/train400_drunet_sigma25
DATA=${DATA:-../shared/datasets}
RUN=logs/train400_drunet_sigma25/stage1
START=${START:-logs/train400_drunet/stage6}

# 1. one stage: from the conditional net's stage 6 weights, sigma fixed at 25 (the noise map is
#    the constant 25/255), 12 epochs of 8,192 crops of 64 x 64, batch 24 (4,104 steps), L1, Adam
#    at 5e-5 with cosine decay to 1e-6, bf16 autocast; selected on val/psnr (sigma=25, the 20
#    held-out Train400 images). The starting weights score 29.21 dB there. (The card's first
#    try started from stage 5, START=logs/train400_drunet/stage5: its logs are from_stage5_*.)
python train.py experiment=train400_drunet_sigma25 "data.data_dir=$DATA/train400" logger=csv \
    init_weights="$START" trainer.max_epochs=12 \
    trainer.max_steps=4104 scheduler.T_max=4104 trainer.precision=bf16-mixed \
    trainer.max_time=00:01:10:00 hydra.run.dir=$RUN

# 2. the weights (safetensors, config embedded: noise.sigma=25, so `denoise` needs no --sigma)
#    and the logs the card cites.
restorelab export --checkpoint $RUN --format safetensors -o $HERE/model.safetensors --overwrite
cp $RUN/csv/metrics.csv $HERE/stage1_metrics.csv
cp $RUN/metrics.json $HERE/stage1_run_metrics.json

# 3. BSD68 and Set12 at sigma=25 (literature protocol) beside BM3D and the other sigma=25 nets.
restorelab benchmark --config $HERE/benchmark.yaml --root "$DATA"
#    The same net with the x8 self-ensemble as a row of its own (8x the model's time).
restorelab benchmark --methods "DRUNet-16 sigma25 (ours)=$HERE/model.safetensors" --ensemble \
    --sets bsd68 set12 --sigmas 25 --baselines noisy --root "$DATA" -o $HERE/benchmark_x8 --overwrite
python experiments/train400_drunet/training_curve.py train400_drunet_sigma25
