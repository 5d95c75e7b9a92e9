#!/usr/bin/env bash
# The GPU stage of the Train400 reference, prepared for one lent H200 (not yet run on one).
# DRUNet-32 (widths 32-64-128-256, 2 residual blocks per scale, 4.25 M parameters, 272k MAC per
# pixel), noise map, sigma uniform in [0, 75], L1, from scratch: a 300-step probe measures the
# step time, then one cosine cycle sized to TRAIN_SECONDS of training; bf16-mixed, channels_last,
# cuDNN's autotuner, batches of 64 crops of 96 x 96 cut on the GPU from Train400 held there
# (data.crops_on_device: no loader work). Selected on the 20 held-out Train400 images only.
#
#   bash experiments/train400_drunet/gpu.sh prepare          # here: .whl/ (hydra-core, omegaconf,
#                                                            # antlr4) and .gpu-data/train400/
#   device run: command "bash experiments/train400_drunet/gpu.sh train",
#               carry [".whl", ".gpu-data"], timeout_s 400
#   bash experiments/train400_drunet/gpu.sh evaluate <folder> # here, on the CPU: BSD68 and Set12
#                                                            # of the weights brought back
#
# Expected on the H200: about 1 min to start the machine (not in the command), then about 5 min
# for the command: 10 s of wheels, 60 s of probe (start-up, cuDNN's autotuning, 300 steps),
# 20 s of start-up and TRAIN_SECONDS (default 220) of training steps plus 10 validations and
# checkpoints (a max_time 60 s above it is the guard), 20 s of export; a rerun fits in the 15 minutes of device
# time. The command writes to $OUT: model.safetensors (float16: 8.5 MB, under the
# 16 MiB a returned file may have), metrics.csv, run_metrics.json, probe_metrics.json, gpu.txt.
#
# A dry run of `train` on the CPU (tiny sizes, about 2 minutes): TRAINER=cpu PRECISION=32-true
# BATCH=4 PATCH=32 PROBE_STEPS=4 TRAIN_SECONDS=20 EXTRA=data.val_images=2 OUT=/tmp/gpu-dry
# TRAIN400=../shared/datasets/train400 RUNS=/tmp/gpu-dry-runs bash .../gpu.sh train
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/train400_drunet

prepare() {
    local data=${DATA:-../shared/datasets}
    grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
    grep -qx "/.gpu-data/" .git/info/exclude 2>/dev/null || echo "/.gpu-data/" >> .git/info/exclude
    mkdir -p .whl .gpu-data
    # The device's Python (3.12) has torch, lightning, torchmetrics, scikit-image, safetensors,
    # rich and matplotlib; it lacks these three (pure Python).
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        -d .whl hydra-core==1.3.8 omegaconf==2.3.1
    python -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3  # an sdist only
    rm -rf .gpu-data/train400
    cp -r "$data/train400" .gpu-data/train400  # 8.7 MB; ../shared does not travel
    du -sh .whl .gpu-data
}

train() {
    : "${OUT:?OUT is the folder whose files come back (the device tool sets it)}"
    if [ -d .whl ] && ! python3 -c "import hydra, omegaconf" 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    local trainer=${TRAINER:-gpu} batch=${BATCH:-64} runs=${RUNS:-logs/train400_drunet_gpu}
    local seconds=${TRAIN_SECONDS:-220} probe_steps=${PROBE_STEPS:-300}
    rm -rf "$runs"  # a rerun on a warm machine starts clean
    (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no GPU") \
        > "$OUT/gpu.txt" 2>&1
    local common=(
        experiment=train400_drunet "data.data_dir=${TRAIN400:-.gpu-data/train400}" logger=csv
        "trainer=$trainer" "trainer.precision=${PRECISION:-bf16-mixed}" module.channels_last=true
        data.crops_on_device=true model.base_channels=32 "data.patch_size=${PATCH:-96}"
        "data.batch_size=$batch" optimizer.lr=3.0e-4 test=false trainer.benchmark=true
    )
    # shellcheck disable=SC2206  # EXTRA: more overrides, split on spaces (the dry run's)
    common+=(${EXTRA:-})
    # 1. the probe: one short epoch, for the step time (and to fail fast)
    python3 train.py "${common[@]}" "trainer.max_steps=$probe_steps" \
        "data.samples_per_epoch=$((batch * probe_steps))" "hydra.run.dir=$runs/probe"
    cp "$runs/probe/metrics.json" "$OUT/probe_metrics.json"
    local steps
    steps=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(max(10, int(float(sys.argv[2]) / m["seconds_per_step"])))' "$runs/probe/metrics.json" "$seconds")
    echo "probe: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds_per_step"])' \
        "$runs/probe/metrics.json") s/step -> $steps steps in ${seconds} s"
    # 2. the stage: one cosine cycle over those steps, 10 epochs that each end in a validation
    #    (so the end of the decay is validated too); max_time a guard 60 s above the budget
    local epoch_steps=$(((steps + 9) / 10))
    steps=$((epoch_steps * 10))
    local guard=$((seconds + 60))
    python3 train.py "${common[@]}" "trainer.max_steps=$steps" "scheduler.T_max=$steps" \
        trainer.max_epochs=10 "data.samples_per_epoch=$((batch * epoch_steps))" \
        "trainer.max_time=$(printf '00:00:%02d:%02d' $((guard / 60)) $((guard % 60)))" \
        "hydra.run.dir=$runs/stage"
    python3 -m restorelab export --checkpoint "$runs/stage" --format safetensors --dtype float16 \
        -o "$OUT/model.safetensors" --overwrite
    cp "$runs/stage/csv/metrics.csv" "$OUT/metrics.csv"
    cp "$runs/stage/metrics.json" "$OUT/run_metrics.json"
}

evaluate() {
    local folder=${1:?give the folder holding the files brought back from the device}
    local data=${DATA:-../shared/datasets}
    restorelab benchmark --methods "DRUNet-32 GPU (ours)=$folder/model.safetensors" \
        --sets bsd68 set12 --sigmas 15 25 50 --baselines noisy bm3d --root "$data" \
        -o "$HERE/gpu_benchmark" --overwrite
}

case "${1:-}" in
    prepare) prepare ;;
    train) train ;;
    evaluate) shift; evaluate "$@" ;;
    *) echo "usage: bash $HERE/gpu.sh prepare | train | evaluate <folder>" >&2; exit 2 ;;
esac
