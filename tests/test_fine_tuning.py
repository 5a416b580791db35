"""Fine-tuning with frozen lower layers and the dimension-subsampled objective."""

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skarm import AutoregressiveDensityEstimator

from helpers import correlated_codes

ARCHITECTURES = {
    "made": {"hidden_layer_sizes": (16,)},
    "linear": {},
    "conv": {"hidden_layer_sizes": (8, 8)},
    "transformer": {"hidden_layer_sizes": (8, 8)},
    "pixelcnn": {"hidden_layer_sizes": (8, 8), "image_shape": (2, 3)},
}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _state(est):
    return {k: v.detach().clone() for k, v in est.module_.state_dict().items()}


def _output_names(est):
    ids = {id(p) for m in est.module_.net.output_layers() for p in m.parameters()}
    ids |= {id(p) for p in est.module_.heads.parameters()}
    return {name for name, p in est.module_.named_parameters() if id(p) in ids}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_output_fine_tuning_changes_only_the_output_layers(architecture):
    X = correlated_codes(n=300, n_features=6, n_levels=3, seed=0).astype(float)
    est = AutoregressiveDensityEstimator(
        architecture=architecture,
        ensemble_size=2,
        max_iter=2,
        random_state=0,
        **ARCHITECTURES[architecture],
    ).fit(X)
    before = _state(est)
    trained = _output_names(est)
    assert trained  # every architecture has output layers
    est.set_params(warm_start=True, trainable_layers="output", max_iter=3)
    est.fit(correlated_codes(n=300, n_features=6, n_levels=3, seed=1).astype(float))
    after = _state(est)
    params = dict(est.module_.named_parameters())
    for name in params:
        changed = not torch.equal(before[name], after[name])
        assert changed == (name in trained), name
    # Nothing stays frozen after the fit, and a later "all" fit trains the lower layers.
    assert all(p.requires_grad for p in est.module_.parameters())
    if len(trained) < len(params):
        est.set_params(trainable_layers="all").fit(X)
        again = _state(est)
        assert any(not torch.equal(after[n], again[n]) for n in params if n not in trained)


def test_partial_fit_respects_trainable_layers():
    X = correlated_codes(n=200, n_features=4, seed=0).astype(float)
    est = AutoregressiveDensityEstimator(
        hidden_layer_sizes=(16,), n_categories=3, trainable_layers="output", random_state=0
    )
    est.partial_fit(X)  # the first call trains everything
    before = _state(est)
    est.partial_fit(X)
    after = _state(est)
    trained = _output_names(est)
    for name in dict(est.module_.named_parameters()):
        assert (not torch.equal(before[name], after[name])) == (name in trained), name


def test_a_fresh_fit_ignores_trainable_layers():
    X = correlated_codes(n=200, n_features=4, seed=0).astype(float)
    params = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    a = AutoregressiveDensityEstimator(**params).fit(X)
    b = AutoregressiveDensityEstimator(trainable_layers="output", **params).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_fine_tuning_adapts_to_a_new_distribution():
    """Output-layer fine-tuning on few rows of a shifted distribution raises their
    held-out likelihood well above the source model's."""
    source = correlated_codes(n=600, n_features=5, n_levels=4, seed=0).astype(float)
    target = (3 - correlated_codes(n=400, n_features=5, n_levels=4, seed=1)).astype(float)
    target[:, 0] = np.minimum(target[:, 0], 1)  # a different marginal as well
    est = AutoregressiveDensityEstimator(
        hidden_layer_sizes=(32,), ensemble_size=1, max_iter=60, random_state=0
    ).fit(source)
    before = est.score(target[200:])
    est.set_params(warm_start=True, trainable_layers="output", max_iter=60).fit(target[:200])
    assert est.score(target[200:]) > before + 0.25  # measured: +0.40 nats per row


# ---------------------------------------------------------------- subsampled objective
@functools.cache
def _mixed_model(ensemble_size=2, architecture="made"):
    rng = np.random.RandomState(0)
    X = np.c_[
        rng.randint(0, 4, 300),
        rng.normal(size=300),
        rng.randint(0, 2, 300),
        np.round(rng.normal(size=300), 1),
        rng.randint(0, 3, 300),
        rng.normal(size=300),
    ]
    est = AutoregressiveDensityEstimator(
        distribution=["categorical", "mixture", "bernoulli", "mixture", "categorical", "normal"],
        architecture=architecture,
        ensemble_size=ensemble_size,
        hidden_layer_sizes=(16,) if architecture == "made" else (8, 8),
        dropout=0.0,
        max_iter=2,
        random_state=0,
    ).fit(X)
    module = est.module_.float().train()
    return module, torch.as_tensor(est.coder_.transform(X[:40]), dtype=torch.float32)


