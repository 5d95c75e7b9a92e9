"""RestoreLab's config tree, shipped inside the package: one folder per group, one YAML per choice.

Hydra finds it as `pkg://restorelab.conf`, so an installed RestoreLab trains from any folder.
"""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent
