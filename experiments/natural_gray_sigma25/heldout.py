"""Write the held-out gray test photographs of the reference denoisers as 8-bit PNGs.

    python experiments/natural_gray_sigma25/heldout.py data/heldout_gray

Four photographs that no reference model was trained or selected on:
- gravel, hubble_deep_field, moon: the test split of `data=natural` (split_seed 0), the same
  images the embedded default is tested on;
- grace_hopper: the portrait shipped with matplotlib's sample data (600 x 512 JPEG), a face and
  fabric, a kind of content absent from the training photographs.
Color images become gray with the ITU-R BT.601 luma of `data=natural`, rounded to 8 bits.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from restorelab.data.natural import NaturalImagesDataModule, load_skimage_image, to_channels


def test_split() -> list[str]:
    """The photographs `data=natural` (gray, default split) keeps for test, read from the module."""
    data = NaturalImagesDataModule(channels=1, eval_size=None)
    data.setup()
    return list(data.splits["test"])


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = {name: load_skimage_image(name) for name in test_split()}
    images["grace_hopper"] = grace_hopper()
    for name, image in images.items():
        gray = to_channels(image, 1)[0].numpy()
        Image.fromarray(gray).save(out / f"{name}.png")
        print(f"{out / name}.png  {gray.shape[1]} x {gray.shape[0]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
