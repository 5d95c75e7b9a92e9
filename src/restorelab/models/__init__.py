"""Model families: plain nn.Modules mapping a [B, C, H, W] image in [0, 1] to the same shape."""

from restorelab.models.autoencoder import ConvAutoencoder
from restorelab.models.dncnn import DnCNN
from restorelab.models.rednet import REDNet

__all__ = ["ConvAutoencoder", "DnCNN", "REDNet"]
