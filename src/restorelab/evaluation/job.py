"""The whole job behind `restorelab eval`: one or several checkpoints (or the baselines alone) on
one image source at the levels of one corruption, every method on the same noisy images, and its
report folder (what its summary.json says besides the results: `restorelab.evaluation.summary`)."""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from restorelab.evaluation.harness import (
    EvalImage,
    Level,
    Method,
    baseline_method,
    corruption_levels,
    evaluate,
    model_method,
)
from restorelab.evaluation.reports import (
    noise_curve,
    results_table,
    write_grid,
    write_json,
    write_rows,
)
from restorelab.evaluation.request import EvalRequest, load_models, load_request
from restorelab.evaluation.sources import compose_config, images_from_datamodule, images_from_folder
from restorelab.evaluation.summary import PROTOCOL_METRICS as PROTOCOL_METRICS  # re-exported
from restorelab.evaluation.summary import summary_content

__all__ = ["EvalRequest", "EvaluationJob", "load_request", "run_evaluation"]


def run_evaluation(**request: Any) -> dict[str, Any]:
    """Scores a checkpoint (or the baselines alone) and writes per_image.csv, summary.json,
    grid.png and, with `curve`, curve.csv / curve.png to `output`; returns the summary. The
    keyword arguments are the fields of `EvalRequest`."""
    known = {f.name for f in fields(EvalRequest)}
    unknown = sorted(set(request) - known)
    if unknown:
        raise TypeError(f"run_evaluation() got unknown argument(s) {unknown}; allowed: {sorted(known)}")
    return EvaluationJob(EvalRequest(**request)).run()


