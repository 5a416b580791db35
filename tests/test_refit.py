"""The closed-form refit of the Gaussian conditionals' output layer (``refit_rounds``)."""

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skarm import AutoregressiveDensityEstimator
from skarm._refit import _em_means, _Features, _held_out, refit_output_layer
from skarm._refit_solve import _em_logits, _gram, _weighted_ridge

SMALL = dict(hidden_layer_sizes=(32,), max_iter=40, ensemble_size=2, random_state=0)


@contextmanager
def _torch_threads(n):
    """Run the block with torch on ``n`` threads, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _curve(n, seed=0):
    """x uniform, y a smooth function of x up to a tiny noise: a conditional whose mean
    stochastic gradients fit only roughly."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, n)
    return np.c_[x, np.sin(2 * x) + 0.01 * rng.randn(n)]


def _loss(module, x, alpha):
    """The MAP objective of each member, summed over rows: ``-sum log p + alpha/2 ||W||^2``
    (output layer and direct weights; the hidden weights do not change in the refit)."""
    nll = -module.member_log_prob(x).sum(dim=(1, 2))
    penalty = sum(
        0.5 * alpha * layer.penalized_weight().square().sum(dim=(1, 2))
        for layer in module.net.output_layers()
    )
    return nll + penalty


def test_refit_gains_on_a_smooth_conditional():
    X, X_test = _curve(1500), _curve(1000, seed=1)
    plain = AutoregressiveDensityEstimator(refit_rounds=0, **SMALL).fit(X)
    refit = AutoregressiveDensityEstimator(**SMALL).fit(X)
    assert refit.n_iter_ == plain.n_iter_  # same training, then the refit
    assert refit.best_validation_score_ > plain.best_validation_score_ + 0.1
    assert refit.score(X_test) > plain.score(X_test) + 0.1


