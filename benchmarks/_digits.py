"""The digits split shared by the benchmarks, the demo and the docs (intro_dgm book code)."""

import numpy as np
from sklearn.datasets import load_digits

N_TRAIN = 1350


def digits_split():
    """Rows 0-1349 train, rows 1350-1796 test; pixel values are integers 0..16."""
    X = load_digits().data.astype(np.float64)
    return X[:N_TRAIN], X[N_TRAIN:]
