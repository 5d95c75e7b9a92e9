#!/usr/bin/env bash
# Regenerates experiments/train400_drunet_color/: the gray conditional DRUNet-16 of
# train400_drunet scored on CBSD68 as a color denoiser, beside CBM3D on the same noisy images and
# the published rows. Nothing is trained: the color model is the gray net's weights applied in
# CBM3D's opponent color space. About 5 min with two threads for the two nets, 6 more for the
# nets-only rows and 20 for the x8 rows, plus about 2 h of one core for CBM3D unless its outputs
# are cached (data/benchmarks/.cache).
# Needs CBSD68 in ../shared/datasets/ (or pass DATA=<folder holding it>).
#   bash experiments/train400_drunet_color/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
HERE=experiments/train400_drunet_color
DATA=${DATA:-../shared/datasets}

# 1. CBSD68 at sigma 15, 25, 50, literature protocol: the opponent-space model, the per-RGB
#    ablation, CBM3D and the noisy input, one run on the same noisy images.
restorelab benchmark --config $HERE/benchmark.yaml --root "$DATA"
# The two nets and the input only (6 min): the rows benchmark.yaml also gives, without waiting
# for CBM3D, into benchmark_nets/ (how new gray weights are re-scored when CBM3D is not cached).
restorelab benchmark --config $HERE/benchmark_nets.yaml --root "$DATA"
# The same model with the x8 self-ensemble, and the input (about 20 min with one thread).
restorelab benchmark --config $HERE/benchmark_x8.yaml --root "$DATA"

# 2. The color model as a file of its own (RGB in, RGB out), for load_denoiser, `restorelab
#    denoise` and the demo: the same weights, a config that rebuilds the wrapper. Not committed
#    (it would repeat train400_drunet/model.safetensors); this line makes it in seconds.
restorelab export --checkpoint experiments/train400_drunet/model.safetensors --format safetensors \
    --color opponent -o logs/train400_drunet_color/model.safetensors --overwrite
