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


def load(path, device=None):
    """Load an estimator written by ``est.save(path)``, without executing code.

    The file is read with ``torch.load(weights_only=True)`` (tensors and plain data
    only), its SHA-256 digest is checked and the estimator is rebuilt from its saved
    parameters. A model saved on a GPU loads on CPU when CUDA is absent.

    Parameters
    ----------
    path : str or path-like
        A file written by ``save``.
    device : {"auto", "cpu", "cuda"}, torch.device or None, default=None
        Where to put the model; None keeps the saved device (CPU if CUDA is absent).

    Returns
    -------
    estimator : AutoregressiveDensityEstimator, AutoregressiveOutlierDetector or \
ConditionalNLLRegressor
        The fitted estimator, scoring exactly as the saved one.

    Raises
    ------
    ValueError
        If the file is not a skarm model, holds anything but tensors and plain data, has
        been modified since it was saved, or has an unknown format version.

    Examples
    --------
    >>> import numpy as np, os, tempfile, skarm
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.normal(size=(200, 2)), rng.normal(size=200)
    >>> reg = skarm.ConditionalNLLRegressor(max_iter=5, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "reg.skarm"); reg.save(path)
    >>> loaded = skarm.load(path, device="cpu")
    >>> bool((loaded.predict(X) == reg.predict(X)).all())
    True
    """
    from skarm._persist import load as _load

    return _load(path, device)


__all__ = [
    "AutoregressiveDensityEstimator",
    "AutoregressiveOutlierDetector",
    "ConditionalNLLRegressor",
    "PredictiveDistribution",
    "load",
    "__version__",
]
__version__ = "0.1.0.dev0"
