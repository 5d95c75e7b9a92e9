"""The literature's standard denoising benchmarks: named image sets, the measurement protocol of
KAIR / DPIR, published figures, and one job that scores many methods on many sets.

    restorelab benchmark --methods dncnn-published:dncnn_sigma25.safetensors logs/train/runs/<run> \
        --sets bsd68 set12 --sigmas 15 25 50 --baselines noisy bm3d -o report/
"""

from restorelab.benchmarks.sets import BENCHMARK_SETS, BenchmarkSet, get_set

__all__ = ["BENCHMARK_SETS", "BenchmarkSet", "get_set"]
