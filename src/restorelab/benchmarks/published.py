"""Published PSNR figures (dB) for additive white Gaussian noise, as the papers report them.

They are shown in every benchmark report as rows of their own, marked "published" with their
citation, and never averaged, ranked or plotted as if measured here. Each paper measured with
its own code (MATLAB for BM3D, WNNM and DnCNN, the KAIR / DPIR scripts for the later ones); the
protocol they share is the one of `protocol.LiteratureProtocol`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CITATIONS = {
    "DnCNN": "Zhang, Zuo, Chen, Meng, Zhang. Beyond a Gaussian Denoiser: Residual Learning of "
    "Deep CNN for Image Denoising. IEEE TIP 2017",
    "FFDNet": "Zhang, Zuo, Zhang. FFDNet: Toward a Fast and Flexible Solution for CNN-Based "
    "Image Denoising. IEEE TIP 2018",
    "IRCNN": "Zhang, Zuo, Gu, Zhang. Learning Deep CNN Denoiser Prior for Image Restoration. "
    "CVPR 2017",
    "DPIR": "Zhang, Li, Zuo, Zhang, Van Gool, Timofte. Plug-and-Play Image Restoration with Deep "
    "Denoiser Prior. IEEE TPAMI 2021",
    "SwinIR": "Liang, Cao, Sun, Zhang, Van Gool, Timofte. SwinIR: Image Restoration Using Swin "
    "Transformer. ICCV Workshops 2021",
    "Restormer": "Zamir, Arora, Khan, Hayat, Khan, Yang. Restormer: Efficient Transformer for "
    "High-Resolution Image Restoration. CVPR 2022",
    "SCUNet": "Zhang, Li, Liang, Cao, Zhang, Tang, Timofte, Van Gool. Practical Blind Image "
    "Denoising via Swin-Conv-UNet and Data Synthesis. Machine Intelligence Research 2023",
}


@dataclass(frozen=True)
class PublishedResult:
    """Mean PSNR of `method` on `benchmark` at each sigma, as reported in `paper` (a key of
    CITATIONS: the method's own paper, or for the classical methods the paper whose table
    RestoreLab's guide takes them from); `params` in millions where the paper gives it."""

    method: str
    benchmark: str
    psnr: dict[int, float]
    paper: str
    params: float | None = None
    note: str = ""


def _row(method: str, benchmark: str, figures: tuple[float, float, float], paper: str,
         params: float | None = None, note: str = "") -> PublishedResult:
    return PublishedResult(method, benchmark, dict(zip((15, 25, 50), figures)), paper, params, note)


PUBLISHED: tuple[PublishedResult, ...] = (
    # Gray BSD68
    _row("BM3D", "bsd68", (31.07, 28.57, 25.62), "DnCNN", note="BM3D: Dabov et al., TIP 2007"),
    _row("WNNM", "bsd68", (31.37, 28.83, 25.87), "DnCNN", note="WNNM: Gu et al., CVPR 2014"),
    _row("DnCNN-S", "bsd68", (31.73, 29.23, 26.23), "DnCNN", 0.56, "one net per sigma"),
    _row("FFDNet", "bsd68", (31.63, 29.19, 26.29), "FFDNet", 0.49),
    _row("IRCNN", "bsd68", (31.63, 29.15, 26.19), "IRCNN"),
    _row("DRUNet", "bsd68", (31.91, 29.48, 26.59), "DPIR", 32.6),
    _row("SwinIR", "bsd68", (31.97, 29.50, 26.58), "SwinIR"),
    _row("Restormer", "bsd68", (31.96, 29.52, 26.62), "Restormer"),
    _row("SCUNet", "bsd68", (31.99, 29.55, 26.67), "SCUNet"),
    # Gray Set12
    _row("BM3D", "set12", (32.37, 29.97, 26.72), "DnCNN", note="BM3D: Dabov et al., TIP 2007"),
    _row("DnCNN-S", "set12", (32.86, 30.44, 27.18), "DnCNN", 0.56, "one net per sigma"),
    _row("FFDNet", "set12", (32.75, 30.43, 27.32), "FFDNet", 0.49),
    _row("DRUNet", "set12", (33.25, 30.94, 27.90), "DPIR", 32.6),
    # Color CBSD68
    _row("CBM3D", "cbsd68", (33.52, 30.71, 27.38), "DnCNN",
         note="CBM3D: Dabov et al., ICIP 2007"),
    _row("CDnCNN-B", "cbsd68", (33.90, 31.24, 27.95), "DnCNN", note="one blind color net"),
    _row("FFDNet", "cbsd68", (33.87, 31.21, 27.96), "FFDNet"),
    _row("DRUNet", "cbsd68", (34.30, 31.69, 28.51), "DPIR", 32.6),
)


def published_rows(benchmarks: list[str], sigmas: list[float]) -> list[dict[str, Any]]:
    """One row per published method, benchmark and sigma asked for, marked `kind: published`
    and carrying its citation; sigmas no paper reports are simply absent."""
    rows = []
    for result in PUBLISHED:
        if result.benchmark not in benchmarks:
            continue
        for sigma in sigmas:
            if float(sigma) not in result.psnr:
                continue
            rows.append({
                "benchmark": result.benchmark,
                "sigma": float(sigma),
                "method": result.method,
                "kind": "published",
                "psnr": result.psnr[int(sigma)],
                "ssim": None,
                "params_millions": result.params,
                "citation": CITATIONS[result.paper],
                "note": result.note,
            })
    return rows
