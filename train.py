"""Train, validate and test a restoration model: `python train.py model=unet noise.sigma=50`."""

import hydra
from omegaconf import DictConfig

import restorelab  # noqa: F401  (registers the config resolvers before Hydra composes)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from restorelab.train import main as run_main  # imported here so --help stays fast

    return run_main(cfg)


if __name__ == "__main__":
    main()
