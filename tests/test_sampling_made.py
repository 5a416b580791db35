"""MADE's incremental generation: ``step`` gives ``forward``'s outputs position by position,
and cached sampling draws what full passes draw, for the same random numbers."""

import copy

import numpy as np
import pytest
import torch

from skarm import AutoregressiveDensityEstimator, AutoregressiveOutlierDetector
from skarm.nn import MADE

from helpers import assert_cached_equals_naive, mixed_columns


@pytest.mark.parametrize("hidden", [(), (8,), (8, 6)])
@pytest.mark.parametrize("n_members", [1, 3])
def test_step_gives_the_outputs_of_a_full_pass(hidden, n_members):
    torch.manual_seed(0)
    in_deg = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 5, 6])  # positions with 1-3 input units
    out_deg = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 5, 0, 3])
    net = MADE(in_deg, out_deg, hidden_sizes=hidden, dropout=0.3, n_members=n_members).double()
    for p in net.parameters():  # non-zero direct weights and biases everywhere
        torch.nn.init.normal_(p)
    net.eval()
    x = torch.randn(5, len(in_deg), dtype=torch.float64)
    full = net(x)
    assert net.can_step
    cache = net.init_cache(5, x)
    for p in range(7):
        previous = x[:, in_deg == p - 1] if p > 0 else None
        out = net.step(cache, previous, p)
        torch.testing.assert_close(out, full[:, :, out_deg == p], rtol=1e-12, atol=1e-12)


def test_step_checks_the_width_of_the_given_inputs():
    net = MADE([0, 1, 1], [0, 1, 2], hidden_sizes=(4,)).double().eval()
    cache = net.init_cache(2, torch.zeros(2, 3, dtype=torch.float64))
    net.step(cache, None, 0)
    with pytest.raises(ValueError, match="Position 1 has 2 input units; got 1"):
        net.step(cache, torch.zeros(2, 1, dtype=torch.float64), 2)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"architecture": "linear"},
        {"hidden_layer_sizes": (16, 8), "categorical_encoding": "onehot"},
        {"ensemble_size": 1, "order": "random"},
    ],
)
def test_cached_sampling_equals_full_passes_on_mixed_columns(params):
    X = mixed_columns()
    kinds = ["categorical", "mixture", "mixture", "bernoulli"]
    est = AutoregressiveDensityEstimator(
        distribution=kinds, max_iter=10, random_state=0, **params
    ).fit(X)
    assert est.module_.net.can_step
    assert_cached_equals_naive(est, X[:300])


def test_members_with_their_own_orders_and_old_models_sample_by_full_passes():
    X = mixed_columns()
    est = AutoregressiveDensityEstimator(order="ensemble", max_iter=5, random_state=0).fit(X)
    assert not est.module_.net.can_step  # each member its own order
    assert np.isfinite(est.score_samples(est.sample(200, random_state=0))).all()

    est = AutoregressiveDensityEstimator(max_iter=5, random_state=0).fit(X)
    old = copy.deepcopy(est)
    del old.module_.net._step_units  # as pickled before incremental generation
    assert not old.module_.net.can_step
    np.testing.assert_allclose(
        old.sample(500, random_state=3), est.sample(500, random_state=3), rtol=1e-9, atol=1e-9
    )


def test_outlier_threshold_uses_the_same_draws():
    """The detector's "auto" threshold scores model draws: the cached draws give the
    threshold that full passes give."""
    X = mixed_columns()
    det = AutoregressiveOutlierDetector(max_iter=5, random_state=0).fit(X)
    slow = copy.deepcopy(det)
    del slow.module_.net._step_units
    assert det._threshold(X) == pytest.approx(slow._threshold(X), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_the_regressors_cached_draws_equal_full_passes(n_outputs):
    """A conditional model: the features are the network's inputs of degree 0."""
    from skarm import ConditionalNLLRegressor

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    Y = X @ rng.randn(2, n_outputs) + 0.2 * rng.randn(300, n_outputs)
    Y[:, -1] += Y[:, 0] ** 2  # outputs that depend on each other
    reg = ConditionalNLLRegressor(distribution="mixture", max_iter=5, random_state=0)
    reg.fit(X, Y if n_outputs > 1 else Y[:, 0])
    module = reg.module_
    assert module.net.can_step
    context = reg._context_tensor(reg._context(X[:200]))
    torch.manual_seed(5)
    cached = module.sample(200, context=context)
    torch.manual_seed(5)
    naive = module.sample(200, context=context, cache=False)
    torch.testing.assert_close(cached, naive, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="needs a context of shape"):
        module.sample(200)
    draws = reg.sample(X[:50], n_samples=4, random_state=0)
    assert draws.shape == ((4, 50, n_outputs) if n_outputs > 1 else (4, 50))
