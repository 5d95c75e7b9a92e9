"""The evaluation harness: numbers equal an independent NumPy computation, baselines run in it,
the noise-level curve has the right shape, and `restorelab eval` writes its reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import median_filter

from restorelab.baselines import BASELINES, reference_baseline, select_baselines
from restorelab.cli import main
from restorelab.corruptions import GaussianNoise, PixelFlip, SaltPepperNoise
from restorelab.data.natural import load_skimage_image
from restorelab.evaluate import (
    EvalImage,
    baseline_method,
    evaluate,
    gaussian_levels,
    noise_curve,
)
from test_inference import tiny_run

ROOT = Path(__file__).resolve().parents[1]

SEED = 7


def crops(channels: int = 1, size: int = 40) -> list[EvalImage]:
    """Three small crops of bundled photographs, as clean references in [0, 1]."""
    names = ("camera", "coins", "moon") if channels == 1 else ("astronaut", "coffee", "rocket")
    images = []
    for i, name in enumerate(names):
        array = load_skimage_image(name)[100 + i : 100 + i + size, 120 : 120 + size + 3]
        tensor = torch.from_numpy(np.array(array, dtype=np.float32) / 255.0)
        tensor = tensor[None] if channels == 1 else tensor.permute(2, 0, 1)
        images.append(EvalImage(name, tensor))
    return images


def numpy_psnr(restored: np.ndarray, clean: np.ndarray) -> float:
    mse = np.mean((np.clip(restored, 0.0, 1.0).astype(np.float64) - clean) ** 2)
    return float(10.0 * np.log10(1.0 / mse))


def numpy_ssim(restored: np.ndarray, clean: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) with an 11 x 11 Gaussian window, sigma 1.5, borders reflected and
    kept in the mean, as torchmetrics computes it (scikit-image crops them instead)."""
    from scipy.signal import convolve2d

    x, y = np.clip(restored, 0.0, 1.0), clean
    g = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
    window = np.outer(g, g) / g.sum() ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return convolve2d(np.pad(a, 5, mode="reflect"), window, mode="valid")

    mx, my = blur(x), blur(y)
    vx, vy = np.maximum(blur(x * x) - mx**2, 0), np.maximum(blur(y * y) - my**2, 0)
    cxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("eval_run"), channels=1)


def test_scores_equal_an_independent_numpy_computation() -> None:
    images = crops()
    methods = [baseline_method(BASELINES[name]) for name in ("noisy", "median")]
    result = evaluate(methods, images, gaussian_levels([25]), seed=SEED)
    rows = {(r["image"], r["method"]): r for r in result.rows}
    assert len(rows) == 6
    for i, image in enumerate(images):
        clean = image.clean[0].numpy().astype(np.float64)
        # The protocol's noise, rebuilt by hand: image i draws from a generator seeded SEED + i.
        z = torch.randn((1, 1) + clean.shape, generator=torch.Generator().manual_seed(SEED + i))
        noisy = clean + 25.0 / 255.0 * z[0, 0].double().numpy()
        expected = {"noisy": noisy, "median": median_filter(noisy, size=3, mode="reflect")}
        for method, restored in expected.items():
            row = rows[(image.name, method)]
            assert row["psnr"] == pytest.approx(numpy_psnr(restored, clean), abs=1e-3)
            assert row["ssim"] == pytest.approx(numpy_ssim(restored, clean), abs=1e-4)
    summary = result.summary()["sigma25"]
    assert summary["noisy"]["psnr"] == pytest.approx(
        np.mean([rows[(im.name, "noisy")]["psnr"] for im in images])
    )
    assert summary["median"]["psnr"] > summary["noisy"]["psnr"]


@pytest.mark.parametrize("channels", [1, 3])
def test_every_installed_baseline_runs_and_beats_the_noisy_input(channels: int) -> None:
    images = crops(channels, size=32)[:1]
    names = [name for name, baseline in BASELINES.items() if baseline.available]
    methods = [baseline_method(BASELINES[name]) for name in names]
    summary = evaluate(methods, images, gaussian_levels([30]), seed=SEED).summary()["sigma30"]
    assert set(summary) == set(names)
    for name in names:
        assert np.isfinite(summary[name]["psnr"])
        if name not in ("noisy", "median"):
            assert summary[name]["psnr"] > summary["noisy"]["psnr"] + 1.0, name
    # Sigma estimated from the image when unknown: same shapes, still an improvement.
    noisy = images[0].clean.permute(1, 2, 0).double().numpy() + 0.1 * np.random.default_rng(0)\
        .standard_normal((32, 35, channels))
    assert BASELINES["nlm"](noisy).shape == noisy.shape


