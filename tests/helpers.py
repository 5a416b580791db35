"""Data and checks shared by the tests: small discrete spaces with real dependence, and
mixed columns for cached-versus-naive sampling."""

import itertools

import numpy as np
import torch


def correlated_codes(n=600, n_features=3, n_levels=3, seed=0):
    """Discrete data with real dependence between columns."""
    rng = np.random.RandomState(seed)
    X = np.empty((n, n_features), dtype=np.int64)
    X[:, 0] = rng.randint(0, n_levels, n)
    for j in range(1, n_features):
        noise = rng.randint(0, n_levels, n)
        X[:, j] = np.where(rng.rand(n) < 0.7, X[:, j - 1], noise)
    return X


def all_states(levels):
    return np.array(list(itertools.product(*[range(k) for k in levels])), dtype=float)


def mixed_columns(n=600, seed=0):
    """Categorical, continuous with three repeated settings (atoms: an input code),
    continuous and Bernoulli columns, each depending on the earlier ones."""
    rng = np.random.RandomState(seed)
    c = rng.randint(0, 3, n)
    setting = rng.choice([0.0, 1.5, 4.0], n)
    x = c + setting + 0.3 * rng.randn(n)
    b = (x + rng.randn(n) > 2).astype(float)
    return np.column_stack([c, setting, x, b])


def assert_cached_equals_naive(est, X, starts=(0, 2), seed=7):
    """The fitted model's cached and full-pass draws agree for the same random numbers,
    from scratch and continuing the given first ``start`` positions of ``X``'s rows:
    discrete columns exactly, continuous ones to float rounding."""
    module = est.module_
    discrete = ~torch.as_tensor(est.coder_.continuous)
    for start in starts:
        x0 = torch.as_tensor(est.coder_.transform(X), dtype=torch.float64)
        torch.manual_seed(seed)
        cached = module.sample(len(x0), x=x0, start=start)
        torch.manual_seed(seed)
        naive = module.sample(len(x0), x=x0, start=start, cache=False)
        assert torch.equal(cached[:, discrete], naive[:, discrete])
        torch.testing.assert_close(cached, naive, rtol=1e-9, atol=1e-9)
        given = module.orders[0][:start]
        assert torch.equal(cached[:, given], x0[:, given])
