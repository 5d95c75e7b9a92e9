"""One table for the digits study: both trained models, the median filter and the noisy input,
scored by the evaluation harness on the same seeded noisy test digits, at several amounts.

    python experiments/digits_salt_pepper/compare.py logs/sweep_digits_salt_pepper/multiruns/<time>

`restorelab eval <run> --data digits --noise salt_pepper --levels ... --baselines noisy median`
scores one checkpoint at a time; this script calls the same harness functions (restorelab.evaluate)
with both checkpoints in one `evaluate` call, so every method restores the very same noisy images
(image i seeded with seed + i) and the rows share one table and one figure. It writes, next to
itself: eval_per_image.csv, eval_summary.json, eval_table.md, eval_grid.png, eval_amounts.png;
the table also scores each model on the clean digits (no noise), its reconstruction ceiling.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from restorelab.baselines import select_baselines
from restorelab.evaluate import (
    baseline_method,
    compose_config,
    corruption_levels,
    evaluate,
    images_from_datamodule,
    model_method,
    results_table,
    score,
    write_grid,
    write_json,
    write_rows,
)
from restorelab.inference import load_denoiser

HERE = Path(__file__).resolve().parent
AMOUNTS = (0.05, 0.1, 0.2, 0.3, 0.5)
TRAINED_AMOUNT = 0.2
GRID_IMAGES = 6


def trained_runs(sweep_dir: Path) -> dict[str, Path]:
    """{model choice: job folder} for every finished job of the multirun folder."""
    runs = {}
    for job in sorted(p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file()):
        pairs = OmegaConf.load(job / ".hydra" / "overrides.yaml")
        overrides = dict(str(item).split("=", 1) for item in pairs)
        runs[overrides.get("model", job.name)] = job
    if not runs:
        raise SystemExit(f"no finished job (with metrics.json) in {sweep_dir}")
    return runs


def markdown_table(summary: dict, methods: list[str]) -> str:
    """PSNR / SSIM per amount (rows) and method (columns); the trained amount is marked."""
    header = "| amount | " + " | ".join(f"{m} PSNR / SSIM" for m in methods) + " |"
    lines = [header, "|---|" + "---:|" * len(methods)]
    for level, stats in summary.items():
        amount = float(level.removeprefix("amount").replace("p", "."))
        best = max(methods, key=lambda m: stats[m]["psnr"])
        cells = []
        for m in methods:
            cell = f"{stats[m]['psnr']:.2f} / {stats[m]['ssim']:.3f}"
            cells.append(f"**{cell}**" if m == best else cell)
        mark = " (trained)" if amount == TRAINED_AMOUNT else ""
        lines.append(f"| {amount:g}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_amounts(path: Path, summary: dict, methods: list[str]) -> None:
    """PSNR and SSIM against the salt-and-pepper amount, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    amounts = [float(k.removeprefix("amount").replace("p", ".")) for k in summary]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for m in methods:
            values = [summary[k][m][metric] for k in summary]
            ax.plot(amounts, values, "--" if m == "noisy" else "-", marker="o", label=m)
        ax.axvline(TRAINED_AMOUNT, color="gray", linestyle=":", label="trained amount")
        ax.set_xlabel("salt-and-pepper amount (fraction of pixels hit)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle("270 test digits (scikit-learn 8x8, upsampled to 32x32), seeded noise",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="multirun folder of sweep=digits_salt_pepper")
    parser.add_argument("--seed", type=int, default=0, help="image i gets noise seeded seed + i")
    parser.add_argument("--output", "-o", type=Path, default=HERE)
    args = parser.parse_args()

    runs = trained_runs(args.sweep_dir)
    cfg = compose_config(["data=digits", "noise=salt_pepper"])
    images = images_from_datamodule(OmegaConf.to_container(cfg.data, resolve=True), "test")
    levels = corruption_levels(OmegaConf.to_container(cfg.noise, resolve=True), AMOUNTS)
    noisy, median = (baseline_method(b) for b in select_baselines(["noisy", "median"]))
    models = [model_method(load_denoiser(job, device="cpu"), name) for name, job in runs.items()]
    methods = [noisy, *models, median]
    result = evaluate(methods, images, levels, args.seed, keep_samples=GRID_IMAGES, progress=True)
    summary = result.summary()
    names = [m.name for m in methods]
    # Each model on the clean digits: its own reconstruction ceiling, with no noise to remove.
    ceiling = {}
    for model in models:
        scores = [score(model.restore(image.clean, None), image.clean) for image in images]
        ceiling[model.name] = {"psnr": float(np.mean([p for p, _ in scores])),
                               "ssim": float(np.mean([s for _, s in scores]))}

    out = args.output
    write_rows(out / "eval_per_image.csv", result.rows)
    write_json(out / "eval_summary.json", {
        "runs": {name: str(job) for name, job in runs.items()},
        "images": {"source": "restorelab.data.digits.DigitsDataModule (test split), gray",
                   "count": len(images)},
        "corruption": {"config": OmegaConf.to_container(cfg.noise), "amounts": list(AMOUNTS)},
        "protocol": "PSNR and SSIM (torchmetrics), data_range=1, per image on the output "
                    "clamped to [0, 1], averaged; image i seeded with seed + i",
        "seed": args.seed,
        "results": summary,
        "models_on_clean_input": ceiling,
    })
    clean_row = " | ".join(
        f"{ceiling[m]['psnr']:.2f} / {ceiling[m]['ssim']:.3f}" if m in ceiling else "-"
        for m in names
    )
    (out / "eval_table.md").write_text(
        markdown_table(summary, names) + f"| 0 (clean input) | {clean_row} |\n"
    )
    trained = f"amount{TRAINED_AMOUNT:g}".replace(".", "p")
    result.samples = {trained: result.samples[trained]}  # the figure: the trained amount only
    write_grid(out / "eval_grid.png", result, names)
    plot_amounts(out / "eval_amounts.png", summary, names)

    from rich.console import Console

    Console().print(results_table(summary, f"{len(images)} test digits"))
    print(json.dumps({k: {m: round(v["psnr"], 2) for m, v in s.items()}
                      for k, s in summary.items()}))
    print("models on the clean input:", json.dumps(ceiling))


if __name__ == "__main__":
    main()
