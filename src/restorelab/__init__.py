"""RestoreLab: PyTorch Lightning + Hydra experiments for image-restoration autoencoders."""

import os

from omegaconf import OmegaConf

__version__ = "0.1.0"

# `${restorelab.cwd:}` in conf/paths: the directory a run was started from. Hydra's own
# `${hydra:runtime.cwd}` is not available yet when a multirun resolves its sweep folder.
OmegaConf.register_new_resolver("restorelab.cwd", os.getcwd, replace=True)

# `${optuna_direction:${monitor_mode}}`: the search direction follows the monitored metric.
OmegaConf.register_new_resolver(
    "optuna_direction", lambda mode: {"max": "maximize", "min": "minimize"}[mode], replace=True
)


def __getattr__(name: str):
    """`restorelab.load_denoiser`, imported on first use so that `import restorelab` stays light."""
    if name == "load_denoiser":
        from restorelab.inference import load_denoiser

        return load_denoiser
    raise AttributeError(f"module 'restorelab' has no attribute {name!r}")
