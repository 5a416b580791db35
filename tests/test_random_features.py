"""The output refit's random features and quadratic connections (:mod:`skarm.nn.features`):
autoregressive structure, a normalised model, cached sampling, persistence and the gain
they exist for."""

import pickle

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid

import skarm
import skarm._refit as refit
from skarm import AutoregressiveDensityEstimator
from skarm.nn.made import MADE
from tests.helpers import assert_cached_equals_naive

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(32,), max_iter=40, ensemble_size=2, random_state=0)


def _curve(n, seed=0):
    """x uniform, y a smooth function of x up to a tiny noise."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, n)
    return np.c_[x, np.sin(2 * x) + 0.01 * rng.randn(n)]


def _chain(n, seed=0):
    """Four columns, each a smooth function of all the earlier ones plus small noise."""
    rng = np.random.RandomState(seed)
    a, b = rng.uniform(-2, 2, n), rng.randn(n)
    c = np.sin(a) * b + 0.02 * rng.randn(n)
    d = np.tanh(a + b) - 0.5 * c**2 + 0.02 * rng.randn(n)
    return np.c_[a, b, c, d]


def _inputs(est, X):
    """The encoded rows the fitted model's network reads."""
    x = torch.as_tensor(est.coder_.transform(X), dtype=torch.float64)
    return est.module_._net_input(x, None)


def _with_random_readout(module, inputs, width=16, seed=0):
    """Attach a feature block with a random (non-zero) read-out."""
    torch.manual_seed(seed)
    targets = torch.zeros(module.net.output.weight.shape[1], dtype=torch.bool)
    targets[refit._mean_targets(module)] = True
    block = module.net.attach_random_features(targets, inputs, width)
    with torch.no_grad():
        block.weight.normal_(0, 0.3)
    return block


@pytest.mark.parametrize("n_members", [1, 3])
def test_outputs_never_see_inputs_at_or_after_their_position(n_members):
    torch.manual_seed(0)
    n = 5
    degrees = torch.arange(n).repeat_interleave(2)  # two input units per position
    out_degrees = torch.arange(n).repeat_interleave(3)
    net = MADE(degrees, out_degrees, hidden_sizes=[12], n_members=n_members).double()
    x = torch.randn(50, len(degrees), dtype=torch.float64)
    targets = torch.ones(len(out_degrees), dtype=torch.bool)
    block = net.attach_random_features(targets, x, width=8)
    values = torch.arange(len(degrees)) % 2 == 0  # one value unit per position
    quadratic = net.attach_quadratic(targets, values, max_pairs=100)
    assert len(quadratic.pair_i) == 15  # 5 values: 5 squares and 10 pairs
    with torch.no_grad():
        block.weight.normal_()
        quadratic.linear.weight.normal_()
    for o, d in enumerate(out_degrees.tolist()):
        xi = x[:3].clone().requires_grad_(True)
        net(xi)[..., o].sum().backward()
        seen = xi.grad.abs().sum(0) > 0
        assert not seen[degrees >= d].any()
        if d > 0:  # the block of position d reads every earlier input
            only = block(xi.detach().unsqueeze(0).expand(n_members, -1, -1))
            assert only[..., o].abs().sum() > 0


def test_quadratic_pairs_are_a_random_subset_when_there_are_too_many():
    degrees = torch.arange(8)
    net = MADE(degrees, degrees, hidden_sizes=[16], n_members=2).double()
    values = torch.ones(8, dtype=torch.bool)
    targets = torch.ones(8, dtype=torch.bool)
    quadratic = net.attach_quadratic(targets, values, max_pairs=10)
    assert len(quadratic.pair_i) == 10 and bool((quadratic.pair_i <= quadratic.pair_j).all())
    assert len(torch.stack([quadratic.pair_i, quadratic.pair_j]).unique(dim=1).T) == 10
    # Output o reads a product only when both values come before it.
    latest = torch.maximum(quadratic.pair_i, quadratic.pair_j)
    expected = (degrees[:, None] > latest[None, :]).double()
    torch.testing.assert_close(quadratic.linear.mask[0], expected)
    assert net.attach_quadratic(targets, torch.zeros(8, dtype=torch.bool), 10) is None


