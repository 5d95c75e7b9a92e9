"""RestoreLab: PyTorch Lightning + Hydra experiments for image-restoration autoencoders."""

__version__ = "0.1.0"
