"""Train, validate and test a restoration model: `python train.py model=unet noise.sigma=50`."""

import sys

import hydra
from omegaconf import DictConfig

import restorelab  # noqa: F401  (registers the config resolvers before Hydra composes)


@hydra.main(version_base="1.3", config_path="pkg://restorelab.conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from restorelab import interrupts

    interrupts.install()  # before the slow imports: a Ctrl-C in them stops the job, too
    from restorelab.train import main as run_main  # imported here so --help stays fast

    return run_main(cfg)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:
        if stop.code == 1:  # Hydra refused the command line, or the run failed: name wrong keys
            from restorelab.conf import CONF_DIR
            from restorelab.hints import key_hints

            for line in key_hints(sys.argv[1:], CONF_DIR):
                print(line, file=sys.stderr)
        raise
