"""`data.crops_on_device`: training crops cut on the device in one gather, from the distribution
`RandomPatches` draws in Python (image by area, uniform position, the 8 flips and rotations)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from conftest import run_train
from restorelab.data.device_crops import DeviceCrops
from restorelab.data.patches import RandomPatches
from test_datasets import train400_tree


def d8(window: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips and rotations of a `[C, p, p]` window."""
    turns = [torch.rot90(window, k, dims=(1, 2)) for k in range(4)]
    return turns + [t.flip(-1) for t in turns]


def test_device_crops_are_windows_of_the_images_in_all_eight_orientations() -> None:
    torch.manual_seed(0)
    # Two sizes (the stack is padded to the larger): a crop must never reach into the padding.
    images = [torch.randint(0, 256, (1, 9, 7), dtype=torch.uint8),
              torch.randint(0, 256, (1, 6, 12), dtype=torch.uint8)]
    p = 4
    patches = RandomPatches(images, p, length=10)
    crops = DeviceCrops(patches)(3000, "cpu")
    assert crops.shape == (3000, 1, p, p) and crops.dtype == torch.float32
    assert 0 <= float(crops.min()) and float(crops.max()) <= 1
    # Every window of every image in each orientation, as bytes, mapped to
    # (image, orientation, top, left).
    known: dict[bytes, set[tuple[int, int, int, int]]] = {}
    for k, image in enumerate(images):
        h, w = image.shape[-2:]
        for top in range(h - p + 1):
            for left in range(w - p + 1):
                window = image[:, top : top + p, left : left + p]
                for o, view in enumerate(d8(window)):
                    known.setdefault(view.numpy().tobytes(), set()).add((k, o, top, left))
    as_bytes = (crops * 255).round().to(torch.uint8)
    found = [known.get(crop.numpy().tobytes()) for crop in as_bytes]
    assert all(found), "a crop is not a window of the images (padding read, or a wrong gather)"
    per_image = [sum(1 for f in found if {i for i, *_ in f} == {k}) for k in (0, 1)]
    # Drawn by area: 63 and 72 pixels, so about 47 % and 53 % of the crops.
    assert 0.40 < per_image[0] / sum(per_image) < 0.53
    unique = [next(iter(f)) for f in found if len(f) == 1]
    assert {o for _, o, _, _ in unique} == set(range(8))
    # Every corner of both images is drawn (the last row and column of corners included).
    corners = {(k, t, left) for k, image in enumerate(images)
               for t in range(image.shape[-2] - p + 1) for left in range(image.shape[-1] - p + 1)}
    assert {(k, t, left) for k, _, t, left in unique} == corners


def test_without_augmentation_crops_keep_their_orientation() -> None:
    image = torch.arange(64, dtype=torch.uint8).view(1, 8, 8)
    crops = DeviceCrops(RandomPatches([image], 3, length=4, augment=False))(200, "cpu")
    steps = (crops * 255).round()
    # Row-major arange: +1 to the right and +8 downwards in every crop, never turned.
    assert torch.all(steps[..., 1:] - steps[..., :-1] == 1)
    assert torch.all(steps[..., 1:, :] - steps[..., :-1, :] == 8)


def test_train400_trains_on_crops_cut_on_the_device(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    train400_tree(root)
    result = run_train(tmp_path, [
        "data=train400", f"paths.data_dir={root}", "data.patch_size=32", "data.val_images=4",
        "data.samples_per_epoch=16", "data.batch_size=4", "data.crops_on_device=true",
        "debug=fdr",
    ])
    assert result["status"] == "completed"
    assert math.isfinite(result["test/psnr"])
