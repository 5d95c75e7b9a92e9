"""RestoreLab: PyTorch Lightning + Hydra experiments for image-restoration autoencoders."""

import os
import secrets

from omegaconf import OmegaConf

__version__ = "0.1.0"

# `${restorelab.cwd:}` in conf/paths: the directory a run was started from. Hydra's own
# `${hydra:runtime.cwd}` is not available yet when a multirun resolves its sweep folder.
OmegaConf.register_new_resolver("restorelab.cwd", os.getcwd, replace=True)

# `${restorelab.run_id:}` in conf/hydra: six hex digits drawn once per process, so that runs (or
# studies, or jobs of a cluster array) started in the same second get folders of their own.
RUN_ID = secrets.token_hex(3)
OmegaConf.register_new_resolver("restorelab.run_id", lambda: RUN_ID, replace=True)

# `${restorelab.gpus_per_node:${trainer.accelerator},${trainer.devices}}` in conf/launcher/slurm:
# a Slurm job asks for one GPU per device, and for none when the trainer runs on the CPU.
OmegaConf.register_new_resolver(
    "restorelab.gpus_per_node",
    lambda accelerator, devices: None if str(accelerator) == "cpu" else devices,
    replace=True,
)

# `${restorelab.run_dir:${resume},${ckpt_path},NEW}` and `${restorelab.output_subdir:...}` in
# conf/hydra: a resumed run continues in its own folder (see restorelab.resume).
def _run_dir(resume, ckpt_path, new):
    from restorelab.resume import run_dir

    return run_dir(resume, ckpt_path, new)


def _output_subdir(resume, ckpt_path, output_dir):
    from restorelab.resume import output_subdir

    return output_subdir(resume, ckpt_path, output_dir)


OmegaConf.register_new_resolver("restorelab.run_dir", _run_dir, replace=True)
OmegaConf.register_new_resolver("restorelab.output_subdir", _output_subdir, replace=True)

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