def test_the_right_baseline_is_chosen_for_each_noise() -> None:
    assert reference_baseline(SaltPepperNoise) == "median"
    assert reference_baseline(GaussianNoise(sigma=25)) == "bm3d"  # installed with the eval extra
    assert reference_baseline(None) == "bm3d"  # real noise
    assert [b.name for b in select_baselines(["auto"], PixelFlip)] == ["noisy", "median"]
    with pytest.raises(ValueError, match="allowed"):
        select_baselines(["magic"], GaussianNoise)


def test_noise_level_curve_has_the_right_shape(tmp_path: Path) -> None:
    sigmas = [5, 15, 35, 75]
    methods = [baseline_method(BASELINES[name]) for name in ("noisy", "wavelet")]
    table = noise_curve(methods, crops()[:2], sigmas, seed=SEED, output_dir=tmp_path,
                        trained_sigma=[25])
    noisy = [row["psnr"] for row in table if row["method"] == "noisy"]
    assert len(noisy) == len(sigmas) and all(a > b for a, b in zip(noisy, noisy[1:]))
    wavelet = [row["psnr"] for row in table if row["method"] == "wavelet"]
    assert wavelet[-1] > noisy[-1]  # at sigma 75 any denoiser beats the input
    with Image.open(tmp_path / "curve.png") as png:
        assert png.size[0] > 300
    with open(tmp_path / "curve.csv") as file:
        assert len(list(csv.DictReader(file))) == 2 * len(sigmas)


