"""Benchmarks against the literature: the KAIR/DPIR protocol, the named sets and their errors,
the published table, the published DnCNN weights, the benchmark job end to end, Train400."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch import nn

from restorelab.benchmarks import sets as sets_module
from restorelab.benchmarks.job import BenchmarkConfig, load_config, load_sets, run_benchmark
from restorelab.benchmarks.methods import Method, OutputCache
from restorelab.benchmarks.protocol import (
    FloatProtocol,
    LiteratureProtocol,
    literature_noisy,
    psnr_uint8,
    ssim_uint8,
    to_uint8,
)
from restorelab.benchmarks.published import PUBLISHED, published_rows
from restorelab.benchmarks.sets import Archive, BenchmarkSet, get_set, read_uint8
from restorelab.errors import DataError, RestoreLabError
from restorelab.models.dncnn import DnCNN
from restorelab.published_weights import load_published_dncnn

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = SHARED / "datasets"
WEIGHTS = SHARED / "reference-weights" / "dncnn_sigma25.safetensors"


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def random_uint8(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --------------------------------------------------------------------------------- protocol
@pytest.mark.parametrize("shape", [(31, 17, 1), (12, 20, 3)])
def test_literature_noise_is_kairs_draw_unclipped_unquantized(shape: tuple[int, ...]) -> None:
    clean = random_uint8(shape)
    state = np.random.get_state()
    noisy = literature_noisy(clean, 25)
    assert all(np.array_equal(a, b) for a, b in zip(state, np.random.get_state()))  # untouched
    image = np.float32(clean / 255.0)  # KAIR: uint2single, seed(0), normal, added in place
    np.random.seed(0)
    image += np.random.normal(0, 25 / 255.0, image.shape)
    assert noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy, image)
    assert noisy.min() < 0 or noisy.max() > 1  # not clipped
    assert not np.allclose(noisy * 255, np.round(noisy * 255))  # not quantized
    # The same draw for every image (seed 0 before each), scaled by sigma.
    np.testing.assert_allclose(literature_noisy(clean, 50) - clean / 255.0,
                               2 * (noisy - clean / 255.0), atol=1e-5)


def test_output_is_clamped_and_rounded_to_8_bits() -> None:
    x = np.array([-0.2, 0.0, 1 / 255, 0.4 / 255, 0.6 / 255, 254.6 / 255, 1.3], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 1, 0, 1, 255, 255])
    assert to_uint8(x).dtype == np.uint8


def test_psnr_formula_on_known_cases() -> None:
    clean = np.zeros((10, 10, 1), np.uint8)
    assert psnr_uint8(clean + 5, clean) == pytest.approx(20 * np.log10(255 / 5))
    one = clean.copy()
    one[0, 0] = 100  # MSE = 100^2 / 100 = 100
    assert psnr_uint8(one, clean) == pytest.approx(20 * np.log10(255 / 10))
    assert psnr_uint8(clean, clean) == float("inf")


def test_ssim_is_the_matlab_style_gaussian_ssim() -> None:
    from skimage.metrics import structural_similarity

    clean = random_uint8((40, 33, 1), seed=1)
    restored = np.clip(clean.astype(int) + random_uint8((40, 33, 1), 2) // 8 - 16, 0, 255)
    restored = restored.astype(np.uint8)
    # skimage with these options is Wang et al.'s MATLAB SSIM, as KAIR's calculate_ssim.
    expected = structural_similarity(clean[..., 0], restored[..., 0], data_range=255,
                                     gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert ssim_uint8(restored, clean) == pytest.approx(expected, abs=1e-9)
    assert ssim_uint8(clean, clean) == pytest.approx(1.0)


def test_float_protocol_is_restorelab_evals() -> None:
    from restorelab.evaluate import EvalImage, corrupt, gaussian_levels

    clean = random_uint8((16, 16, 1))
    tensor = torch.from_numpy(clean).permute(2, 0, 1).float() / 255
    expected = corrupt(EvalImage("x", tensor), 3, gaussian_levels([25])[0], 7)
    noisy = FloatProtocol(seed=7).noisy(clean, 3, 25)
    np.testing.assert_array_equal(noisy[..., 0], expected[0].numpy())
    finished = FloatProtocol().finish(noisy)
    assert finished.dtype == np.float32 and finished.min() >= 0 and finished.max() <= 1


# ------------------------------------------------------------------------------------ sets
def test_unknown_set_lists_the_known_ones() -> None:
    with pytest.raises(DataError, match="unknown benchmark set 'bsd100'; known: bsd68, set12"):
        get_set("bsd100")


def test_missing_folder_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        get_set("bsd68").files(tmp_path / "nowhere")
    message = str(caught.value)
    assert str(tmp_path / "nowhere") in message and "68 images" in message
    assert "restorelab benchmark --download --sets bsd68" in message
    assert "github.com/cszn/DnCNN" in message


def test_incomplete_folder_names_what_is_missing(tmp_path: Path) -> None:
    for name in ("01.png", "02.png", "03.png"):
        write_png(tmp_path / name, random_uint8((16, 16)))
    with pytest.raises(DataError) as caught:
        get_set("set12").files(tmp_path)
    message = str(caught.value)
    assert "9 of its 12 files missing (04.png, 05.png, 06.png, 07.png, 08.png, ...)" in message
    assert "holds 3 image file(s)" in message and str(tmp_path) in message


def test_other_names_with_the_full_count_are_read_sorted(tmp_path: Path) -> None:
    for k in range(12):
        write_png(tmp_path / f"img{k:02d}.png", random_uint8((16, 16), k))
    files = get_set("set12").files(tmp_path)
    assert [p.name for p in files] == [f"img{k:02d}.png" for k in range(12)]


def test_gray_set_refuses_color_files(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", random_uint8((16, 16, 3)))
    with pytest.raises(DataError, match="is a color image, but BSD68 is gray"):
        sets_module.read_uint8(path, 1, "BSD68")
    equal = write_png(tmp_path / "b.png", np.repeat(random_uint8((16, 16, 1)), 3, axis=-1))
    assert sets_module.read_uint8(equal, 1, "BSD68").shape == (16, 16, 1)


def test_download_fetches_files_and_archives(tmp_path: Path) -> None:
    # file:// URLs take the very code path of https:// ones, offline.
    release = tmp_path / "release"
    for name in ("a.png", "b.png"):
        write_png(release / "Set_HR" / name, random_uint8((8, 8, 3)))
    files = BenchmarkSet("two", "Two", 3, ("a.png", "b.png"), "", "a test release",
                         base_url=(release / "Set_HR").as_uri())
    assert [p.name for p in files.files(files.download(tmp_path / "files"))] == ["a.png", "b.png"]
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        tar.add(release / "Set_HR", arcname="Set_HR")
    (tmp_path / "set.tar.gz").write_bytes(packed.getvalue())
    md5 = hashlib.md5(packed.getvalue()).hexdigest()
    archive = BenchmarkSet("two", "Two", 3, ("a.png", "b.png"), "", "a test release",
                           archive=Archive((tmp_path / "set.tar.gz").as_uri(), md5, "Set_HR"))
    root = archive.download(tmp_path / "unpacked")
    assert sorted(p.name for p in root.iterdir()) == ["a.png", "b.png"]
    wrong = BenchmarkSet("two", "Two", 3, ("a.png",), "", "x",
                         archive=Archive((tmp_path / "set.tar.gz").as_uri(), "0" * 32, "Set_HR"))
    with pytest.raises(DataError, match="MD5"):
        wrong.download(tmp_path / "wrong")
    offline = BenchmarkSet("two", "Two", 3, ("a.png",), "", "x",
                           base_url=(tmp_path / "no").as_uri())
    with pytest.raises(DataError, match="could not download .*no/a.png"):
        offline.download(tmp_path / "offline")


def test_registry_matches_the_shared_copies() -> None:
    if not DATASETS.is_dir():
        pytest.skip(f"{DATASETS} is absent (the standard sets live beside the repository)")
    for name in ("bsd68", "set12", "cbsd68", "train400"):
        files = get_set(name).files(DATASETS / name)
        assert [p.name for p in files] == list(get_set(name).names)  # the release's own names


# ------------------------------------------------------------------------------- published
def test_published_rows_are_marked_and_cited() -> None:
    rows = published_rows(["bsd68", "set12"], [15, 25, 50, 35])
    assert rows and all(r["kind"] == "published" and r["citation"] for r in rows)
    assert {r["sigma"] for r in rows} == {15, 25, 50}  # no paper reports 35 here
    dncnn = {(r["benchmark"], r["sigma"]): r["psnr"] for r in rows if r["method"] == "DnCNN-S"}
    assert dncnn[("bsd68", 25)] == 29.23 and dncnn[("set12", 25)] == 30.44
    assert not [r for r in rows if r["benchmark"] == "cbsd68"]
    color = {r.method for r in PUBLISHED if r.benchmark == "cbsd68"}
    assert color == {"CBM3D", "CDnCNN-B", "FFDNet", "DRUNet"}


# ----------------------------------------------------------------------- published weights
def published_reference(depth: int = 4, width: int = 6) -> nn.Module:
    """The published DnCNN's own module layout (cszn/DnCNN's dncnn_pytorch), random weights."""
    layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1, bias=False),
                   nn.BatchNorm2d(width, eps=1e-4), nn.ReLU()]
    layers.append(nn.Conv2d(width, 1, 3, padding=1, bias=False))

    class Published(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dncnn = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x - self.dncnn(x)

    torch.manual_seed(0)
    net = Published()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):  # small variances: eps 1e-4 vs 1e-5 matters
            module.running_var.uniform_(1e-4, 1e-3)
            module.running_mean.uniform_(-0.01, 0.01)
    return net.eval()


@pytest.fixture
def published_file(tmp_path: Path) -> tuple[Path, nn.Module]:
    from safetensors.torch import save_file

    reference = published_reference()
    path = tmp_path / "dncnn_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    return path, reference


def test_published_layout_maps_onto_restorelab_dncnn(published_file) -> None:
    from restorelab.inference import load_network
    from restorelab.train import load_initial_weights

    path, reference = published_file
    x = torch.rand(2, 1, 21, 17)
    net = load_published_dncnn(path)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-6)
        via_inference, config = load_network(path)  # a file without RestoreLab's metadata
        torch.testing.assert_close(via_inference(x), expected, rtol=0, atol=1e-6)
        assert config.model.norm_eps == 1e-4 and config.model.depth == 4
        wrong_eps = DnCNN(1, depth=4, base_channels=6)  # PyTorch's default eps 1e-5
        wrong_eps.load_state_dict(net.state_dict())
        assert (wrong_eps.eval()(x) - expected).abs().max() > 1e-3
        fresh = DnCNN(1, depth=4, base_channels=6, norm_eps=1e-4)
        load_initial_weights(fresh, str(path))  # init_weights=<published file> in training
        torch.testing.assert_close(fresh.eval()(x), expected, rtol=0, atol=1e-6)


def test_not_the_published_layout_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from restorelab.inference import CheckpointError, load_network

    path = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(4, 1, 3, 3)}, str(path))
    with pytest.raises(RestoreLabError, match="does not hold the published DnCNN layout"):
        load_published_dncnn(path)
    with pytest.raises(CheckpointError, match="without RestoreLab's config"):
        load_network(path)


# Literature protocol, sigma 25, published DnCNN-S weights: PSNR of the first BSD68 images,
# measured once with this code (1 CPU thread) and written down. Two keep the test at seconds.
DNCNN_BSD68_SIGMA25 = {"test001.png": 25.9673, "test002.png": 30.2958}


def test_published_dncnn_reproduces_its_figures_on_bsd68() -> None:
    if not WEIGHTS.is_file() or not (DATASETS / "bsd68").is_dir():
        pytest.skip(f"{WEIGHTS} or {DATASETS / 'bsd68'} is absent (shared/ beside the repo)")
    from restorelab.inference import Denoiser

    denoiser = Denoiser(load_published_dncnn(WEIGHTS), tile_size=None, device="cpu")
    protocol = LiteratureProtocol()
    images = get_set("bsd68").load(DATASETS / "bsd68")[: len(DNCNN_BSD68_SIGMA25)]
    for index, (name, clean) in enumerate(images):
        finished = protocol.finish(denoiser.denoise(protocol.noisy(clean, index, 25)))
        psnr, _ = protocol.score(finished, clean)
        assert psnr == pytest.approx(DNCNN_BSD68_SIGMA25[name], abs=0.01), name


# ------------------------------------------------------------------------------------- job
@pytest.fixture
def tiny_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two registered 3-image sets, gray and RGB, written as PNGs under tmp_path/benchmarks."""
    names = ("a.png", "b.png", "c.png")
    for name, channels in (("tinygray", 1), ("tinyrgb", 3)):
        monkeypatch.setitem(sets_module.BENCHMARK_SETS, name, BenchmarkSet(
            name, name.capitalize(), channels, names, "three test images", "the test"))
        for k, file in enumerate(names):
            shape = (36, 44) if channels == 1 else (36, 44, 3)
            ramp = np.tile(np.linspace(40, 200, 44), (36, 1))  # a horizontal ramp
            ramp = ramp if channels == 1 else ramp[..., None] * np.array([1.0, 0.8, 0.6])
            image = ramp + random_uint8(shape, k) / 16  # with some texture
            write_png(tmp_path / "benchmarks" / name / file, image.astype(np.uint8))
    return tmp_path / "benchmarks"