class EvaluationJob:
    """One `restorelab eval`: resolve what is scored, score it, write and print the report."""

    def __init__(self, request: EvalRequest) -> None:
        self.request = request
        self.models = load_models(request)
        # The first model: its run gives the default data and noise, its folder the output.
        self.model = self.models[0] if self.models else None

    def run(self) -> dict[str, Any]:
        from rich.console import Console

        from restorelab.baselines import reference_baseline

        req = self.request
        data_config, noise_config = self._data_and_noise()
        images, image_source = self._images(data_config)
        paired = images[0].noisy is not None
        levels = [Level("real", None)] if paired else corruption_levels(noise_config, req.levels)
        if req.as_configured and not paired:
            import hydra

            configured = hydra.utils.instantiate(dict(noise_config))
            levels.insert(0, Level("as_configured", configured, configured.true_sigma()))
        corruption = None if paired else levels[0].corruption  # None: the images' own noise
        if req.clean_input and not paired:  # a model's ceiling: nothing to remove
            from restorelab.corruptions import Identity

            levels.append(Level("clean", Identity(), models_only=True))
        baselines, methods = self._methods(corruption)
        run_dir = self.model.run_dir if self.model and len(self.models) == 1 else None
        output_dir = Path(req.output) if req.output is not None else _default_output(run_dir)
        result = evaluate(methods, images, levels, req.seed, keep_samples=req.grid,
                          progress=req.progress)
        content = summary_content(
            req, self.models, images, image_source, levels, noise_config, baselines
        )
        content["reference_baseline"] = reference_baseline(corruption)
        content["seed"] = req.seed
        content["results"] = summary = result.summary()
        write_rows(output_dir / "per_image.csv", result.rows)
        if req.grid:
            write_grid(output_dir / "grid.png", result, [m.name for m in methods],
                       max_rows=req.grid)
        if req.curve:
            if paired:
                raise ValueError("the noise-level curve needs clean images (not paired real noise)")
            content["curve"] = self._curve(methods, images, noise_config, output_dir)
        valued = [level for level in levels if level.value is not None]
        if len(valued) > 1 and not paired:
            content["level_curve"] = self._level_curve(result, valued, output_dir)
        write_json(output_dir / "summary.json", content)
        console = Console()
        console.print(f"{len(images)} {content['images']['color']} image(s) from {image_source}")
        console.print(results_table(summary))
        console.print(f"sigma given to the baselines: {content['protocol']['baseline_sigma']}")
        console.print(f"written to [bold]{output_dir}[/bold]")
        content["output_dir"] = str(output_dir)
        return content

    # ------------------------------------------------------------------ what is scored
    def _data_and_noise(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The data and noise nodes: the run's own, unless a group is named (or there is no run).
        A safetensors export embeds the model and noise only: its data node is the default
        group's. `data.` / `noise.` overrides on top."""
        from omegaconf import OmegaConf, open_dict

        req = self.request
        user_data = [o for o in req.overrides if o.startswith("data.")]
        unknown = [o for o in req.overrides if not o.startswith(("data.", "noise."))]
        if unknown:
            raise ValueError(f"overrides must start with data. or noise., got {unknown}")
        run_config = self.model.config if self.model else None
        base = run_config
        partial = run_config is not None and not ("data" in run_config and "noise" in run_config)
        if run_config is None or req.data is not None or req.noise is not None or partial:
            groups = [f"data={req.data}"] * bool(req.data) + [f"noise={req.noise}"] * bool(req.noise)
            base = compose_config(groups)
            if run_config is not None:
                with open_dict(base):
                    if req.data is None and "data" in run_config:
                        base.data = run_config.data
                    if req.noise is None and "noise" in run_config:
                        base.noise = run_config.noise
        OmegaConf.set_struct(base, False)
        base = OmegaConf.merge(base, OmegaConf.from_dotlist(list(req.overrides)))
        channels = self._channels()
        if channels is not None and "channels" in base.data:
            base.data.channels = channels
        if "eval_size" in base.data and not any(o.startswith("data.eval_size=") for o in user_data):
            base.data.eval_size = None  # whole images, as benchmark tables score them
        if "num_workers" in base.data:
            base.data.num_workers = 0
        return (OmegaConf.to_container(base.data, resolve=True),
                OmegaConf.to_container(base.noise, resolve=True))

    def _channels(self) -> int | None:
        return self.model.denoiser.channels if self.model else self.request.channels

    def _level_curve(self, result: Any, levels: list[Level], output_dir: Path) -> dict[str, Any]:
        """PSNR against the corruption's main level for every method (levels.csv, levels.png),
        the level the first model was trained at marked when it is this corruption."""
        from restorelab.evaluation.reports import level_table, plot_curve

        corruption = levels[0].corruption
        key = corruption.level.key if corruption.level else "level"
        table = level_table(result, levels)
        trained = None
        config = self.model.config if self.model else None
        if config is not None and "noise" in config:
            import hydra

            trained_noise = hydra.utils.instantiate(config.noise)
            if type(trained_noise) is type(corruption):
                trained = trained_noise.level_bounds()
        write_rows(output_dir / "levels.csv", table)
        plot_curve(output_dir / "levels.png", table, trained, x_key="level",
                   xlabel=f"{corruption.name()}: {key}", trained_key=key,
                   title=f"PSNR against {key}, {len({r['image'] for r in result.rows})} "
                         "images per point, the same noisy images for every method")
        return {"key": key, "table": table}

    def _images(self, data_config: dict[str, Any]) -> tuple[list[EvalImage], str]:
        req = self.request
        if req.images is not None:
            channels = self._channels() or int(data_config.get("channels", 1))
            images, source = images_from_folder(req.images, channels), str(req.images)
        else:
            images = images_from_datamodule(data_config, req.split)
            source = f"{data_config['_target_']} ({req.split} split)"
        if not images:
            raise ValueError(f"no images to evaluate in {source}")
        if req.max_images is not None:
            if req.max_images < 1:
                raise ValueError(f"max_images must be >= 1, got {req.max_images}")
            images = images[: req.max_images]
            source = f"{source}, the first {len(images)}"
        return images, source

    def _methods(self, corruption: Any) -> tuple[list[Any], list[Method]]:
        """The chosen baselines, and every method in report order: noisy, the model (and its
        x8 self-ensemble), then the other baselines."""
        from restorelab.baselines import select_baselines
        from restorelab.inference import Denoiser

        chosen = select_baselines(self.request.baselines, corruption)
        methods = [baseline_method(b) for b in chosen]
        at = 1 if methods and methods[0].name == "noisy" else 0
        for model in self.models:
            denoiser = model.denoiser
            methods.insert(at, model_method(denoiser, model.label))
            at += 1
            if self.request.ensemble:  # the same net with the x8 self-ensemble, its own row
                x8 = Denoiser(denoiser.net, tile_size=denoiser.tile_size, overlap=denoiser.overlap,
                              batch_size=denoiser.batch_size, device=denoiser.device,
                              config=denoiser.config, ensemble=True)
                methods.insert(at, model_method(x8, f"{model.label}_x8"))
                at += 1
        return chosen, methods

    # ------------------------------------------------------------------ the report
    def _curve(
        self,
        methods: list[Method],
        images: list[EvalImage],
        noise_config: dict[str, Any],
        output_dir: Path,
    ) -> dict[str, Any]:
        """PSNR against Gaussian sigma (curve.csv, curve.png), the training level shaded."""
        from omegaconf import OmegaConf

        from restorelab.baselines import select_baselines

        req = self.request
        curve_set = images[: req.curve_images] if req.curve_images else images
        config = self.model.config if self.model else None
        trained = None
        if config is not None and "noise" in config and "sigma" in config.noise:
            sigma = OmegaConf.to_container(config.noise, resolve=True)["sigma"]
            trained = list(sigma) if isinstance(sigma, (list, tuple)) else [sigma]
        if "noisy" not in [m.name for m in methods]:
            methods = [baseline_method(select_baselines(["noisy"])[0]), *methods]
        table = noise_curve(
            methods, curve_set, req.curve_sigmas, bool(noise_config.get("clip", False)),
            req.seed, output_dir, trained, progress=req.progress,
        )
        return {"sigmas": list(req.curve_sigmas), "images": len(curve_set), "table": table}


def _default_output(run_dir: Path | None) -> Path:
    from restorelab import RUN_ID  # two evaluations in the same second: two folders

    stamp = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{RUN_ID}"
    return (run_dir / "eval" / stamp) if run_dir is not None else Path("logs") / "eval" / stamp