@pytest.mark.parametrize("with_quadratic", [False, True])
def test_a_fitted_model_with_random_features_integrates_to_one(with_quadratic):
    est = AutoregressiveDensityEstimator(refit_rounds=0, **SMALL).fit(_curve(600))
    module = est.module_
    _with_random_readout(module, _inputs(est, _curve(300)))
    if with_quadratic:
        targets = refit._mean_targets(module)
        quadratic = module.net.attach_quadratic(targets, refit._value_inputs(module), 10)
        with torch.no_grad():
            quadratic.linear.weight.normal_(0, 0.3)
    # Each conditional of the second column (the one the block shifts) integrates to 1,
    # and so does the joint.
    x0 = np.linspace(-4.0, 4.0, 161)
    x1 = np.linspace(-6.0, 6.0, 4001)
    grid = np.array(np.meshgrid(x0, x1, indexing="ij")).reshape(2, -1).T
    cond = est.conditional_log_likelihood(grid)[:, 1].reshape(len(x0), len(x1))
    np.testing.assert_allclose(trapezoid(np.exp(cond), x1, axis=1), 1.0, atol=1e-3)
    density = np.exp(est.score_samples(grid)).reshape(len(x0), len(x1))
    assert trapezoid(trapezoid(density, x1, axis=1), x0) == pytest.approx(1.0, abs=1e-3)


@pytest.fixture(scope="module")
def chain_fit():
    """A default refit on data where every column is a smooth function of the earlier
    ones: the held-out rows keep the features."""
    X = _chain(2000)
    est = AutoregressiveDensityEstimator(**SMALL).fit(X)
    assert est.module_.net.random_features is not None
    assert est.module_.net.quadratic is not None
    return est, X


def test_the_features_gain_where_columns_are_smooth_functions_of_earlier_ones(
    chain_fit, monkeypatch
):
    est, _ = chain_fit
    monkeypatch.setattr(refit, "RANDOM_FEATURES", 0)
    without = AutoregressiveDensityEstimator(**SMALL).fit(_chain(2000))
    assert without.module_.net.random_features is None
    X_test = _chain(2000, seed=1)
    assert est.best_validation_score_ > without.best_validation_score_
    assert est.score(X_test) > without.score(X_test) + 0.1


def test_quadratic_connections_gain_where_a_column_is_a_product_of_earlier_ones(
    monkeypatch,
):
    def product(n, seed):
        rng = np.random.RandomState(seed)
        a, b = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
        return np.c_[a, b, a * b + 1e-3 * rng.randn(n)]

    X, X_test = product(2000, 0), product(2000, 1)
    est = AutoregressiveDensityEstimator(**SMALL).fit(X)
    assert est.module_.net.quadratic is not None
    monkeypatch.setattr(refit, "QUADRATIC_PAIRS", 0)
    without = AutoregressiveDensityEstimator(**SMALL).fit(X)
    assert without.module_.net.quadratic is None
    gain = est.conditional_log_likelihood(X_test) - without.conditional_log_likelihood(X_test)
    gain = gain.mean(axis=0)
    # a: nothing before it, so no product reaches it; the two refits may run different
    # numbers of rounds (each stops when a round gains < 0.01), which re-solve a's
    # marginal a little further.
    assert abs(gain[0]) < 1e-3
    assert abs(gain[1]) < 0.01  # b, independent of a (its mean may read a^2)
    assert gain[2] > 1.0  # a * b: measured 2.0 nats


def test_cached_sampling_equals_naive_with_features(chain_fit):
    est, X = chain_fit
    assert_cached_equals_naive(est, X[:200], starts=(0, 1, 3))


def test_models_with_features_round_trip_by_save_and_pickle(chain_fit, tmp_path):
    est, X = chain_fit
    est.save(tmp_path / "m.skarm")
    for copy in (skarm.load(tmp_path / "m.skarm"), pickle.loads(pickle.dumps(est))):
        assert copy.module_.net.random_features is not None
        assert copy.module_.net.quadratic is not None
        np.testing.assert_array_equal(copy.score_samples(X[:100]), est.score_samples(X[:100]))
        np.testing.assert_array_equal(
            copy.sample(20, random_state=3), est.sample(20, random_state=3)
        )


def test_a_warm_start_trains_the_read_out_and_keeps_the_model_normalised(chain_fit):
    est, X = chain_fit
    warm = pickle.loads(pickle.dumps(est)).set_params(warm_start=True, max_iter=2)
    warm.fit(X)
    block = warm.module_.net.random_features
    assert block is not None
    assert not torch.equal(block.weight, est.module_.net.random_features.weight)
    assert np.isfinite(warm.score(X))


def test_a_single_column_has_no_block_to_fit():
    X = _curve(300)[:, :1]
    est = AutoregressiveDensityEstimator(**SMALL).fit(X)
    assert est.module_.net.random_features is None
    assert np.isfinite(est.score(X))