def test_job_scores_every_method_on_the_same_inputs(tiny_sets: Path, published_file,
                                                    tmp_path: Path) -> None:
    from restorelab.cli import main
    from restorelab.export import export_safetensors

    path, _ = published_file
    export = tmp_path / "exp" / "model.safetensors"
    export.parent.mkdir()
    tiny = DnCNN(1, depth=3, base_channels=4)
    export_safetensors(tiny, OmegaConf.create({"model": {
        "_target_": "restorelab.models.dncnn.DnCNN", "in_channels": 1, "depth": 3,
        "base_channels": 4}}), export)
    out = tmp_path / "report"
    main(["benchmark", "--methods", f"tiny-published=dncnn-published:{path}", str(export),
          "--sets", "tinygray", "--sigmas", "15", "25", "--baselines", "median", "bm3d",
          "--root", str(tiny_sets), "--cache-dir", str(tmp_path / "cache"), "-o", str(out)])
    for name in ("results.csv", "results.json", "results.md", "per_image.csv",
                 "curve_tinygray.png", "grid_tinygray.png"):
        assert (out / name).stat().st_size > 0, name
    content = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in content["methods"]] == ["noisy", "tiny-published", "exp",
                                                       "median", "bm3d"]
    # Blind nets and the median filter are not told sigma; BM3D is.
    assert [m["told_sigma"] for m in content["methods"]] == [False, False, False, False, True]
    assert content["protocol"]["name"] == "literature" and content["cache"]["computed"] == 6
    rows = content["per_image"]
    assert len(rows) == 2 * 3 * 5
    # Every method was scored on the literature's noisy input: the median row, redone here.
    from scipy.ndimage import median_filter

    clean = get_set("tinygray").load(tiny_sets / "tinygray")[1][1]
    noisy = literature_noisy(clean, 25)
    expected = psnr_uint8(to_uint8(median_filter(noisy.astype(np.float64), size=(3, 3, 1),
                                                 mode="reflect")), clean)
    got = [r["psnr"] for r in rows if r["image"] == "b.png" and r["sigma"] == 25
           and r["method"] == "median"]
    assert got == [pytest.approx(expected)]
    assert all(r["kind"] == "measured" for r in content["measured"])
    assert content["published"] == []  # no paper reports the tiny sets
    # The second run reads BM3D from the cache: same numbers, nothing recomputed.
    again = run_benchmark(BenchmarkConfig(
        methods=[], sets=["tinygray"], sigmas=[15, 25], baselines=["bm3d"],
        root=str(tiny_sets), cache_dir=str(tmp_path / "cache"), output=str(tmp_path / "r2")),
        progress=False)
    assert again["cache"] == {"folder": str(tmp_path / "cache"), "hits": 6, "computed": 0}
    first = {(r["sigma"], r["image"]): r["psnr"] for r in rows if r["method"] == "bm3d"}
    assert {(r["sigma"], r["image"]): r["psnr"] for r in again["per_image"]
            if r["method"] == "bm3d"} == first


