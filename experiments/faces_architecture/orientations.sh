#!/usr/bin/env bash
# The LFW write-up's study failed on rotated and flipped faces. This reruns the study's best
# variant (strided U-Net, kernel 3, depth 4, concatenated skips: job depth4/1, chosen on
# validation) with the same budget twice: with the left-right mirroring the faces data uses by
# default, and with the 8 flips and 90-degree rotations (data.augment=d8). Both are scored at
# sigma 25 on the 10 test faces upright, and on the same faces in the 7 other orientations, in
# one `restorelab eval` per set (BM3D beside them, on the same noisy images).
#   OMP_NUM_THREADS=1 bash experiments/faces_architecture/orientations.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/faces_architecture
RUNS=logs/faces_orientations/$(date +%Y-%m-%d_%H-%M-%S)
BEST=(sweep=faces_architecture model.kernel_size=3 model.depth=4 model.skip=concat)
for augment in mirror d8; do
    python train.py "${BEST[@]}" "data.augment=$augment" "hydra.run.dir=$RUNS/$augment"
done

# The test faces (the study's split), upright and in the other 7 orientations, as 8-bit PNGs.
FACES=data/benchmarks/lfw_faces_orientations
python - "$FACES" <<'PY'
import sys
from pathlib import Path
import numpy as np
import torch
from PIL import Image
from restorelab.data.lfw_subset import LFWSubsetDataModule
root = Path(sys.argv[1])
dm = LFWSubsetDataModule(image_size=48)
dm.setup()
for sub in ("upright", "turned"):
    (root / sub).mkdir(parents=True, exist_ok=True)
for name, face in zip(dm.splits["test"], dm.datasets["test"].images):
    for k in range(4):
        for flip in (False, True):
            turned = torch.rot90(face[0], k, dims=(0, 1))
            turned = turned.flip(-1) if flip else turned
            sub = "upright" if (k, flip) == (0, False) else "turned"
            label = f"{name}_rot{90 * k}{'_flip' if flip else ''}.png"
            Image.fromarray(turned.numpy().astype(np.uint8)).save(root / sub / label)
PY
for set in upright turned; do
    restorelab eval "mirror=$RUNS/mirror" "d8=$RUNS/d8" --images "$FACES/$set" --noise gaussian \
        --levels 25 --baselines noisy bm3d --grid 4 --device cpu --overwrite \
        -o "$HERE/orientations/$set"
done
