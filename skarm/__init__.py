"""skarm: deep autoregressive models as scikit-learn estimators."""

import torch as _torch

# Flush denormal floats to zero on CPU. Late in training, softmax gradients of very
# unlikely categories and the Adam moments of idle parameters sink below 1e-38, where
# x86 CPUs run 5-10x slower (a digits fit went from 100 s to 460 s). The flag is
# per thread and torch's worker threads inherit it when they are created, so it is set
# at import, before they exist. Values below 1e-38 become 0; nothing else changes.
_torch.set_flush_denormal(True)

from skarm.density import AutoregressiveDensityEstimator  # noqa: E402
from skarm.outlier import AutoregressiveOutlierDetector  # noqa: E402
from skarm.predictive import PredictiveDistribution  # noqa: E402
from skarm.regression import ConditionalNLLRegressor  # noqa: E402

__all__ = [
    "AutoregressiveDensityEstimator",
    "AutoregressiveOutlierDetector",
    "ConditionalNLLRegressor",
    "PredictiveDistribution",
    "__version__",
]
__version__ = "0.1.0.dev0"
