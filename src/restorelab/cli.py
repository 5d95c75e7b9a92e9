"""`restorelab`: train, evaluate, denoise, export and demo from the command line.

    restorelab train model=unet noise.sigma=50
    restorelab sweep sweep=architecture
    restorelab eval --checkpoint logs/train/runs/<run> --levels 15 25 50 --curve
    restorelab denoise photos/ -o restored/ --checkpoint logs/train/runs/<run>
    restorelab export --checkpoint logs/train/runs/<run> --format onnx -o model.onnx
    restorelab demo
    restorelab shards data/DIV2K -o data/div2k-shards   # then train with data=streaming

`train` and `sweep` are `python train.py` and `python sweep.py` of the repository, composed from
the config tree inside the package, and take Hydra's command line; the others take plain options,
each from its module in `restorelab.commands`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from restorelab.commands import benchmark, demo, denoise, evaluate, export, shards
from restorelab.commands.options import TILE_HELP as TILE_HELP  # re-exported
from restorelab.commands.options import tile_size_arg as tile_size_arg  # re-exported
from restorelab.errors import RestoreLabError

log = logging.getLogger("restorelab")


# Commands whose arguments are Hydra's (overrides, -m, --config-dir, --help): handed on whole.
HYDRA_COMMANDS = ("train", "sweep")
# The others, each a module of `restorelab.commands` (its options and its handler), in the
# order `restorelab --help` lists them.
COMMANDS = {"eval": evaluate, "denoise": denoise, "export": export, "demo": demo,
            "benchmark": benchmark, "shards": shards}


def _hydra_parsers(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("train", add_help=False,
                   help="train, validate and test a model: Hydra overrides (`model=unet "
                   "noise.sigma=50`, `-m` for a multirun, `--help` for Hydra's)")
    sub.add_parser("sweep", add_help=False,
                   help="run a study from conf/sweep/ and write its report (`sweep=NAME`, "
                   "overrides, `--report FOLDER`)")


def _run_hydra_command(command: str, arguments: list[str]) -> None:
    """`restorelab train|sweep ARGS` as `python train.py|sweep.py ARGS` would run them."""
    from restorelab import distributed

    # The job's own command, for the other DDP ranks and for the jobs of a study.
    job_command = [sys.executable, "-m", "restorelab", "train"]
    if command == "sweep":
        from restorelab.sweep import main as sweep_main

        raise SystemExit(sweep_main(train_command=job_command, argv=arguments))

    from restorelab.train import hydra_main

    distributed.JOB_COMMAND[:] = job_command
    sys.argv = [sys.argv[0], *arguments]  # what Hydra parses
    try:
        hydra_main()
    except SystemExit as stop:
        if stop.code == 1:  # Hydra refused the command line, or the run failed: name wrong keys
            from restorelab.conf import CONF_DIR
            from restorelab.hints import key_hints

            for line in key_hints(arguments, CONF_DIR):
                print(line, file=sys.stderr)
        raise


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `restorelab` command (and of `python eval.py`).

    Expected errors (bad input, missing files, refused outputs) end as one line on stderr and
    exit status 1; Ctrl-C as one line and 130. `--debug` shows the traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((i for i, item in enumerate(argv) if not item.startswith("-")), None)
    if command is not None and argv[command] in HYDRA_COMMANDS:
        if "--debug" in argv[:command]:  # Hydra's own switch for the traceback
            import os

            os.environ["HYDRA_FULL_ERROR"] = "1"
        _run_hydra_command(argv[command], argv[command + 1:])
        return
    parser = argparse.ArgumentParser(prog="restorelab", description=__doc__.split("\n")[0])
    parser.epilog = "eval also takes data.KEY=VALUE and noise.KEY=VALUE overrides"
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)
    _hydra_parsers(sub)
    for subcommand in COMMANDS.values():
        subcommand.add_parser(sub)
    args, rest = parser.parse_known_args(argv)
    args.passthrough = rest if args.command == "demo" else []
    rest = [] if args.command == "demo" else rest
    args.overrides = [item for item in rest if "=" in item and not item.startswith("-")]
    unknown = [item for item in rest if item not in args.overrides]
    if unknown or (args.overrides and args.command != "eval"):
        parser.error(f"unrecognized arguments: {' '.join(unknown or args.overrides)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"restorelab {args.command}: interrupted; files written so far are whole",
              file=sys.stderr)
        raise SystemExit(130) from None
    except _expected_errors() as error:
        if args.debug:
            raise
        print(f"restorelab {args.command}: {_one_line(error)}", file=sys.stderr)
        raise SystemExit(1) from None


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a user's input can cause; anything else is a bug and keeps its traceback."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return (RestoreLabError, OSError, ValueError, HydraException, OmegaConfBaseException)


def _one_line(error: BaseException) -> str:
    from restorelab.error_lines import one_line

    return one_line(error).removesuffix("; set HYDRA_FULL_ERROR=1 for the traceback") + (
        " (--debug for the traceback)"
    )


if __name__ == "__main__":
    main()