def test_config_file_form_and_channel_mismatch(tiny_sets: Path, published_file, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from restorelab.cli import main

    path, _ = published_file
    config = tmp_path / "benchmark.yaml"
    config.write_text(
        f"sets: [tinygray]\nsigmas: [25]\nbaselines: [noisy]\nroot: {tiny_sets}\n"
        f"methods:\n  - {{name: mine, path: 'dncnn-published:{path}'}}\n"
        f"output: {tmp_path / 'from_config'}\n")
    loaded = load_config(config, sigmas=[15.0])
    assert loaded.sigmas == [15.0] and loaded.methods[0]["name"] == "mine"
    main(["benchmark", "--config", str(config)])
    table = (tmp_path / "from_config" / "results.md").read_text()
    assert "| mine | measured |" in table and "literature protocol" in table
    capsys.readouterr()  # the run's progress lines (no terminal here)
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--config", str(config), "--sets", "tinyrgb"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "restores gray (1 channel) images, but Tinyrgb is RGB" in error[0]
    with pytest.raises(RestoreLabError, match="unknown key"):
        config.write_text("set: [bsd68]\n")
        load_config(config)


def test_published_rows_never_mix_with_measured_ones(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A 3-image stand-in registered as "set12", so the published Set12 rows come along.
    names = ("01.png", "02.png", "03.png")
    monkeypatch.setitem(sets_module.BENCHMARK_SETS, "set12", BenchmarkSet(
        "set12", "Set12", 1, names, "stand-in", "the test"))
    for k, name in enumerate(names):
        write_png(tmp_path / "set12" / name, random_uint8((24, 24), k))
    content = run_benchmark(BenchmarkConfig(methods=[], sets=["set12"], sigmas=[25],
                                            baselines=["median"], root=str(tmp_path),
                                            output=str(tmp_path / "out")), progress=False)
    measured = {r["method"] for r in content["measured"]}
    assert measured == {"noisy", "median"}
    assert {r["method"] for r in content["published"]} == {"BM3D", "DnCNN-S", "FFDNet", "DRUNet"}
    lines = [l for l in (tmp_path / "out" / "results.md").read_text().splitlines()
             if l.startswith("| ") and ("measured" in l or "published" in l)]
    kinds = ["published" in l for l in lines[:6]]  # the headline table: measured rows first
    assert kinds == sorted(kinds) and any(kinds) and not all(kinds)
    with open(tmp_path / "out" / "results.csv") as file:
        csv_rows = list(csv.DictReader(file))
    kinds = [row["kind"] for row in csv_rows]
    assert kinds == sorted(kinds) == ["measured"] * 2 + ["published"] * 4
    assert all((row["protocol"] == "as published") == (row["kind"] == "published")
               and bool(row["citation"]) == (row["kind"] == "published") for row in csv_rows)


def test_a_folder_of_ones_own_is_a_set_beside_the_registered_ones(tiny_sets: Path,
                                                                   tmp_path: Path) -> None:
    faces = tmp_path / "my faces"
    for k in range(2):
        write_png(faces / f"face{k}.png", random_uint8((30, 26), k))
    content = run_benchmark(BenchmarkConfig(
        methods=[], sets=["tinygray", f"faces={faces}"], sigmas=[25], baselines=["noisy", "median"],
        root=str(tiny_sets), cache=False, output=str(tmp_path / "report")), progress=False)
    info = {s["name"]: s for s in content["sets"]}
    assert info["faces"]["images"] == 2 and info["faces"]["color"] == "gray"
    assert info["faces"]["root"] == str(faces)
    faces_rows = [r for r in content["measured"] if r["benchmark"] == "faces"]
    assert {r["method"] for r in faces_rows} == {"noisy", "median"}
    # Scored by the same protocol as the registered set: the noisy row is the literature's draw.
    clean = read_uint8(faces / "face1.png", 1, "faces")
    expected = psnr_uint8(to_uint8(literature_noisy(clean, 25)), clean)
    assert [r["psnr"] for r in content["per_image"] if r["image"] == "face1.png"
            and r["method"] == "noisy"] == [pytest.approx(expected)]
    with pytest.raises(DataError, match="needs a name of its own"):
        load_sets(BenchmarkConfig(sets=[f"bsd68={faces}"]))
    with pytest.raises(DataError, match="not a folder"):
        load_sets(BenchmarkConfig(sets=[f"faces={tmp_path / 'nothing'}"]))


def test_x8_rows_average_the_eight_flips_and_rotations(tiny_sets: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from restorelab.cli import main
    from restorelab.export import export_safetensors

    export = tmp_path / "tiny" / "model.safetensors"
    export.parent.mkdir()
    torch.manual_seed(3)
    tiny = DnCNN(1, depth=3, base_channels=4)  # random weights: far from flip-equivariant
    export_safetensors(tiny, OmegaConf.create({"model": {
        "_target_": "restorelab.models.dncnn.DnCNN", "in_channels": 1, "depth": 3,
        "base_channels": 4}}), export)
    out = tmp_path / "report"
    main(["benchmark", "--methods", str(export), "--ensemble", "--sets", "tinygray",
          "--sigmas", "25", "--baselines", "noisy", "--root", str(tiny_sets), "-o", str(out)])
    content = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in content["methods"]] == ["noisy", "tiny", "tiny x8"]
    assert "x8 self-ensemble" in content["methods"][2]["source"]
    assert "| tiny x8 | measured |" in (out / "results.md").read_text()
    # The x8 row, redone by hand on one image: the mean of the 8 views, undone, then clamped.
    clean = get_set("tinygray").load(tiny_sets / "tinygray")[2][1]
    x = torch.from_numpy(literature_noisy(clean, 25)).permute(2, 0, 1)[None]
    tiny.eval()
    with torch.no_grad():
        views = [torch.rot90(tiny(torch.rot90(x, k, (2, 3)).flip(3) if flip else
                                  torch.rot90(x, k, (2, 3))).flip(3) if flip else
                             tiny(torch.rot90(x, k, (2, 3))), -k, (2, 3))
                 for k in range(4) for flip in (False, True)]
    mean = torch.stack(views).mean(0).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    plain = views[0].clamp(0, 1)[0].permute(1, 2, 0).numpy()
    psnr = {r["method"]: r["psnr"] for r in content["per_image"] if r["image"] == "c.png"}
    x8, one = psnr_uint8(to_uint8(mean), clean), psnr_uint8(to_uint8(plain), clean)
    assert abs(x8 - one) > 1e-4  # the two by-hand values are far apart at the tolerance below
    assert psnr["tiny x8"] == pytest.approx(x8, abs=1e-6)
    assert psnr["tiny"] == pytest.approx(one, abs=1e-6)
    # In a config file, a mapping with `ensemble: true` is an x8 row of its own; bad keys and
    # values are one clear line each.
    config = tmp_path / "benchmark.yaml"
    config.write_text(f"sets: [tinygray]\nsigmas: [25]\nbaselines: [noisy]\nroot: {tiny_sets}\n"
                      f"methods:\n  - {{name: mine, path: '{export}', ensemble: true}}\n"
                      f"output: {tmp_path / 'from_config'}\n")
    main(["benchmark", "--config", str(config), "--ensemble"])  # no second x8 row of it
    content = json.loads((tmp_path / "from_config" / "results.json").read_text())
    assert [m["name"] for m in content["methods"]] == ["noisy", "mine x8"]
    assert [r["psnr"] for r in content["per_image"] if r["image"] == "c.png"
            and r["method"] == "mine x8"] == [pytest.approx(psnr["tiny x8"], abs=1e-9)]
    capsys.readouterr()
    for bad, message in (("ensemble: yes please", "'ensemble' is true or false"),
                         ("x8: true", "unknown key(s) ['x8']")):
        config.write_text(f"sets: [tinygray]\nsigmas: [25]\nbaselines: [noisy]\n"
                          f"root: {tiny_sets}\nmethods:\n  - {{path: '{export}', {bad}}}\n")
        assert_refused_in_one_line(config, tmp_path / "never", message, capsys)


def assert_refused_in_one_line(config: Path, output: Path, message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """`restorelab benchmark --config config` exits 1 with one line holding `message` and
    writes no report."""
    from restorelab.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--config", str(config), "-o", str(output)])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not output.exists()


def test_a_gray_conditional_net_scores_color_sets_in_a_color_space(
        tiny_sets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restorelab.cli import main
    from restorelab.export import export_safetensors
    from restorelab.models.color_from_gray import ColorFromGray
    from restorelab.models.drunet import DRUNet

    export = tmp_path / "gray" / "model.safetensors"
    export.parent.mkdir()
    model = {"_target_": "restorelab.models.drunet.DRUNet", "in_channels": 1,
             "base_channels": 4, "num_blocks": 1}
    torch.manual_seed(4)
    gray = DRUNet(1, base_channels=4, num_blocks=1).eval()
    export_safetensors(gray, OmegaConf.create({"model": model}), export)
    config = tmp_path / "benchmark.yaml"
    config.write_text(
        f"sets: [tinyrgb]\nsigmas: [25]\nbaselines: [noisy]\nroot: {tiny_sets}\n"
        f"methods:\n  - {{name: opp, path: '{export}', color: opponent}}\n"
        f"  - {{path: '{export}', color: rgb}}\noutput: {tmp_path / 'report'}\n")
    main(["benchmark", "--config", str(config)])
    content = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [m["name"] for m in content["methods"]] == ["noisy", "opp", "gray (rgb color)"]
    assert "opponent color space" in content["methods"][1]["source"]
    assert [m["told_sigma"] for m in content["methods"]] == [False, True, True]  # conditional
    # The opponent row, redone by hand on one image.
    clean = get_set("tinyrgb").load(tiny_sets / "tinyrgb")[2][1]
    x = torch.from_numpy(literature_noisy(clean, 25)).permute(2, 0, 1)[None]
    with torch.no_grad():
        by_hand = {space: ColorFromGray(gray, space)(x, torch.full((1, 1, 1, 1), 25 / 255))
                   .clamp(0, 1)[0].permute(1, 2, 0).numpy() for space in ("opponent", "rgb")}
    psnr = {r["method"]: r["psnr"] for r in content["per_image"] if r["image"] == "c.png"}
    opponent, rgb = (psnr_uint8(to_uint8(by_hand[s]), clean) for s in ("opponent", "rgb"))
    assert abs(opponent - rgb) > 1e-3  # the two spaces give different outputs
    assert psnr["opp"] == pytest.approx(opponent, abs=1e-6)
    assert psnr["gray (rgb color)"] == pytest.approx(rgb, abs=1e-6)
    # A color space for a net that cannot take one, or an unknown space: one clear line each;
    # the gray net on a color set without one is told of `color: opponent`.
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["benchmark", "--methods", str(export), "--sets", "tinyrgb", "--sigmas", "25",
              "--baselines", "noisy", "--root", str(tiny_sets), "-o", str(tmp_path / "never")])
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "give it `color: opponent`" in error[0], error
    rgb_net = tmp_path / "rgb" / "model.safetensors"
    rgb_net.parent.mkdir()
    export_safetensors(DRUNet(3, base_channels=4, num_blocks=1),
                       OmegaConf.create({"model": {**model, "in_channels": 3}}), rgb_net)
    for path, space, message in ((export, "lab", "'color' is one of ['opponent', 'rgb']"),
                                 (rgb_net, "opponent", "wraps a gray net (in_channels 1)")):
        config.write_text(f"sets: [tinyrgb]\nsigmas: [25]\nbaselines: [noisy]\n"
                          f"root: {tiny_sets}\nmethods:\n  - {{path: '{path}', color: {space}}}\n")
        assert_refused_in_one_line(config, tmp_path / "never", message, capsys)


def test_method_labels_may_hold_equals_signs(tmp_path: Path) -> None:
    from restorelab.benchmarks.methods import split_spec

    weights = tmp_path / "net" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    run = tmp_path / "model=unet,seed=1"
    run.mkdir()
    assert split_spec(f"net sigma=25 (ours)={weights}") == ("net sigma=25 (ours)", str(weights))
    assert split_spec(f"mine=dncnn-published:{weights}") == ("mine", f"dncnn-published:{weights}")
    assert split_spec(f"a run={run}") == ("a run", str(run))
    assert split_spec(str(run)) == (None, str(run))  # a Hydra run folder is never split
    assert split_spec("mine=missing/model.safetensors") == ("mine", "missing/model.safetensors")
    assert split_spec("logs/x=1/model.safetensors") == (None, "logs/x=1/model.safetensors")


def test_output_cache_recomputes_when_the_input_changes(tmp_path: Path) -> None:
    calls = []

    def restore(noisy: np.ndarray, sigma: float) -> np.ndarray:
        calls.append(sigma)
        return noisy * 0.5

    method = Method("slow", "baseline", restore, "test", cache_key="slow-1")
    cache = OutputCache(tmp_path)
    noisy = np.full((4, 4, 1), 0.5, np.float32)
    first, _ = cache.run(method, noisy, 25, ("set", "img", "literature"), to_uint8)
    again, _ = cache.run(method, noisy, 25, ("set", "img", "literature"), to_uint8)
    assert len(calls) == 1 and np.array_equal(first, again) and again.dtype == np.uint8
    assert (tmp_path / "slow" / "set" / "literature" / "sigma25" / "img.npz").is_file()
    cache.run(method, noisy + 0.1, 25, ("set", "img", "literature"), to_uint8)
    assert len(calls) == 2  # another noisy input: recomputed, not a stale output


# -------------------------------------------------------------------------------- Train400
def test_train400_crops_holds_out_a_seeded_split_and_tests_on_bsd68(tmp_path: Path) -> None:
    from restorelab.data.train400 import Train400DataModule

    for k in range(1, 401):
        write_png(tmp_path / "train400" / f"test_{k:03d}.png", random_uint8((48, 48), k))
    module = Train400DataModule(data_dir=str(tmp_path / "train400"), test_set="bsd68",
                                test_dir=str(tmp_path / "bsd68"), batch_size=8)
    with pytest.raises(DataError, match="BSD68 .* not found"):
        module.setup("fit")  # checked before training starts, not at test time
    for k in range(1, 69):
        write_png(tmp_path / "bsd68" / f"test{k:03d}.png", random_uint8((30, 20), k))
    module.setup("fit")
    assert next(iter(module.train_dataloader())).shape == (8, 1, 40, 40)
    val, train = module.splits["val"], module.splits["train"]
    assert len(val) == 20 and len(train) == 380 and not set(val) & set(train)
    assert len(module.splits["test"]) == 68 and module.splits["test"][0] == "test001.png"
    other = Train400DataModule(data_dir=str(tmp_path / "train400"), split_seed=1)
    other.setup("fit")
    assert other.splits["val"] != val and other.splits["test"] == other.splits["val"]


def test_a_folder_that_holds_a_report_is_refused_before_anything_runs(
    tiny_sets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from restorelab.cli import main

    output = tmp_path / "report"
    output.mkdir()
    (output / "results.json").write_text('{"mine": true}\n')
    args = ["benchmark", "--sets", "tinygray", "--sigmas", "25", "--baselines", "noisy", "median",
            "--root", str(tiny_sets), "--no-cache", "-o", str(output)]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "already holds a benchmark report" in error[0], error
    assert "--overwrite" in error[0]
    assert (output / "results.json").read_text() == '{"mine": true}\n'
    assert sorted(p.name for p in output.iterdir()) == ["results.json"]
    main([*args, "--overwrite"])
    assert json.loads((output / "results.json").read_text())["sigmas"] == [25.0]
