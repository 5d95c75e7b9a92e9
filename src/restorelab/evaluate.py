"""`restorelab.evaluate`: the import path of the evaluation API, kept for scripts and notebooks;
the code lives in the `restorelab.evaluation` package (harness, sources, reports, job).

    from restorelab.evaluate import run_evaluation, evaluate, corruption_levels
"""

from restorelab.evaluation import *  # noqa: F403  (the package's public names, listed once there)
from restorelab.evaluation import __all__  # noqa: F401
