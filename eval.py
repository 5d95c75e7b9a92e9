"""Thin entry point: `python eval.py [CHECKPOINT] [options]` is `restorelab eval ...`."""

import sys

from restorelab.cli import main

if __name__ == "__main__":
    main(["eval", *sys.argv[1:]])
