"""How noisy inputs are made and outputs are scored, by name, so that every report can say which.

`literature`: the protocol of the public test scripts of KAIR and DPIR (`main_test_dncnn.py`,
`utils_image.py`), so numbers stand beside the published tables:

- clean = the 8-bit image / 255 as float32, gray sets as distributed;
- `np.random.seed(0)` before EACH image, then `noisy = clean + np.random.normal(0, sigma / 255,
  (H, W, C))`, kept float32, neither clipped nor quantized (a `RandomState(0)` gives the very
  same draw without touching NumPy's global state);
- the output clamped to [0, 1] and rounded to 8 bits, `np.uint8((x * 255).round())`;
- PSNR = 20 log10(255 / RMSE) against the 8-bit clean, per image, then the mean over images;
- SSIM: KAIR's `calculate_ssim` (the MATLAB-style SSIM of Wang et al.): an 11 x 11 Gaussian
  window of sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, on the 8-bit images, mean of the
  valid region, per channel then averaged; no border crop anywhere.

`float`: RestoreLab's own protocol of `restorelab eval` (src/restorelab/evaluate.py): image `i`
gets noise from a `torch.Generator` seeded with `seed + i`; PSNR and SSIM by torchmetrics with
data_range 1 on the output clamped to [0, 1], not rounded.
"""

from __future__ import annotations

import abc
import math

import numpy as np

PROTOCOLS = ("literature", "float")


def literature_noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """`[H, W, C]` uint8 -> the float32 noisy image exactly as KAIR makes it (see module doc)."""
    image = np.float32(clean / 255.0)  # KAIR's uint2single
    rng = np.random.RandomState(seed)  # == np.random.seed(seed); np.random.normal(...)
    noise = rng.normal(0, sigma / 255.0, image.shape)
    return (image + noise).astype(np.float32)  # KAIR adds in place into the float32 image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clamp to [0, 1] and round to 8 bits, as KAIR's `tensor2uint` does."""
    return np.uint8((np.clip(image, 0, 1) * 255.0).round())


def psnr_uint8(restored: np.ndarray, clean: np.ndarray) -> float:
    """20 log10(255 / RMSE) of two 8-bit images (inf when they are equal)."""
    mse = np.mean((restored.astype(np.float64) - clean.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 20 * math.log10(255.0 / math.sqrt(mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    # cv2.getGaussianKernel(11, 1.5): the normalized 1-D Gaussian of the MATLAB SSIM code.
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.ndimage import correlate1d

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = _gaussian_window()

    def blur(x: np.ndarray) -> np.ndarray:
        # The window is separable; only the valid region is kept, so the border mode is moot.
        out = correlate1d(correlate1d(x, kernel, axis=0), kernel, axis=1)
        return out[5:-5, 5:-5]

    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def ssim_uint8(restored: np.ndarray, clean: np.ndarray) -> float:
    """KAIR's `calculate_ssim` on two `[H, W]` or `[H, W, C]` 8-bit images (at least 11 x 11)."""
    if restored.shape != clean.shape:
        raise ValueError(f"SSIM of images of shapes {restored.shape} and {clean.shape}")
    if restored.ndim == 2:
        return _ssim_channel(restored, clean)
    return float(np.mean([_ssim_channel(restored[..., c], clean[..., c])
                          for c in range(restored.shape[-1])]))


class Protocol(abc.ABC):
    """Makes the noisy input of one image at one sigma, and scores one output against it.

    `noisy(clean, index, sigma)`: `[H, W, C]` uint8 -> float32 `[H, W, C]`, the same for every
    method; `finish(restored)`: the output as it is scored, cached and shown (uint8 or float32);
    `score(finished, clean)`: (PSNR, SSIM); `display(finished)`: float in [0, 1] for figures."""

    name = ""
    template = ""  # the description, with {seed}

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @property
    def description(self) -> str:
        """One paragraph that says exactly what was done, for every report."""
        return self.template.format(seed=self.seed)

    @abc.abstractmethod
    def noisy(self, clean: np.ndarray, index: int, sigma: float) -> np.ndarray: ...

    @abc.abstractmethod
    def finish(self, restored: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def score(self, finished: np.ndarray, clean: np.ndarray) -> tuple[float, float]: ...

    @staticmethod
    def display(finished: np.ndarray) -> np.ndarray:
        """A finished output as float in [0, 1], for figures."""
        if finished.dtype == np.uint8:
            return finished.astype(np.float32) / 255.0
        return np.clip(finished, 0, 1)


class LiteratureProtocol(Protocol):
    """The KAIR / DPIR protocol (module docstring): seed 0 before each image, 8-bit scoring."""

    name = "literature"
    template = (
        "literature (the KAIR / DPIR test scripts): clean = 8-bit / 255; np.random.seed({seed}) "
        "before each image, noisy = clean + np.random.normal(0, sigma/255), neither clipped nor "
        "quantized; output clamped to [0, 1] and rounded to 8 bits; PSNR = 20 log10(255 / RMSE) "
        "against the 8-bit clean per image, mean over images; SSIM = KAIR's calculate_ssim "
        "(MATLAB-style, 11x11 Gaussian window, sigma 1.5, on 8-bit); no border crop"
    )

    def noisy(self, clean: np.ndarray, index: int, sigma: float) -> np.ndarray:
        return literature_noisy(clean, sigma, self.seed)

    def finish(self, restored: np.ndarray) -> np.ndarray:
        return to_uint8(restored)

    def score(self, finished: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
        return psnr_uint8(finished, clean), ssim_uint8(finished, clean)


class FloatProtocol(Protocol):
    """RestoreLab's `restorelab eval` protocol: torch-seeded noise, float scoring (torchmetrics)."""

    name = "float"
    template = (
        "float (RestoreLab's restorelab eval): clean = 8-bit / 255; image i gets noise from a "
        "torch.Generator seeded with {seed} + i, unclipped; PSNR and SSIM by torchmetrics "
        "(data_range 1) on the output clamped to [0, 1], not rounded; mean over images; no "
        "border crop"
    )

    def noisy(self, clean: np.ndarray, index: int, sigma: float) -> np.ndarray:
        import torch

        from restorelab.evaluate import EvalImage, corrupt, gaussian_levels

        tensor = torch.from_numpy(clean).permute(2, 0, 1).float() / 255.0
        level = gaussian_levels([sigma])[0]
        noisy = corrupt(EvalImage("", tensor), index, level, self.seed)  # (C, H, W)
        return noisy.permute(1, 2, 0).numpy().astype(np.float32)

    def finish(self, restored: np.ndarray) -> np.ndarray:
        return np.clip(restored, 0, 1).astype(np.float32)

    def score(self, finished: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
        import torch

        from restorelab.evaluate import score

        def chw(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).float()

        return score(chw(finished), chw(clean) / 255.0)


def get_protocol(name: str, seed: int = 0) -> Protocol:
    """The protocol called `name` ('literature' or 'float'); ValueError names the choices."""
    protocols = {"literature": LiteratureProtocol, "float": FloatProtocol}
    if name not in protocols:
        raise ValueError(f"unknown protocol {name!r}; allowed: {', '.join(PROTOCOLS)}")
    return protocols[name](seed)
