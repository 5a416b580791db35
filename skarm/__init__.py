"""skarm: deep autoregressive models as scikit-learn estimators."""

from skarm.density import AutoregressiveDensityEstimator

__all__ = ["AutoregressiveDensityEstimator", "__version__"]
__version__ = "0.1.0.dev0"
