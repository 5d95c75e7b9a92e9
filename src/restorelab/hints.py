""""Did you mean" for command-line keys that a config does not have.

Hydra refuses `data.root=photos` with "Key 'root' is not in struct", which does not say that the
folder key is `data.data_dir`. After Hydra has refused a command line, `key_hints` composes the
config with the command's group choices only (`data=folder`, `experiment=...`) and, for each
`group.key=value` whose key is not there, names the closest keys the group does have.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

# The names people try first, and the key RestoreLab calls it.
ALIASES = {
    "root": "data_dir",
    "dir": "data_dir",
    "path": "data_dir",
    "folder": "data_dir",
    "data_root": "data_dir",
    "epochs": "max_epochs",
    "num_epochs": "max_epochs",
    "steps": "max_steps",
    "learning_rate": "lr",
    "bs": "batch_size",
    "noise_level": "sigma",
    "workers": "num_workers",
    "channels_in": "in_channels",
}


def key_hints(overrides: Sequence[str], conf_dir: Path) -> list[str]:
    """One line per override whose key its config node lacks, with the likely intended key."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import DictConfig, OmegaConf

    import restorelab  # noqa: F401  (the resolvers the configs use)

    pairs = [o.split("=", 1) for o in overrides if "=" in o and not o.startswith("-")]
    choices = [f"{k}={v}" for k, v in pairs if "." not in k and not k.startswith(("+", "~"))]
    choices = [c for c in choices if "," not in c]  # one choice per group is enough to look
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir)):
            cfg = compose(config_name="train", overrides=choices)
    except Exception:  # noqa: BLE001  the choices themselves are wrong: Hydra said so already
        return []
    hints = []
    for key, _ in pairs:
        if key.startswith(("+", "~", "hydra.")) or "." not in key:
            continue
        parent, leaf = key.rsplit(".", 1)
        node = OmegaConf.select(cfg, parent)
        if not isinstance(node, DictConfig) or leaf in node:
            continue
        known = [str(k) for k in node.keys()]
        alias = ALIASES.get(leaf)
        close = [alias] if alias in known else difflib.get_close_matches(leaf, known, 3, 0.5)
        target = str(node.get("_target_", "")).rsplit(".", 1)[-1]
        what = f"{parent} ({target})" if target else parent
        guess = f"did you mean {parent}.{close[0]}? " if close else ""
        hints.append(
            f"hint: {what} has no key '{leaf}'; {guess}its keys: {', '.join(known)} "
            f"(add a new key with +{key}=...)"
        )
    return hints
