"""The dataset DataModules against small fixtures in the real on-disk formats (MNIST IDX files,
the LFW tree, the Kaggle dirty-documents folders, SIDD-Small, RENOIR, a folder of mixed image
files), written here; and one fast_dev_run of the training job per data config on disk."""

from __future__ import annotations

import gzip
import logging
import math
import os
import struct
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import torch
from conftest import compose_train, config_files, run_train
from PIL import Image

from restorelab.data import mnist as mnist_module
from restorelab.data.bundled_documents import (
    BundledDocumentsDataModule,
    RandomFlips,
    page_bands,
)
from restorelab.data.dead_leaves import DeadLeavesDataModule, dead_leaves
from restorelab.data.digits import DigitsDataModule
from restorelab.data.documents import DocumentsDataModule
from restorelab.data.files import read_image
from restorelab.data.folder import FolderDataModule
from restorelab.data.lfw import LFWDataModule
from restorelab.data.lfw_subset import LFWSubsetDataModule, load_faces
from restorelab.data.mnist import MNISTDataModule
from restorelab.data.paired import PairedDataModule
from restorelab.data.renoir import RENOIRDataModule
from restorelab.data.sidd import SIDDDataModule
from restorelab.errors import DataError

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------------- fixtures
def smooth_image(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """A blurry random uint8 image: compresses like a photo, unlike white noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), channels), np.uint8)
    image = Image.fromarray(small.squeeze(-1) if channels == 1 else small)
    array = np.asarray(image.resize((width, height), Image.BILINEAR))
    return array


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    """IDX file: magic 2051 (images) or 2049 (labels), then the big-endian dims, then uint8 data."""
    magic = 2051 if array.ndim == 3 else 2049
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    opener = gzip.open if gz else open
    with opener(Path(f"{path}.gz") if gz else path, "wb") as file:
        file.write(data)


def mnist_tree(raw: Path, gz: bool, num_train: int = 40, num_test: int = 10) -> dict:
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (num_train, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": RNG.integers(0, 10, (num_train,), np.uint8),
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (num_test, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": RNG.integers(0, 10, (num_test,), np.uint8),
    }
    for name, array in arrays.items():
        write_idx(raw / name, array, gz)
    return arrays


LFW_PEOPLE = {f"Person_{chr(65 + i)}{'_Jr' if i % 4 == 0 else ''}": 1 + i % 3 for i in range(12)}


def lfw_tree(root: Path, folder: str = "lfw_funneled") -> Path:
    for p, (person, count) in enumerate(LFW_PEOPLE.items()):
        (root / folder / person).mkdir(parents=True, exist_ok=True)
        for k in range(1, count + 1):
            image = smooth_image(250, 250, 3, seed=100 * p + k)
            path = root / folder / person / f"{person}_{k:04d}.jpg"
            Image.fromarray(image).save(path, quality=90)
    return root


def save_pair(noisy_path: Path, clean_path: Path, clean: np.ndarray) -> None:
    # noisy = 255 - clean: a test can tell whether both halves of a batch are the same crop.
    for path, array in ((noisy_path, 255 - clean), (clean_path, clean)):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)


def documents_tree(root: Path, pages: int = 8) -> Path:
    """Tiny pages keeping Kaggle's two sizes (540x258, 540x420) as 54x26 and 54x42."""
    base = root / "denoising-dirty-documents"
    (base / "test").mkdir(parents=True)
    for i in range(1, pages + 1):
        height = 26 if i % 2 else 42
        page = smooth_image(height, 54, 1, seed=i)
        save_pair(base / "train" / f"{i}.png", base / "train_cleaned" / f"{i}.png", page)
        Image.fromarray(255 - page).save(base / "test" / f"{100 + i}.png")
    return base


SIDD_INSTANCES = [
    f"{k + 1:04d}_{scene:03d}_{phone}_00100_00060_3200_L"
    for k, (scene, phone) in enumerate((s, p) for s in range(1, 6) for p in ("S6", "GP"))
]


def sidd_tree(root: Path) -> Path:
    base = root / "SIDD_Small_sRGB_Only"
    for k, instance in enumerate(SIDD_INSTANCES):
        folder = base / "Data" / instance
        clean = smooth_image(40, 56, 3, k)
        save_pair(folder / "NOISY_SRGB_010.PNG", folder / "GT_SRGB_010.PNG", clean)
    return base


# RENOIR's aligned batches, 2 cameras x 3 scenes: Mi3 in the published naming, T3i in lower case
# and PNG. References are clean -/+ 2 (their mean is clean exactly); noisy shot k is
# 255 - clean - 10 k, so a test can tell the shots apart and see that all crops are aligned.
RENOIR_SHOTS = {"Mi3_Aligned": (2, 2, 1), "T3i_Aligned": (2, 3, 2)}


def renoir_clean(seed: int) -> np.ndarray:
    return (20 + smooth_image(40, 48, 3, seed).astype(np.int16) * 180 // 255).astype(np.int16)


def renoir_tree(root: Path) -> Path:
    base = root / "RENOIR"
    for c, (camera, counts) in enumerate(RENOIR_SHOTS.items()):
        for s, count in enumerate(counts):
            lower = camera.startswith("T3i")
            folder = base / camera / f"{'batch' if lower else 'Batch'}_{s + 1:03d}"
            folder.mkdir(parents=True)
            clean = renoir_clean(10 * c + s)
            name = "img_{}{}.png" if lower else "IMG_{}{}.bmp"
            images = {name.format(1, "reference" if lower else "Reference"): clean - 2,
                      name.format(9, "reference" if lower else "Reference"): clean + 2}
            for k in range(count):
                images[name.format(2 + k, "noisy" if lower else "Noisy")] = 255 - clean - 10 * k
            for file, array in images.items():
                Image.fromarray(array.astype(np.uint8)).save(folder / file)
            (folder / "IMG_0000full.bmp").write_bytes(b"not read")  # neither reference nor noisy
    return base


def paired_tree(root: Path) -> tuple[Path, Path]:
    noisy, clean = root / "paired" / "noisy", root / "paired" / "clean"
    for k in range(6):
        name = f"{'indoor' if k % 2 else 'outdoor'}/shot{k}.png"
        save_pair(noisy / name, clean / name, smooth_image(40, 48, 3, k))
    Image.fromarray(smooth_image(40, 48, 3, 9)).save(noisy / "indoor" / "orphan.png")
    return noisy, clean


def png_16bit_rgb(path: Path, array: np.ndarray) -> None:
    """A 48-bit PNG written by hand (Pillow cannot write one)."""
    import zlib

    height, width, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def folder_tree(root: Path) -> Path:
    """Every mode a folder of photos holds, a 16-bit PNG, a truncated JPEG and a tiny image."""
    base = root / "images"
    (base / "sub" / "deeper").mkdir(parents=True)
    rgb = smooth_image(40, 48, 3, 1)
    Image.fromarray(rgb).convert("L").save(base / "gray.png")
    Image.fromarray(rgb).save(base / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(base / "rgba.png")
    Image.fromarray(rgb).convert("P").save(base / "palette.png")
    Image.fromarray(rgb).save(base / "photo.jpg", quality=90)
    Image.fromarray(rgb).save(base / "sub" / "scan.BMP")
    deep = smooth_image(40, 48, 1, 2).astype(np.uint16) * 256 + 1  # not 8-bit values
    Image.fromarray(deep).save(base / "deep16.png")
    png_16bit_rgb(base / "sub" / "color16.png", rgb.astype(np.uint16) * 256 + 3)
    tifffile.imwrite(base / "sub" / "deeper" / "scan16.tif", rgb.astype(np.uint16) * 256)
    Image.fromarray(rgb[:10, :12]).save(base / "tiny.png")
    jpeg = (base / "photo.jpg").read_bytes()
    (base / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (base / "notes.txt").write_text("not an image")
    return base


# ---------------------------------------------------------------------------------- MNIST
@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
@pytest.mark.parametrize(
    ("dataset", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_mnist_reads_the_idx_files(dataset: str, folder: str, gz: bool, tmp_path: Path) -> None:
    arrays = mnist_tree(tmp_path / folder / "raw", gz)
    dm = MNISTDataModule(dataset=dataset, data_dir=str(tmp_path), download=False, val_fraction=0.25)
    dm.prepare_data()
    dm.setup()
    sizes = {split: len(d) for split, d in dm.datasets.items()}
    assert sizes == {"train": 30, "val": 10, "test": 10}
    expected = torch.from_numpy(arrays["t10k-images-idx3-ubyte"]).float() / 255
    assert torch.equal(torch.cat([dm.datasets["test"][i] for i in range(10)]), expected)
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (30, 1, 28, 28) or batch.shape[1:] == (1, 28, 28)
    train_and_val = torch.cat([dm.datasets["train"].images, dm.datasets["val"].images])[:, 0]
    written = torch.from_numpy(arrays["train-images-idx3-ubyte"])
    assert sorted(map(bytes, train_and_val.numpy())) == sorted(map(bytes, written.numpy()))


def test_mnist_pads_resizes_and_copies_channels(tmp_path: Path) -> None:
    mnist_tree(tmp_path / "MNIST" / "raw", gz=False)
    padded = MNISTDataModule(data_dir=str(tmp_path), download=False, image_size=32, channels=3)
    padded.setup()
    image = padded.datasets["test"][0]
    assert image.shape == (3, 32, 32) and image[:, :2].abs().sum() == 0  # black border
    resized = MNISTDataModule(data_dir=str(tmp_path), download=False, image_size=20,
                              resize="resize")
    resized.setup()
    assert resized.datasets["val"][0].shape == (1, 20, 20)
    with pytest.raises(ValueError, match="resize"):
        MNISTDataModule(image_size=20, resize="pad")


def test_mnist_validation_split_is_seeded(tmp_path: Path) -> None:
    mnist_tree(tmp_path / "MNIST" / "raw", gz=False)

    def val_images(seed: int) -> torch.Tensor:
        dm = MNISTDataModule(data_dir=str(tmp_path), download=False, split_seed=seed)
        dm.setup()
        return dm.datasets["val"].images

    assert torch.equal(val_images(0), val_images(0))
    assert not torch.equal(val_images(0), val_images(1))


def test_fashion_mnist_from_the_debian_package_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "usr" / "share" / "datasets" / "fashion-mnist"
    mnist_tree(debian, gz=True)
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION_MNIST", debian)
    dm = MNISTDataModule(dataset="fashion_mnist", data_dir=str(tmp_path / "data"),
                         source="debian", download=False)
    dm.prepare_data()
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    dm.setup()
    assert len(dm.datasets["test"]) == 10
    with pytest.raises(ValueError, match="fashion_mnist"):
        MNISTDataModule(dataset="mnist", source="debian")


# The environment variable points the test at an unpacked copy of the package elsewhere.
DEBIAN_FILES = Path(
    os.environ.get("RESTORELAB_DEBIAN_FASHION_MNIST", mnist_module.DEBIAN_FASHION_MNIST)
)


@pytest.mark.skipif(not DEBIAN_FILES.is_dir(), reason=f"{DEBIAN_FILES} absent "
                    "(Debian package dataset-fashion-mnist not installed)")
def test_fashion_mnist_real_files_from_debian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION_MNIST", DEBIAN_FILES)
    dm = MNISTDataModule(dataset="fashion_mnist", data_dir=str(tmp_path), source="debian",
                         download=False)
    dm.prepare_data()
    dm.setup()
    sizes = {k: len(d) for k, d in dm.datasets.items()}
    assert sizes == {"train": 54000, "val": 6000, "test": 10000}
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (64, 1, 28, 28) and 0.1 < batch.mean() < 0.6


def test_corrupt_idx_files_are_one_data_error(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    mnist_tree(raw, gz=False)
    data = (raw / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(data[: len(data) // 2])
    dm = MNISTDataModule(data_dir=str(tmp_path), download=False)
    with pytest.raises(DataError, match="unreadable"):
        dm.setup()


def test_a_failed_download_is_one_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(mnist_module.MNIST, "download", offline)
    dm = MNISTDataModule(data_dir=str(tmp_path), download=True)
    with pytest.raises(DataError, match="ossci-datasets.s3.amazonaws.com") as error:
        dm.prepare_data()
    assert str(tmp_path / "MNIST" / "raw") in str(error.value)


# ---------------------------------------------------------------------------------- missing data
MISSING = {
    "mnist": (lambda root: MNISTDataModule(data_dir=str(root), download=False),
              ["MNIST/raw", "ossci-datasets", "download=true"]),
    "fashion_mnist": (lambda root: MNISTDataModule("fashion_mnist", str(root), download=False),
                      ["FashionMNIST/raw", "dataset-fashion-mnist", "data.source=debian"]),
    "lfw": (lambda root: LFWDataModule(data_dir=str(root), download=False),
            ["lfw_funneled", "figshare.com/files/5976015", "lfw-funneled.tgz"]),
    "documents": (lambda root: DocumentsDataModule(data_dir=str(root / "ddd")),
                  ["ddd/train", "ddd/train_cleaned",
                   "kaggle.com/competitions/denoising-dirty-documents"]),
    "paired": (lambda root: PairedDataModule(noisy_dir=str(root / "n"), clean_dir=str(root / "c")),
               ["/n", "data.noisy_dir"]),
    "sidd": (lambda root: SIDDDataModule(data_dir=str(root / "SIDD")),
             ["SIDD/Data", "NOISY_SRGB_010.PNG", "abdokamel.github.io/sidd"]),
    "renoir": (lambda root: RENOIRDataModule(data_dir=str(root / "RENOIR")),
               ["RENOIR/<camera>_Aligned/Batch_XXX", "Mi3_Aligned.zip",
                "https://ani.stat.fsu.edu/~abarbu/Renoir.html"]),
    "folder": (lambda root: FolderDataModule(data_dir=str(root / "photos")), ["photos"]),
}


@pytest.mark.parametrize("name", sorted(MISSING))
def test_missing_data_is_one_clear_error(name: str, tmp_path: Path) -> None:
    make, expected = MISSING[name]
    dm = make(tmp_path)
    with pytest.raises(DataError) as error:
        dm.prepare_data()
        dm.setup()
    message = str(error.value)
    for part in [str(tmp_path)] + expected:
        assert part in message, f"{part!r} missing from: {message}"


def test_an_empty_split_is_an_error(tmp_path: Path) -> None:
    base = tmp_path / "images"
    base.mkdir()
    for k in range(3):
        Image.fromarray(smooth_image(40, 40, 1, k)).save(base / f"{k}.png")
    (base / "2.png").write_bytes(b"garbage")  # the only image of one split is unreadable
    dm = FolderDataModule(data_dir=str(base), patch_size=16, eval_size=16, val_fraction=0.34,
                          test_fraction=0.34)
    with pytest.raises(DataError, match="split is empty"):
        dm.setup()


# ---------------------------------------------------------------------------------- LFW
def test_lfw_splits_are_disjoint_by_person_and_deterministic(tmp_path: Path) -> None:
    lfw_tree(tmp_path)
    fractions = {"val_fraction": 0.25, "test_fraction": 0.25}
    dm = LFWDataModule(data_dir=str(tmp_path), download=False, **fractions)
    dm.prepare_data()
    dm.setup()
    train, val, test = (set(dm.splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(LFW_PEOPLE)
    assert len(dm.datasets["train"]) == sum(LFW_PEOPLE[p] for p in train)
    assert dm.datasets["test"][0].shape == (1, 48, 48)
    again = LFWDataModule(data_dir=str(tmp_path), download=False, **fractions)
    again.setup()
    assert again.splits == dm.splits
    other = LFWDataModule(data_dir=str(tmp_path), download=False, split_seed=1, **fractions)
    other.setup()
    assert other.splits != dm.splits


def test_lfw_original_variant_at_128_rgb_in_torchvisions_folder(tmp_path: Path) -> None:
    lfw_tree(tmp_path / "lfw-py", folder="lfw")
    dm = LFWDataModule(data_dir=str(tmp_path), variant="original", download=False, channels=3,
                       image_size=128, batch_size=4)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (4, 3, 128, 128) and batch.std() > 0.01


def test_lfw_subset_faces_only_split_by_image_without_overlap() -> None:
    dm = LFWSubsetDataModule(batch_size=8, samples_per_epoch=24)
    dm.setup()
    train, val, test = (dm.splits[k] for k in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert len(set(train) | set(val) | set(test)) == 100  # the 100 faces, no non-face
    # The faces themselves, not only their names: no test face is a training face.
    stacks = {k: dm.datasets[k].images.flatten(1) for k in ("train", "val", "test")}
    assert torch.cdist(stacks["test"].float(), stacks["train"].float()).min() > 0
    faces = load_faces()
    assert faces.shape == (100, 25, 25)
    assert faces.std() > 0.1
    assert dm.datasets["val"][0].shape == (1, 48, 48)
    batches = list(dm.train_dataloader())
    assert [tuple(b.shape) for b in batches] == [(8, 1, 48, 48)] * 3  # samples_per_epoch faces
    assert 0 <= min(b.min() for b in batches) and max(b.max() for b in batches) <= 1
    again = LFWSubsetDataModule(channels=3, image_size=128)
    again.setup()
    assert again.splits == dm.splits
    face = again.datasets["test"][0]
    assert face.shape == (3, 128, 128) and torch.equal(face[0], face[2])
    other = LFWSubsetDataModule(split_seed=1)
    other.setup()
    assert other.splits["test"] != dm.splits["test"]


def test_lfw_subset_flips_training_faces_only() -> None:
    dm = LFWSubsetDataModule(image_size=25)
    dm.setup()
    train = dm.datasets["train"]
    original = train.images[0].float() / 255
    torch.manual_seed(0)
    draws = [train[0] for _ in range(40)]
    assert any(torch.equal(d, original) for d in draws)
    assert any(torch.equal(d, original.flip(-1)) for d in draws)
    assert all(torch.equal(dm.datasets["val"][0], dm.datasets["val"][0]) for _ in range(5))


def test_lfw_subset_d8_turns_training_faces_into_all_8_orientations() -> None:
    dm = LFWSubsetDataModule(image_size=25, augment="d8")
    dm.setup()
    original = dm.datasets["train"].images[0].float() / 255
    orientations = [torch.rot90(original, k, dims=(-2, -1)) for k in range(4)]
    orientations += [o.flip(-1) for o in orientations]
    torch.manual_seed(0)
    seen = {next(i for i, o in enumerate(orientations) if torch.equal(draw, o))
            for draw in (dm.datasets["train"][0] for _ in range(200))}
    assert seen == set(range(8))  # every draw is one of the 8, and all 8 come
    upright = LFWSubsetDataModule(image_size=25)  # the default mirrors only
    upright.setup()
    assert torch.equal(upright.datasets["test"][0], dm.datasets["test"][0])  # test stays upright
    with pytest.raises(ValueError, match="augment must be one of"):
        LFWSubsetDataModule(augment="rotate")


# ---------------------------------------------------------------------------------- real noise
def test_documents_crop_both_pages_alike_and_score_whole_pages(tmp_path: Path) -> None:
    base = documents_tree(tmp_path)
    dm = DocumentsDataModule(data_dir=str(base), patch_size=16, batch_size=8)
    dm.prepare_data()
    dm.setup()
    noisy, clean = next(iter(dm.train_dataloader()))
    assert noisy.shape == clean.shape == (8, 1, 16, 16)
    assert torch.allclose(noisy + clean, torch.ones_like(noisy))  # the same crop and rotation
    pages = [(n, c) for split in ("val", "test") for n, c in dm._loader(split)]
    assert all(n.shape[0] == 1 for n, _ in pages)  # one whole page per batch
    assert {tuple(n.shape[-2:]) for n, _ in pages} <= {(26, 54), (42, 54)}
    all_pages = sorted(dm.splits["train"] + dm.splits["val"] + dm.splits["test"])
    assert all_pages == sorted(f"{i}.png" for i in range(1, 9))


def test_documents_unpack_kaggles_zips(tmp_path: Path) -> None:
    import shutil
    import zipfile

    base = documents_tree(tmp_path)
    for folder in ("train", "train_cleaned"):
        with zipfile.ZipFile(base / f"{folder}.zip", "w") as archive:
            for path in sorted((base / folder).iterdir()):
                archive.write(path, f"{folder}/{path.name}")
        shutil.rmtree(base / folder)
    dm = DocumentsDataModule(data_dir=str(base), patch_size=16)
    dm.prepare_data()
    dm.setup()
    assert len(dm.splits["train"]) > 0


def test_sidd_splits_by_scene_and_tiles_evaluation(tmp_path: Path) -> None:
    base = sidd_tree(tmp_path)
    dm = SIDDDataModule(data_dir=str(base), patch_size=16, eval_size=16, eval_tiles=3,
                        val_fraction=0.2, test_fraction=0.2, batch_size=4)
    dm.setup()
    scenes = {k: {name.split("_")[1] for name in names} for k, names in dm.splits.items()}
    assert not (scenes["train"] & scenes["val"] or scenes["train"] & scenes["test"]
                or scenes["val"] & scenes["test"])
    assert len(dm.datasets["val"]) == 3 * len(dm.splits["val"])  # 6 tiles fit, 3 kept
    noisy, clean = next(iter(dm.val_dataloader()))
    assert noisy.shape[1:] == (3, 16, 16) and torch.allclose(noisy + clean, torch.ones_like(noisy))


def _scene(shot: str) -> str:
    return shot.rsplit("/", 1)[0]


def test_renoir_reads_the_aligned_batches_and_splits_by_scene(tmp_path: Path) -> None:
    base = renoir_tree(tmp_path)
    # strict: the *full.bmp files (garbage here) would be an error if they were read.
    dm = RENOIRDataModule(data_dir=str(base), patch_size=16, eval_size=32, eval_tiles=2,
                          batch_size=4, strict=True)
    dm.setup()
    scenes = {split: {_scene(n) for n in names} for split, names in dm.splits.items()}
    assert not (scenes["train"] & scenes["val"] or scenes["train"] & scenes["test"]
                or scenes["val"] & scenes["test"])
    assert sum(len(n) for n in dm.splits.values()) == sum(map(sum, RENOIR_SHOTS.values()))
    assert len(set().union(*scenes.values())) == 6
    assert {s.split("/")[0] for s in set().union(*scenes.values())} == set(RENOIR_SHOTS)
    # Supervised pairs: one aligned crop of a shot and of the mean of the references (clean
    # exactly, so noisy + clean is 255 - 10 k everywhere).
    noisy, clean = next(iter(dm.train_dataloader()))
    assert noisy.shape == clean.shape == (4, 3, 16, 16)
    total = ((noisy + clean) * 255).round()
    assert torch.equal(total, total[:, :1, :1, :1].expand_as(total))
    assert set(total[:, 0, 0, 0].tolist()) <= {255.0, 245.0, 235.0}
    # Evaluation: every noisy shot of a scene against its reference.
    val = dm.datasets["val"]
    assert len(val) == len(dm.splits["val"])  # one 32x32 tile per 40x48 scene, per shot
    sums = {float(((n + c) * 255).round().mean()) for n, c in (val[i] for i in range(len(val)))}
    assert sums <= {255.0, 245.0, 235.0} and len(sums) == len(val)
    one = RENOIRDataModule(data_dir=str(base), cameras=["T3i"], patch_size=16, eval_size=32)
    one.setup()
    assert {n.split("/")[0] for names in one.splits.values() for n in names} == {"T3i_Aligned"}
    with pytest.raises(DataError, match="no scene in the cameras") as error:
        RENOIRDataModule(data_dir=str(base), cameras=["S90_Aligned"]).setup()
    assert "\n" not in str(error.value) and "Renoir.html" in str(error.value)


def test_renoir_noise2noise_pairs_two_different_shots_of_one_scene(tmp_path: Path) -> None:
    base = renoir_tree(tmp_path)
    keys = {"data_dir": str(base), "patch_size": 16, "eval_size": 32, "batch_size": 8}
    # A split seed that puts the scene with one noisy shot (Mi3 Batch_003) into training.
    seed = next(k for k in range(50) if any(
        n.startswith("Mi3_Aligned/Batch_003") for n in _setup(RENOIRDataModule(
            **keys, split_seed=k)).splits["train"]))
    dm = _setup(RENOIRDataModule(**keys, split_seed=seed, target="noisy"))
    assert dm.pair_target == "noisy"
    assert not any(n.startswith("Mi3_Aligned/Batch_003") for n in dm.splits["train"])
    first, second = next(iter(dm.train_dataloader()))
    difference = ((first - second) * 255).round()  # 10 (k_b - k_a): aligned, never 0
    assert torch.equal(difference, difference[:, :1, :1, :1].expand_as(difference))
    assert (difference[:, 0, 0, 0].abs() >= 10).all()
    noisy, clean = dm.datasets["test"][0]  # evaluation still scores against the reference
    assert set(((noisy + clean) * 255).round().unique().tolist()) <= {255.0, 245.0, 235.0}
    with pytest.raises(ValueError, match="target must be one of"):
        RENOIRDataModule(target="clean")


def _setup(dm: RENOIRDataModule) -> RENOIRDataModule:
    dm.setup()
    return dm


@pytest.mark.parametrize(("objective", "target"), [("supervised", "reference"),
                                                   ("noise2noise", "noisy")])
def test_renoir_trains_supervised_and_with_noise2noise(
    objective: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restorelab import objectives

    seen: list[float] = []
    chosen = getattr(objectives, {"supervised": "Supervised", "noise2noise": "Noise2Noise"}[
        objective])
    forward = chosen.forward

    def recording(self: Any, step: Any) -> torch.Tensor:
        first, second = step.batch
        seen.append(float(((first + second) if target == "reference" else (first - second))
                          .mul(255).round().abs().amin()))
        return forward(self, step)

    monkeypatch.setattr(chosen, "forward", recording)
    root = tmp_path / "data"
    renoir_tree(root)
    result = run_train(tmp_path, ["data=renoir", f"paths.data_dir={root}", "debug=fdr",
                                  f"objective={objective}", f"data.target={target}",
                                  "data.patch_size=16", "data.eval_size=32",
                                  "data.samples_per_epoch=8"])
    assert result["status"] == "completed" and result["global_step"] == 1
    assert math.isfinite(result["test/psnr"]) and math.isfinite(result["test/psnr_noisy"])
    # The step saw (noisy, reference) pairs (sum 235-255) or two different shots (|a - b| >= 10).
    assert seen and (min(seen) >= 235 if target == "reference" else min(seen) >= 10)


def test_paired_folders_match_by_relative_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    noisy_dir, clean_dir = paired_tree(tmp_path)
    dm = PairedDataModule(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), patch_size=16,
                          eval_size=None, val_fraction=0.2, test_fraction=0.2)
    with caplog.at_level(logging.WARNING):
        dm.setup()
    assert sum(len(v) for v in dm.splits.values()) == 6
    warnings = [r.getMessage() for r in caplog.records if "unmatched" in r.getMessage()]
    assert len(warnings) == 1 and "orphan.png" in warnings[0]
    noisy, clean = dm.datasets["test"][0]
    assert noisy.shape == (3, 40, 48) and torch.allclose(noisy + clean, torch.ones_like(noisy))
    strict = PairedDataModule(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), strict=True)
    with pytest.raises(DataError, match="orphan.png"):
        strict.setup()


# ---------------------------------------------------------------------------------- folder
def test_reading_keeps_16_bits_and_converts_modes(tmp_path: Path) -> None:
    base = folder_tree(tmp_path)
    deep = read_image(base / "deep16.png", 1)
    assert deep.dtype == torch.uint16 and (deep.numpy() % 256 == 1).all()
    color = read_image(base / "sub" / "color16.png", 3)
    assert color.dtype == torch.uint16 and (color.numpy() % 256 == 3).all()
    assert read_image(base / "sub" / "deeper" / "scan16.tif", 3).dtype == torch.uint16
    for name in ("gray.png", "rgb.png", "rgba.png", "palette.png", "photo.jpg", "sub/scan.BMP"):
        for channels in (1, 3):
            image = read_image(base / name, channels)
            assert image.shape == (channels, 40, 48) and image.dtype == torch.uint8, name
    rgb = read_image(base / "rgb.png", 1).float()
    assert (rgb - read_image(base / "gray.png", 1).float()).abs().max() <= 1  # the same luma


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_skips_the_truncated_jpeg_with_one_warning(
    channels: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = folder_tree(tmp_path)
    dm = FolderDataModule(data_dir=str(base), channels=channels, patch_size=16, eval_size=16,
                          batch_size=4)
    with caplog.at_level(logging.WARNING):
        dm.setup()
    names = dm.splits["train"] + dm.splits["val"] + dm.splits["test"]
    assert len(names) == 10 and "broken.jpg" not in names  # 11 images, one unreadable
    unreadable = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(unreadable) == 1 and "skipped 1" in unreadable[0] and "broken.jpg" in unreadable[0]
    small = [r.getMessage() for r in caplog.records if "smaller than" in r.getMessage()]
    assert len(small) == 1 and "tiny.png" in small[0]  # padded, said once
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (4, channels, 16, 16) and 0 <= batch.min() and batch.max() <= 1
    strict = FolderDataModule(data_dir=str(base), patch_size=16, eval_size=16, strict=True)
    with pytest.raises(DataError, match="broken.jpg"):
        strict.setup()


def test_folder_skips_small_images_when_asked(tmp_path: Path) -> None:
    base = folder_tree(tmp_path)
    dm = FolderDataModule(data_dir=str(base), patch_size=16, eval_size=16, small_images="skip",
                          val_fraction=0.3, test_fraction=0.3)
    dm.setup()
    names = dm.splits["train"] + dm.splits["val"] + dm.splits["test"]
    assert "tiny.png" not in names and len(names) == 9


def test_folder_split_is_seeded_and_stable(tmp_path: Path) -> None:
    base = folder_tree(tmp_path)

    def splits(seed: int, recursive: bool = True) -> dict[str, list[str]]:
        dm = FolderDataModule(data_dir=str(base), patch_size=16, eval_size=16, split_seed=seed,
                              recursive=recursive)
        dm.setup()
        return dm.splits

    first = splits(0)
    assert first == splits(0)
    assert first != splits(3)
    assert not any("/" in name for names in splits(0, recursive=False).values() for name in names)


# ---------------------------------------------------------------------------------- dead leaves
def test_dead_leaves_are_deterministic_by_seed() -> None:
    def draw(seed: int, **options) -> torch.Tensor:
        return dead_leaves(48, seed=seed, **options)

    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))
    assert torch.equal(draw(5, channels=3, textured=True), draw(5, channels=3, textured=True))
    image = draw(2, channels=3).float()
    assert image.shape == (3, 48, 48) and image.std() > 20  # many disks, not one flat color
    assert len(torch.unique(draw(2).flatten())) > 5


def test_dead_leaves_fixed_evaluation_sets() -> None:
    def module(seed: int) -> DeadLeavesDataModule:
        dm = DeadLeavesDataModule(patch_size=32, eval_size=32, val_images=3, test_images=3,
                                  seed=seed)
        dm.setup()
        return dm

    first, again, other = module(0), module(0), module(1)
    assert torch.equal(first.datasets["val"].images, again.datasets["val"].images)
    assert not torch.equal(first.datasets["val"].images, first.datasets["test"].images)
    assert not torch.equal(first.datasets["val"].images, other.datasets["val"].images)
    batch = next(iter(first.train_dataloader()))
    assert batch.shape == (16, 1, 32, 32) and 0 <= batch.min() and batch.max() <= 1


def test_dead_leaves_mixed_with_photos_scores_whole_photographs() -> None:
    dm = DeadLeavesDataModule(patch_size=32, eval_size=None, mix_natural=0.5, batch_size=4)
    dm.setup()
    shapes = {tuple(batch.shape) for batch in dm.val_dataloader()}
    # One whole photograph per batch, whatever their sizes (coffee 400x600, the other 512x512).
    assert shapes == {(1, 1, 400, 600), (1, 1, 512, 512)}
    with pytest.raises(ValueError, match="mix_natural > 0"):
        DeadLeavesDataModule(eval_size=None, mix_natural=0.0)


# ---------------------------------------------------------------------------------- digits
def test_digits_are_scaled_resized_and_split_by_image() -> None:
    from sklearn.datasets import load_digits

    dm = DigitsDataModule(interpolation="nearest", batch_size=32)
    dm.setup()
    sizes = {split: len(d) for split, d in dm.datasets.items()}
    assert sizes == {"train": 1257, "val": 270, "test": 270}
    train, val, test = (set(dm.splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == 1797
    # Each item is the digit its name says: nearest upsampling repeats each 8x8 pixel 4x4 times.
    originals = torch.from_numpy(load_digits().images).float()
    for k in (0, 133, 269):
        name = dm.splits["test"][k]
        expected = (originals[int(name.removeprefix("digit"))] / 16 * 255).round() / 255
        expected = expected.repeat_interleave(4, 0).repeat_interleave(4, 1)
        assert torch.allclose(dm.datasets["test"][k][0], expected, atol=1e-6), name
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (32, 1, 32, 32) and batch.dtype == torch.float32
    assert batch.min() == 0 and batch.max() == 1  # ink reaches the top level, background is 0


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_digits_smooth_upsampling_stays_in_range(interpolation: str) -> None:
    dm = DigitsDataModule(image_size=40, channels=3, interpolation=interpolation)
    dm.setup()
    images = dm.datasets["val"].images.float() / 255  # every val digit, stored as 8 bits
    assert images.shape == (270, 3, 40, 40)
    assert torch.equal(images[:, 0], images[:, 2])  # gray copied to RGB
    assert images.min() == 0 and images.max() == 1  # bicubic overshoot clipped, not wrapped
    assert len(torch.unique(images)) > 17  # smooth ramps, not the 17 original levels
    with pytest.raises(ValueError, match="interpolation"):
        DigitsDataModule(interpolation="lanczos")


def test_digits_split_is_seeded() -> None:
    def splits(seed: int) -> dict[str, list[str]]:
        dm = DigitsDataModule(split_seed=seed)
        dm.setup()
        return dm.splits

    assert splits(0) == splits(0)
    assert splits(0)["test"] != splits(1)["test"]


def test_digits_training_order_is_drawn_anew_each_epoch() -> None:
    dm = DigitsDataModule(batch_size=16)
    dm.setup()
    first, second = (next(iter(dm.train_dataloader())) for _ in range(2))
    assert not torch.equal(first, second)
    val_first, val_second = (next(iter(dm.val_dataloader())) for _ in range(2))
    assert torch.equal(val_first, val_second)  # evaluation images are fixed


def test_digits_without_scikit_learn_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(DataError, match="pip install scikit-learn"):
        DigitsDataModule().setup()


# ------------------------------------------------------------------------- bundled documents
def test_bundled_document_splits_share_no_pixel() -> None:
    import skimage.data

    dm = BundledDocumentsDataModule(patch_size=40, eval_rows=40, samples_per_epoch=64)
    dm.setup()
    for name in ("page", "text"):
        page = getattr(skimage.data, name)()
        bands = page_bands(page.shape[0], 40)
        rows = [set(range(*bands[split])) for split in ("train", "val", "test")]
        assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
        assert set().union(*rows) == set(range(page.shape[0]))  # every row has one split
        for split, (start, stop) in bands.items():
            band = torch.from_numpy(page[start:stop])
            assert torch.equal(dm.band(name, split)[0], band), (name, split)
    # Every evaluation tile is found, pixel for pixel, in its own band of a page and nowhere in
    # the other splits' bands (page and text are distinct enough for exact matches).
    def where(tile: torch.Tensor) -> set[str]:
        tile8 = (tile[0] * 255).round().to(torch.uint8)
        found = set()
        for name in ("page", "text"):
            for split in ("train", "val", "test"):
                band = dm.band(name, split)[0]
                windows = band.unfold(0, 40, 1).unfold(1, 40, 1)  # (rows, cols, 40, 40)
                if (windows == tile8).all(-1).all(-1).any():
                    found.add(split)
        return found

    for split in ("val", "test"):
        tiles = dm.datasets[split]
        assert len(tiles) == 384 // 40 + 448 // 40
        assert all(where(tiles[i]) == {split} for i in range(len(tiles)))
    # Training crops come from the train bands only: their rows never reach the eval bands.
    torch.manual_seed(0)
    train_rows = {name: page_bands(getattr(skimage.data, name)().shape[0], 40)["train"][1]
                  for name in ("page", "text")}
    assert min(train_rows.values()) >= 40  # room for a crop
    crops = [dm.datasets["train"][i] for i in range(8)]
    assert all(crop.shape == (1, 40, 40) for crop in crops)
    found = [where(crop) for crop in crops]
    assert all(f <= {"train"} for f in found)  # a flipped crop may match no window at all
    assert sum(f == {"train"} for f in found) >= 1  # ~1 in 4 is unflipped


def test_bundled_documents_flip_but_never_rotate_and_check_their_arguments() -> None:
    dm = BundledDocumentsDataModule(patch_size=32, eval_rows=32, samples_per_epoch=256,
                                    channels=3)
    dm.setup()
    torch.manual_seed(0)
    crops = torch.stack([dm.datasets["train"][i] for i in range(256)])
    assert crops.shape == (256, 3, 32, 32)
    assert torch.equal(crops[:, 0], crops[:, 2])  # gray copied to RGB
    # On an asymmetric image, RandomFlips gives exactly its four flips, never a rotation.
    image = torch.arange(12.0).view(1, 3, 4)
    flips = RandomFlips([image])
    seen = {tuple(flips[0].flatten().tolist()) for _ in range(64)}
    expected = {tuple(v.flatten().tolist()) for v in
                (image, image.flip(-1), image.flip(-2), image.flip(-1).flip(-2))}
    assert seen == expected
    # Hydra passes a ListConfig: the saved hyperparameters must stay loadable weights-only.
    import io

    from omegaconf import OmegaConf

    hparams = BundledDocumentsDataModule(pages=OmegaConf.create(["text"])).hparams
    buffer = io.BytesIO()
    torch.save({"datamodule_hyper_parameters": dict(hparams)}, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["datamodule_hyper_parameters"]["pages"] == ["text"]
    with pytest.raises(ValueError, match="eval_rows"):
        BundledDocumentsDataModule(eval_rows=90).setup()  # text has 172 rows: none left to train
    with pytest.raises(ValueError, match="pages"):
        BundledDocumentsDataModule(pages=["camera"])
    with pytest.raises(ValueError, match="channels"):
        BundledDocumentsDataModule(channels=2)


# ---------------------------------------------------------------------------------- training
# Per data config: the fixture it reads (under <tmp>/data, the run's data_dir) and small sizes.
def train400_tree(root: Path) -> Path:
    """Train400's layout, <data_dir>/benchmarks/train400/test_001.png ... test_400.png, as small
    gray crops (the set is checked by its full file list)."""
    base = root / "benchmarks" / "train400"
    base.mkdir(parents=True)
    for i in range(1, 401):
        Image.fromarray(smooth_image(40, 40, 1, i).reshape(40, 40)).save(base / f"test_{i:03d}.png")
    return base


def streaming_tree(root: Path) -> Path:
    """LitData shards (data=streaming) written from the folder fixture by `write_shards`."""
    pytest.importorskip("litdata", reason="data=streaming needs restorelab[streaming]")
    from restorelab.data.streaming import write_shards

    folder_tree(root)
    (root / "images" / "photo.jpg").unlink()  # the truncated JPEG is the folder test's own case
    write_shards(root / "images", root / "shards", num_workers=1)
    return root / "shards"


FAST_DATA = {
    "train400": (train400_tree, ["data.patch_size=32", "data.val_images=4"]),
    "mnist": (lambda root: mnist_tree(root / "MNIST" / "raw", gz=True), ["data.download=false"]),
    "fashion_mnist": (lambda root: mnist_tree(root / "FashionMNIST" / "raw", gz=False),
                      ["data.download=false"]),
    "lfw": (lfw_tree, ["data.download=false", "data.image_size=32"]),
    "lfw_subset": (lambda root: None, ["data.image_size=32"]),  # bundled with scikit-image
    "documents": (documents_tree, ["data.patch_size=16"]),
    "paired": (paired_tree, ["data.patch_size=16", "data.eval_size=32"]),
    "sidd": (sidd_tree, ["data.patch_size=16", "data.eval_size=32", "data.eval_tiles=2"]),
    "renoir": (renoir_tree, ["data.patch_size=16", "data.eval_size=32", "data.eval_tiles=2"]),
    "folder": (folder_tree, ["data.patch_size=16", "data.eval_size=32"]),
    "lazy_folder": (folder_tree, ["data.patch_size=16", "data.eval_size=32", "data.num_workers=0"]),
    "streaming": (streaming_tree, ["data.patch_size=16", "data.eval_size=32", "data.num_workers=0",
                                   "data.patches_per_image=2", "data.batch_size=4"]),
    "dead_leaves": (lambda root: None, ["data.patch_size=32", "data.eval_size=32",
                                        "data.val_images=4", "data.test_images=4"]),
    "natural_dead_leaves": (lambda root: None, ["data.patch_size=32", "data.eval_size=64"]),
    "digits": (lambda root: None, ["data.batch_size=16"]),  # bundled with scikit-learn
    "bundled_documents": (lambda root: None, ["data.patch_size=32", "data.eval_rows=32"]),
}
DATA_CONFIGS = [name for name in config_files("data") if name != "natural"]  # natural: the spine's


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_fast_dev_run_every_data_config(name: str, tmp_path: Path) -> None:
    if name not in FAST_DATA:
        pytest.fail(f"conf/data/{name}.yaml has no fixture: add one to FAST_DATA")
    write, overrides = FAST_DATA[name]
    root = tmp_path / "data"  # compose_train points paths.data_dir here
    root.mkdir()
    write(root)
    # Streamed data has no samples_per_epoch: an epoch is one pass over the shards.
    epoch = [] if name == "streaming" else ["data.samples_per_epoch=8"]
    result = run_train(tmp_path, [f"data={name}", f"paths.data_dir={root}", "debug=fdr",
                                  *epoch, *overrides])
    assert result["status"] == "completed"
    assert math.isfinite(result["test/psnr"]) and math.isfinite(result["test/psnr_noisy"])


@pytest.mark.parametrize("name", config_files("experiment"))
def test_fast_dev_run_every_experiment(name: str, tmp_path: Path) -> None:
    # An experiment is a recipe over a dataset: run it on that dataset's fixture.
    data = compose_train(tmp_path, [f"experiment={name}"]).hydra.runtime.choices["data"]
    root = tmp_path / "data"
    root.mkdir()
    overrides = []
    if data != "natural":
        write, overrides = FAST_DATA[data]
        write(root)
    result = run_train(tmp_path, [f"experiment={name}", f"paths.data_dir={root}", "debug=fdr",
                                  *overrides])
    assert result["status"] == "completed"
    assert math.isfinite(result["test/psnr"])