@settings(max_examples=25, deadline=None)
@given(n_columns=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_subsampled_objective_is_the_scaled_sum_over_a_random_subset(n_columns, seed):
    """Each draw is exactly (D / |S|) sum_{j in S} log p_k(x_j | x_<j), averaged over the
    members, for S the first |S| entries of a uniform random permutation: every column
    enters with probability |S| / D, so the estimate is unbiased."""
    module, z = _mixed_model()
    full = module.member_log_prob(z)  # (K, n, D)
    torch.manual_seed(seed)
    chosen = torch.randperm(6)[:n_columns]
    torch.manual_seed(seed)
    estimate = module.subsampled_log_prob(z, n_columns)
    expected = full[:, :, chosen].sum(dim=2).mean(dim=0) * 6 / n_columns
    torch.testing.assert_close(estimate, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("architecture", ["conv", "transformer"])
def test_subsampled_objective_without_output_unit_selection(architecture):
    """Networks without ``forward_units`` compute every output, then keep the subset's."""
    module, z = _mixed_model(ensemble_size=1, architecture=architecture)
    full = module.member_log_prob(z)
    torch.manual_seed(3)
    chosen = torch.randperm(6)[:4]
    torch.manual_seed(3)
    estimate = module.subsampled_log_prob(z, 4)
    torch.testing.assert_close(estimate, full[0][:, chosen].sum(dim=1) * 1.5)


def test_subsampled_gradients_average_to_the_full_gradient():
    """Over all subsets of size 2, the mean gradient is the full objective's gradient."""
    module, z = _mixed_model()
    params = [p for p in module.parameters() if p.requires_grad]

    def grads(value):
        found = torch.autograd.grad(value, params, allow_unused=True, materialize_grads=True)
        return torch.cat([g.flatten() for g in found])

    exact = grads(module.member_log_prob(z).sum(dim=2).mean(dim=0).sum())
    total = torch.zeros_like(exact)
    subsets = 0
    for i in range(6):
        for j in range(i + 1, 6):
            keep = torch.tensor([i, j])
            pair = module.member_log_prob(z)[:, :, keep].sum(dim=2).mean(dim=0)
            total += grads(pair.sum() * 3)
            subsets += 1
    torch.testing.assert_close(total / subsets, exact, rtol=1e-4, atol=1e-4)
    # and the estimator's own draws have finite gradients through every head
    torch.manual_seed(0)
    assert torch.isfinite(grads(module.subsampled_log_prob(z, 2).sum())).all()


def test_all_dimensions_is_the_ordinary_fit():
    X = correlated_codes(n=200, n_features=4, seed=0).astype(float)
    params = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    a = AutoregressiveDensityEstimator(**params).fit(X)
    b = AutoregressiveDensityEstimator(subsample_dimensions=1.0, **params).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_subsampled_training_learns_the_dependencies():
    """A chain x_j = x_{j-1} (prob. 0.9): trained on a quarter of the columns per step,
    the model is far ahead of independent columns, close to the full-objective fit."""
    rng = np.random.RandomState(0)
    n, d = 2000, 16
    X = np.empty((n, d))
    X[:, 0] = rng.randint(0, 2, n)
    for j in range(1, d):
        X[:, j] = np.where(rng.rand(n) < 0.9, X[:, j - 1], rng.randint(0, 2, n))
    train, test = X[:1500], X[1500:]
    params = dict(hidden_layer_sizes=(64,), ensemble_size=1, max_iter=80, random_state=0)
    full = AutoregressiveDensityEstimator(**params).fit(train).score(test)
    sub = AutoregressiveDensityEstimator(subsample_dimensions=0.25, **params).fit(train)
    independent = d * -math.log(2)  # both levels equally likely in every column
    true = -math.log(2) + (d - 1) * (0.95 * math.log(0.95) + 0.05 * math.log(0.05))
    assert sub.score(test) > independent + 0.8 * (true - independent)
    assert sub.score(test) > full - 0.3
