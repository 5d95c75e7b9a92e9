"""Run a study and write its report: `python sweep.py [sweep=<name>] [overrides...]`."""

import sys
from pathlib import Path

from restorelab.sweep import main

if __name__ == "__main__":
    train_script = Path(__file__).resolve().with_name("train.py")
    sys.exit(main(train_command=[sys.executable, str(train_script)]))
