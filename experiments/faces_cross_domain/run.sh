#!/usr/bin/env bash
# Does a faces-trained denoiser learn faces, or only Gaussian noise? The faces write-up concludes
# its model "learned how to remove gaussian distributed noise and not necessarily how to
# reconstruct faces". One call scores a faces-trained and a photographs-trained net, each on held-
# out faces and on BSD68, at sigma 25 with the literature's protocol, beside BM3D.
# Needs a finished `bash experiments/faces_architecture/run.sh` (its best variant is the faces
# net) and BSD68 in ../shared/datasets/ (or DATA=<folder holding bsd68/>). A few minutes.
#   bash experiments/faces_cross_domain/run.sh [FACES_STUDY_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/faces_cross_domain
DATA=${DATA:-../shared/datasets}
STUDY=${1:-$(ls -d logs/sweep_faces_architecture/multiruns/*/ | sort | tail -1)}
FACES=data/benchmarks/lfw_faces_test

# 1. the faces net: the study's best variant on validation, exported with its config
best=$(python - "$STUDY" <<'PY'
import sys
from pathlib import Path

from restorelab.report import collect

runs = [r for r in collect(Path(sys.argv[1])).runs if r["overrides"].get("model.down") == "strided"]
print(Path(sys.argv[1]) / max(runs, key=lambda r: r["best_val/psnr"])["job"])
PY
)
echo "faces net: $best"
restorelab export --checkpoint "$best" --format safetensors -o $HERE/faces_unet.safetensors --overwrite

# 2. its held-out test faces (the same split, 48 x 48 gray), as 8-bit PNGs: a set of its own
python - "$best" "$FACES" <<'PY'
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from restorelab.codec import ImageFile, write_image_file
from restorelab.evaluation.sources import images_from_datamodule

run, out = Path(sys.argv[1]), Path(sys.argv[2])
data = OmegaConf.to_container(OmegaConf.load(run / ".hydra" / "config.yaml").data, resolve=True)
out.mkdir(parents=True, exist_ok=True)
for image in images_from_datamodule({**data, "num_workers": 0}, "test"):
    pixels = image.clean.permute(1, 2, 0).numpy().astype(np.float32)
    write_image_file(out / f"{Path(image.name).stem}.png", ImageFile(pixels, None, 8))
print(f"{len(list(out.glob('*.png')))} test faces in {out}")
PY

# 3. both nets on both sets, one call, every method on the very same noisy images
restorelab benchmark \
    --methods "faces U-Net (LFW faces)=$HERE/faces_unet.safetensors" \
              "photographs U-Net (natural_gray_sigma25)=experiments/natural_gray_sigma25/model.safetensors" \
    --sets "faces=$FACES" bsd68 --sigmas 25 --baselines noisy bm3d --root "$DATA" \
    -o $HERE/benchmark --overwrite
