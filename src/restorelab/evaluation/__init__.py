"""Evaluation after training: the harness (methods scored on identical seeded noisy images), the
image sources, the reports, and the `restorelab eval` job. `restorelab.benchmarks` is its
sibling for the literature's named test sets and protocol.

- `harness`: `EvalImage`, `Level`, `Method`, `evaluate`, `score`, `corruption_levels`.
- `sources`: images from a folder or from one split of a data config.
- `reports`: per-image CSV, image grid, noise-level curve, the printed table.
- `summary`: what summary.json says besides the results (models, images, levels, protocol).
- `request`: `EvalRequest`, what an evaluation is asked (options or a study's YAML).
- `job`: `run_evaluation`, the whole `restorelab eval`.
"""

from restorelab.evaluation.harness import (
    DEFAULT_CURVE_SIGMAS,
    EvalImage,
    EvaluationResult,
    Level,
    Method,
    baseline_method,
    corrupt,
    corruption_levels,
    evaluate,
    gaussian_levels,
    model_method,
    score,
)
from restorelab.evaluation.job import EvaluationJob, run_evaluation
from restorelab.evaluation.reports import (
    curve_table,
    noise_curve,
    plot_curve,
    results_table,
    write_grid,
    write_json,
    write_rows,
)
from restorelab.evaluation.request import EvalRequest, load_request
from restorelab.evaluation.sources import compose_config, images_from_datamodule, images_from_folder

__all__ = [
    "DEFAULT_CURVE_SIGMAS",
    "EvalImage",
    "EvalRequest",
    "load_request",
    "EvaluationJob",
    "EvaluationResult",
    "Level",
    "Method",
    "baseline_method",
    "compose_config",
    "corrupt",
    "corruption_levels",
    "curve_table",
    "evaluate",
    "gaussian_levels",
    "images_from_datamodule",
    "images_from_folder",
    "model_method",
    "noise_curve",
    "plot_curve",
    "results_table",
    "run_evaluation",
    "score",
    "write_grid",
    "write_json",
    "write_rows",
]