@pytest.mark.parametrize("distribution", ["normal", "mixture"])
def test_em_step_never_lowers_the_training_objective(distribution):
    est = AutoregressiveDensityEstimator(
        distribution=distribution, refit_rounds=0, atoms=None, **SMALL
    ).fit(_curve(600))
    module = est.module_.double().eval()
    x = torch.as_tensor(est.coder_.transform(_curve(600)), dtype=torch.float64)
    with torch.no_grad():
        before = _loss(module, x, est.alpha)
        _em_means(module, _Features(module, x), est.alpha)
        after = _loss(module, x, est.alpha)
    # Generalised EM: each member's MAP objective goes down (or stays).
    assert torch.all(after <= before + 1e-6 * before.abs())
    assert torch.all(after < before)  # and here, with means fitted roughly, it moves


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 300),
    p=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    dtype=st.sampled_from([torch.float64, torch.float32]),
    threads=st.sampled_from([1, 2]),
)
def test_gram_is_the_weighted_cross_product(n, p, seed, dtype, threads):
    """``_gram`` (BLAS's symmetric rank-k update in float64 on one CPU thread, the
    general product otherwise) is ``a.T diag(w) a``, zero weights included; the ridge
    solve on it is the normal equations' solution."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, p, generator=g, dtype=torch.float64)
    w = torch.rand(n, generator=g, dtype=torch.float64) * (torch.rand(n, generator=g) > 0.3)
    z = torch.randn(n, generator=g, dtype=torch.float64)
    a1 = torch.cat([a, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    with _torch_threads(threads):
        got = _gram(a.to(dtype), w.to(dtype))
        theta = _weighted_ridge(a1, w, z, alpha=0.5)
    expected = a.T @ torch.diag(w) @ a
    assert got.dtype == dtype and got.shape == (p, p)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    scale = float(expected.abs().max()) + 1e-300
    assert float((got.double() - expected).abs().max()) <= tol * scale
    if dtype == torch.float64 and threads == 1:  # one triangle, mirrored
        assert torch.equal(got, got.T)
    ridge = torch.diag(torch.tensor([0.5] * p + [0.0], dtype=torch.float64))
    system = a1.T @ torch.diag(w) @ a1 + ridge
    if theta is not None and float(torch.linalg.cond(system)) < 1e8:
        residual = system @ theta - a1.T @ (w * z)
        assert float(residual.abs().max()) <= 1e-8 * (1 + float((a1.T @ (w * z)).abs().max()))


@pytest.mark.parametrize("threads", [1, 2])
def test_em_step_solves_a_gaussian_conditional_exactly(threads):
    """One Gaussian per conditional: the M-step is the exact minimiser over the mean
    units' weights (the scales held), so the objective's gradient there vanishes; on one
    thread its Gram matrices come from BLAS's ``dsyrk``, on two from a matrix product."""
    est = AutoregressiveDensityEstimator(distribution="normal", refit_rounds=0, **SMALL)
    est.fit(_curve(600))
    module = est.module_.double().eval()
    x = torch.as_tensor(est.coder_.transform(_curve(600)), dtype=torch.float64)
    mean_units = [0, 2]  # "normal": (mean, scale) per column

    def mean_gradient():
        loss = _loss(module, x, est.alpha).sum()
        weights = [module.net.output.weight, module.net.output.bias, module.net.direct.weight]
        grads = torch.autograd.grad(loss, weights)
        masks = [module.net.output.mask, torch.ones(()), module.net.direct.mask]
        largest = 0.0
        for g, m in zip(grads, masks, strict=True):
            g = g * m
            g = g[..., mean_units] if g.shape[-2] == 1 else g[..., mean_units, :]  # bias: (K, 1, n)
            largest = max(largest, float(g.abs().max()))
        return largest

    before = mean_gradient()
    with _torch_threads(threads), torch.no_grad():
        _em_means(module, _Features(module, x), est.alpha)
    assert mean_gradient() < 1e-6 * before


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_refit_never_lowers_the_held_out_score(seed):
    rng = np.random.RandomState(seed)
    X = np.c_[rng.randn(300), rng.gamma(1.0, size=300), rng.randint(0, 3, 300) * 1.5]
    params = dict(SMALL, random_state=seed, max_iter=15)
    plain = AutoregressiveDensityEstimator(refit_rounds=0, **params).fit(X)
    refit = AutoregressiveDensityEstimator(**params).fit(X)
    assert refit.best_validation_score_ >= plain.best_validation_score_


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_no_member_scores_worse_on_any_held_out_column(seed):
    """The gate keeps a change of a (member, column) conditional only where its held-out
    rows score better: whatever the refit adds (random features, quadratic connections),
    no member's column ends worse."""
    rng = np.random.RandomState(seed)
    a, b = rng.uniform(-2, 2, 600), rng.randn(600)
    X = np.c_[a, b, a * b + 0.05 * rng.randn(600), np.sin(a) + 0.3 * rng.standard_t(2, 600)]
    est = AutoregressiveDensityEstimator(refit_rounds=0, **dict(SMALL, random_state=seed))
    module = est.fit(X[:400]).module_
    z = torch.as_tensor(est.coder_.transform(X), dtype=torch.float64)
    with torch.no_grad():
        before = _held_out(module, z[400:])[1]
        refit_output_layer(module, z[:400], z[400:], est.alpha, 3)
        after = _held_out(module, z[400:])[1]
    assert bool((after >= before - 1e-9).all())


def test_refit_undoes_itself_when_held_out_rows_do_not_improve():
    est = AutoregressiveDensityEstimator(refit_rounds=0, **SMALL).fit(_curve(400))
    module = est.module_.double().eval()
    x = torch.as_tensor(est.coder_.transform(_curve(400)), dtype=torch.float64)
    saved = [p.detach().clone() for p in module.parameters()]
    # Held-out rows far off the curve: nothing the training rows suggest helps them.
    far = x[:50].clone()
    far[:, 1] = 5.0
    before, after = refit_output_layer(module, x, far, est.alpha, 3)
    assert after >= before
    if after == before:
        for p, s in zip(module.parameters(), saved, strict=True):
            assert torch.equal(p, s)


@pytest.mark.parametrize(
    "params",
    [
        dict(early_stopping=False),  # no held-out rows to check a change on
        dict(l1_ratio=0.5),  # no closed form under a Laplace prior
        dict(architecture="conv"),
        dict(distribution="categorical"),
    ],
)
def test_refit_is_skipped_where_it_does_not_apply(params):
    X = np.abs(np.round(_curve(300) * 3))
    kwargs = dict(SMALL, max_iter=5)
    kwargs.update(params)
    if kwargs.get("architecture") == "conv":
        kwargs.pop("hidden_layer_sizes")
    a = AutoregressiveDensityEstimator(refit_rounds=0, **kwargs).fit(X)
    b = AutoregressiveDensityEstimator(**kwargs).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_refit_applies_to_the_linear_architecture():
    X = _curve(800)
    X = np.c_[X, 2.0 * X[:, 0] + 0.001 * np.random.RandomState(3).randn(len(X))]
    kwargs = dict(architecture="linear", max_iter=20, random_state=0, ensemble_size=1)
    plain = AutoregressiveDensityEstimator(refit_rounds=0, **kwargs).fit(X)
    refit = AutoregressiveDensityEstimator(**kwargs).fit(X)
    assert refit.best_validation_score_ > plain.best_validation_score_


