"""RestoreLab's Hydra launchers; Hydra takes launchers from the `hydra_plugins` namespace only."""