def test_eval_cli_on_a_folder_reports_the_model_beside_bm3d(run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for image in crops(size=36):
        array = (image.clean[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(folder / f"{image.name}.png")
    out = tmp_path / "report"
    main(["eval", str(run), "--images", str(folder), "--levels", "15", "50", "-o", str(out),
          "--grid", "2", "--curve", "--curve-sigmas", "10", "40", "--curve-images", "1"])

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["results"]) == ["sigma15", "sigma50"]
    assert list(summary["results"]["sigma15"]) == ["noisy", "model", "bm3d"]
    assert summary["images"]["color"] == "gray" and summary["images"]["count"] == 3
    assert summary["protocol"]["baseline_sigma"].startswith("true sigma")
    noisy = {level: summary["results"][level]["noisy"]["psnr"] for level in ("sigma15", "sigma50")}
    assert noisy["sigma50"] < noisy["sigma15"]
    with open(out / "per_image.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 * 2 * 3  # images x levels x methods
    assert {(r["image"], r["method"]) for r in rows} >= {("camera.png", "model")}
    assert (out / "grid.png").is_file() and (out / "curve.png").is_file()
    assert len(summary["curve"]["table"]) == 2 * 3


def test_eval_on_the_runs_dataset_with_impulse_noise(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    main(["eval", "--checkpoint", str(run), "--noise", "salt_pepper", "--grid", "0",
          "-o", str(out), "--ensemble", "data.eval_size=128", "noise.amount=0.2"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference_baseline"] == "median"
    results = summary["results"]["amount0p2"]
    assert list(results) == ["noisy", "model", "model_x8", "median"]
    assert results["model_x8"]["psnr"] != results["model"]["psnr"]
    assert summary["protocol"]["self_ensemble"].startswith("model_x8")
    assert results["median"]["psnr"] > results["noisy"]["psnr"]
    assert "NaturalImagesDataModule" in summary["images"]["source"]
    assert summary["protocol"]["baseline_sigma"] == "none of the chosen baselines uses sigma"


def test_eval_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(tmp_path / "nothing"), "--images", str(tmp_path)])
    assert exit_info.value.code == 1
    assert "does not exist" in capsys.readouterr().err


def test_eval_of_a_safetensors_export_matches_its_run(run: Path, tmp_path: Path) -> None:
    # An export embeds the model and noise configs only: eval must still score it, with the
    # same numbers as the run folder it came from.
    weights = tmp_path / "model.safetensors"
    main(["export", "--checkpoint", str(run), "--format", "safetensors", "-o", str(weights)])
    folder = tmp_path / "images"
    folder.mkdir()
    for image in crops(size=36):
        array = (image.clean[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(folder / f"{image.name}.png")
    scores = {}
    for name, source in (("run", run), ("export", weights)):
        out = tmp_path / name
        main(["eval", str(source), "--images", str(folder), "--levels", "25", "--baselines",
              "noisy", "--grid", "0", "-o", str(out)])
        scores[name] = json.loads((out / "summary.json").read_text())["results"]["sigma25"]
    assert scores["export"]["model"]["psnr"] == pytest.approx(scores["run"]["model"]["psnr"])
    assert scores["export"]["noisy"]["psnr"] == pytest.approx(scores["run"]["noisy"]["psnr"])


def test_one_evaluation_scores_several_models_on_the_same_noisy_images(
    run: Path, tmp_path: Path
) -> None:
    from restorelab.evaluate import run_evaluation

    weights = tmp_path / "model.safetensors"
    main(["export", "--checkpoint", str(run), "--format", "safetensors", "-o", str(weights)])
    out = tmp_path / "report"
    summary = run_evaluation(
        checkpoints=[f"run={run}", f"export={weights}"], noise="salt_pepper",
        levels=[0.1, 0.3], baselines=["noisy", "median"], grid=2, output=out, progress=False,
        overrides=["data.eval_size=64"], clean_input=True, max_images=3)
    results = summary["results"]
    assert list(results) == ["amount0p1", "amount0p3", "clean"]
    assert list(results["clean"]) == ["run", "export"]  # the nets' ceiling, no baseline
    assert summary["images"]["count"] == 3 and all(
        stats["images"] == 3 for level in results.values() for stats in level.values())
    assert results["amount0p1"]["noisy"]["rmse"] == pytest.approx(
        np.mean([10 ** (-r["psnr"] / 20) for r in _rows(out) if r["method"] == "noisy"
                 and r["level"] == "amount0p1"]))
    assert list(results["amount0p1"]) == ["noisy", "run", "export", "median"]
    for level in results.values():  # the same weights on the same noisy images: the same scores
        assert level["export"]["psnr"] == pytest.approx(level["run"]["psnr"])
    assert set(summary["models"]) == {"run", "export"}
    assert summary["models"]["export"]["checkpoint"] == str(weights)
    # A level curve for any corruption with several levels: a row per level and method.
    table = summary["level_curve"]["table"]
    assert summary["level_curve"]["key"] == "amount" and len(table) == 2 * 4
    noisy = [row["psnr"] for row in table if row["method"] == "noisy"]
    assert noisy[0] > noisy[1]  # more impulses, lower PSNR
    with open(out / "levels.csv") as file:
        assert len(list(csv.DictReader(file))) == 2 * 4
    with Image.open(out / "levels.png") as png:
        assert png.size[0] > 600  # the legend beside the axes
    assert (out / "grid.png").is_file()

    with pytest.raises(ValueError, match="two models are labelled run"):
        run_evaluation(checkpoints=[f"run={run}", f"run={weights}"], output=tmp_path / "x")


def _rows(folder: Path) -> list[dict]:
    with open(folder / "per_image.csv") as file:
        return [{**row, "psnr": float(row["psnr"])} for row in csv.DictReader(file)]


@pytest.mark.parametrize("study", sorted(p.parent.name for p in (ROOT / "experiments").glob(
    "*/eval.yaml")))
def test_each_studys_evaluation_config_is_a_valid_request(
    study: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restorelab.evaluation.job import load_request

    monkeypatch.setenv("M", "logs/sweep/multiruns/stamp")
    monkeypatch.setenv("B", "logs/sweep_blind/multiruns/stamp")
    monkeypatch.setenv("U", "logs/sweep_unet/multiruns/stamp")
    request = load_request(ROOT / "experiments" / study / "eval.yaml")
    assert request.checkpoints and all("=logs/sweep" in str(c) for c in request.checkpoints)
    assert str(request.output) == f"experiments/{study}/eval"


def test_eval_cli_takes_several_labelled_models_and_a_config(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "study.yaml"
    config.write_text("checkpoints:\n  - a=${oc.env:RUN}\nnoise: salt_pepper\nlevels: [0.2]\n"
                      "baselines: [noisy]\ngrid: 0\nmax_images: 2\n")
    with pytest.raises(SystemExit) as stop:  # the variable the config reads is not set
        main(["eval", "--config", str(config), "-o", str(tmp_path / "none")])
    assert stop.value.code == 1 and "RUN" in capsys.readouterr().err
    monkeypatch.setenv("RUN", str(run))
    out = tmp_path / "report"
    # One more model on the command line, an option and an override over the config's.
    main(["eval", "--config", str(config), f"b={run}", "--levels", "0.1", "-o", str(out),
          "data.eval_size=64"])
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["results"]) == ["amount0p1"]
    assert list(summary["results"]["amount0p1"]) == ["noisy", "b"]  # the command line's model
    assert summary["images"]["count"] == 2
    with pytest.raises(SystemExit):  # a report is never overwritten unasked
        main(["eval", "--config", str(config), "-o", str(out)])