def test_refit_leaves_components_that_hold_few_rows_alone():
    """A column on three atoms but for 1 % of its rows: its free components hold too few
    rows (fewer than ``MIN_ROWS``) for their scales to be recalibrated, however the
    training rows would like them (concrete's age: one shrunken scale cost a test row
    495 nats)."""
    rng = np.random.RandomState(0)
    n = 1500
    x0 = rng.randn(n)
    x1 = rng.randint(0, 3, n) * 0.5 + 0.1 * x0.round()
    off = rng.rand(n) < 0.01
    x1[off] = rng.uniform(-3, 3, off.sum())
    X = np.c_[x0, x1]
    est = AutoregressiveDensityEstimator(refit_rounds=0, **SMALL).fit(X)
    module = est.module_
    head = module.heads[0]
    units = 1 * head.n_params + torch.arange(head.n_params)[head.scale_slots]  # column 1
    before = module.net.output.bias[:, 0, units].clone()
    z = torch.as_tensor(est.coder_.transform(X), dtype=torch.float64)
    refit_output_layer(module, z[:1200], z[1200:], est.alpha, 3)
    assert torch.equal(module.net.output.bias[:, 0, units], before)


def test_multinomial_map_matches_logistic_regression(monkeypatch):
    """The logits' M-step with one-hot posteriors is L2-penalised multinomial logistic
    regression (intercepts unpenalised): scikit-learn's, with ``C = 1 / alpha``."""
    from sklearn.linear_model import LogisticRegression

    from skarm import _refit_solve

    monkeypatch.setattr(_refit_solve, "LOGIT_ITERATIONS", 500)
    monkeypatch.setattr(_refit_solve, "LOGIT_TOLERANCE", 1e-12)
    rng = np.random.RandomState(0)
    features = rng.randn(400, 6)
    labels = (features @ rng.randn(6, 3) + rng.randn(400, 3)).argmax(axis=1)
    alpha = 2.0
    reference = LogisticRegression(C=1 / alpha, tol=1e-10, max_iter=10_000).fit(features, labels)
    a = torch.as_tensor(np.c_[features, np.ones(400)])
    r = torch.nn.functional.one_hot(torch.as_tensor(labels), 3).double()
    theta = _refit_solve._multinomial_map(a, r, alpha, torch.zeros(7, 3, dtype=torch.float64))
    ours = torch.softmax(a @ theta, dim=1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(features), atol=1e-5)


def _atoms_chosen_by_x0(n, seed=0):
    """x1 sits on one of 6 recorded values, which one a step function of x0: the
    conditional's mass is in its atoms' logits."""
    rng = np.random.RandomState(seed)
    x0 = rng.uniform(-2, 2, n)
    return np.c_[x0, np.floor(3 * np.sin(2 * x0)) * 0.5]


def test_logit_step_never_lowers_the_training_objective():
    est = AutoregressiveDensityEstimator(refit_rounds=0, **SMALL).fit(_atoms_chosen_by_x0(800))
    module = est.module_.double().eval()
    assert module.heads[0].n_atoms == 6
    x = torch.as_tensor(est.coder_.transform(_atoms_chosen_by_x0(800)), dtype=torch.float64)
    with torch.no_grad():
        before = _loss(module, x, est.alpha)
        changed = _em_logits(module, _Features(module, x), est.alpha)
        after = _loss(module, x, est.alpha)
    assert sorted(changed) == [0, 1]
    # Generalised EM: the M-step raises the expected complete-data objective from the
    # present weights, so each member's MAP objective goes down, and here it moves.
    assert torch.all(after < before)


def test_logit_step_gains_where_the_atom_follows_the_earlier_columns(monkeypatch):
    from skarm import _refit

    X, X_test = _atoms_chosen_by_x0(1500), _atoms_chosen_by_x0(1000, seed=1)
    with_logits = AutoregressiveDensityEstimator(**SMALL).fit(X)
    monkeypatch.setattr(_refit, "_em_logits", lambda *args: {})
    without = AutoregressiveDensityEstimator(**SMALL).fit(X)
    assert with_logits.n_iter_ == without.n_iter_  # same training, then the refit
    assert with_logits.best_validation_score_ > without.best_validation_score_ + 0.05
    assert with_logits.score(X_test) > without.score(X_test) + 0.05
