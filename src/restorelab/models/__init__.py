"""Model families: plain nn.Modules mapping a [B, C, H, W] image in [0, 1] to the same shape;
FFDNet, DRUNet (and NAFNet with noise_map) also take the noise level (see `conditioning`)."""

from restorelab.models.autoencoder import ConvAutoencoder
from restorelab.models.dncnn import DnCNN
from restorelab.models.drunet import DRUNet
from restorelab.models.ffdnet import FFDNet
from restorelab.models.nafnet import NAFNet
from restorelab.models.rednet import REDNet
from restorelab.models.restormer import Restormer

__all__ = ["ConvAutoencoder", "DRUNet", "DnCNN", "FFDNet", "NAFNet", "REDNet", "Restormer"]
