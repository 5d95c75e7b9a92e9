"""`restorelab.evaluate`: the import path of the evaluation API, kept for scripts and notebooks;
the code lives in the `restorelab.evaluation` package (harness, sources, reports, job).

    from restorelab.evaluate import run_evaluation, evaluate, corruption_levels
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
from restorelab.evaluation.job import EvalRequest, EvaluationJob, run_evaluation
from restorelab.evaluation.reports import (
    curve_table,
    noise_curve,
    plot_curve,
    results_table,
    write_grid,
    write_json,
    write_rows,
)
from restorelab.evaluation.sources import compose_config, images_from_datamodule, images_from_folder

__all__ = [
    "DEFAULT_CURVE_SIGMAS",
    "EvalImage",
    "EvalRequest",
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
