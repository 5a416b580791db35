"""Continuous conditionals (Gaussian and mixtures): units, log-Jacobian, normalisation, samples."""

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.integrate import cumulative_trapezoid, trapezoid

from skarm import AutoregressiveDensityEstimator

FAST = dict(max_iter=20, hidden_layer_sizes=(16,), random_state=0)


def correlated_gaussian(n=500, seed=0):
    rng = np.random.RandomState(seed)
    x0 = rng.normal(3.0, 2.0, n)
    x1 = 0.8 * x0 + rng.normal(0.0, 0.5, n)
    return np.column_stack([x0, x1])


def bimodal(n=1000, seed=0):
    """Two moons-like 2-D data: a bimodal first column, a curved second one."""
    rng = np.random.RandomState(seed)
    x0 = np.where(rng.rand(n) < 0.4, rng.normal(-2.0, 0.5, n), rng.normal(1.5, 0.8, n))
    x1 = np.sin(x0) + 0.3 * rng.randn(n)
    return np.column_stack([x0, x1])


@pytest.mark.parametrize("a", [10.0, 0.01])
@pytest.mark.parametrize("distribution", ["normal", "mixture"])
def test_rescaling_adds_exactly_the_log_jacobian(a, distribution):
    X = correlated_gaussian()
    est = AutoregressiveDensityEstimator(distribution=distribution, **FAST).fit(X)
    scaled = AutoregressiveDensityEstimator(distribution=distribution, **FAST).fit(a * X)
    assert est.distributions_ == [distribution] * 2
    expected = est.score(X) - X.shape[1] * np.log(abs(a))
    assert scaled.score(a * X) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("distribution", ["normal", "mixture"])
def test_one_dimensional_density_integrates_to_one(distribution):
    X = bimodal()[:, :1]
    est = AutoregressiveDensityEstimator(distribution=distribution, **FAST).fit(X)
    grid = np.linspace(X.min() - 10, X.max() + 10, 20001)[:, None]
    assert trapezoid(np.exp(est.score_samples(grid)), grid[:, 0]) == pytest.approx(1.0, abs=1e-3)


def test_mixed_discrete_and_continuous_sums_and_integrates_to_one():
    rng = np.random.RandomState(0)
    b = rng.randint(0, 2, 400)
    X = np.column_stack([b, rng.normal(2.0 * b, 1.0)])
    est = AutoregressiveDensityEstimator(distribution=["bernoulli", "normal"], **FAST).fit(X)
    grid = np.linspace(-12, 14, 20001)
    total = 0.0
    for value in (0, 1):
        rows = np.column_stack([np.full_like(grid, value), grid])
        total += trapezoid(np.exp(est.score_samples(rows)), grid)
    assert total == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(
        est.conditional_log_likelihood(X).sum(axis=1), est.score_samples(X), rtol=1e-10
    )


def test_auto_order_puts_few_level_columns_first_and_stays_normalised():
    """order="auto": columns by their number of distinct training values, fewest first,
    ties in column order; the same model as the explicit permutation, still a
    normalised density (a continuous column first in the data, a binary one after)."""
    rng = np.random.RandomState(0)
    b = rng.randint(0, 2, 400)
    X = np.column_stack([rng.normal(2.0 * b, 1.0), b, np.round(rng.normal(size=400), 1)])
    X_before = X.copy()
    est = AutoregressiveDensityEstimator(order="auto", **FAST).fit(X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(est.order_, [1, 2, 0])
    explicit = AutoregressiveDensityEstimator(order=[1, 2, 0], **FAST).fit(X)
    np.testing.assert_array_equal(est.score_samples(X), explicit.score_samples(X))
    two = AutoregressiveDensityEstimator(order="auto", **FAST).fit(X[:, :2])
    np.testing.assert_array_equal(two.order_, [1, 0])
    grid = np.linspace(-12, 14, 20001)
    total = sum(
        trapezoid(np.exp(two.score_samples(np.column_stack([grid, np.full_like(grid, v)]))), grid)
        for v in (0, 1)
    )
    assert total == pytest.approx(1.0, abs=1e-3)


def test_auto_typing_and_continuous_samples():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randint(0, 4, 300), rng.normal(size=300), rng.randint(0, 300, 300)])
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    assert est.distributions_ == ["categorical", "mixture", "mixture"]
    S = est.sample(2000, random_state=0)
    assert np.all(np.isin(S[:, 0], [0, 1, 2, 3]))
    assert abs(S[:, 1].mean()) < 0.3 and 0.6 < S[:, 1].std() < 1.4


def test_two_dimensional_mixture_density_integrates_to_one_and_samples_match_its_moments():
    X = bimodal()
    est = AutoregressiveDensityEstimator(max_iter=60, random_state=0).fit(X)
    g0 = np.linspace(-7.0, 7.0, 561)
    g1 = np.linspace(-5.0, 5.0, 401)
    A, B = np.meshgrid(g0, g1, indexing="ij")
    grid = np.column_stack([A.ravel(), B.ravel()])
    density = np.exp(est.score_samples(grid)).reshape(A.shape)
    assert trapezoid(trapezoid(density, g1, axis=1), g0) == pytest.approx(1.0, abs=1e-3)
    # Moments of the model by quadrature against moments of its samples.
    weights = density / density.sum()
    mean = np.array([(weights * A).sum(), (weights * B).sum()])
    cov = np.cov(grid.T, aweights=weights.ravel(), bias=True)
    S = est.sample(20_000, random_state=0)
    np.testing.assert_allclose(S.mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(S.T), cov, atol=0.08)


def test_one_dimensional_samples_follow_the_model_ks():
    """Kolmogorov-Smirnov test of the model's samples against its own CDF (by quadrature)."""
    X = bimodal()[:, :1]
    est = AutoregressiveDensityEstimator(max_iter=60, random_state=0).fit(X)
    grid = np.linspace(-10.0, 10.0, 40_001)
    cdf = cumulative_trapezoid(np.exp(est.score_samples(grid[:, None])), grid, initial=0.0)
    S = est.sample(4000, random_state=1)[:, 0]
    result = stats.kstest(S, lambda v: np.interp(v, grid, cdf))
    assert result.pvalue > 0.01
    assert stats.kstest(S + 0.3, lambda v: np.interp(v, grid, cdf)).pvalue < 1e-6  # power


def test_mixture_beats_one_gaussian_on_bimodal_data():
    X = bimodal(n=2000)
    one = AutoregressiveDensityEstimator(distribution="normal", **FAST).fit(X[:1500])
    mix = AutoregressiveDensityEstimator(distribution="mixture", **FAST).fit(X[:1500])
    assert mix.score(X[1500:]) > one.score(X[1500:]) + 0.2


def test_constant_continuous_column_is_a_clear_error():
    X = bimodal()
    X[:, 1] = 2.5
    with pytest.raises(ValueError, match="constant"):
        AutoregressiveDensityEstimator(**FAST).fit(X)


@pytest.mark.slow
def test_correlated_five_dimensional_gaussian_is_recovered():
    """20,000 draws: the gap to the true mean log-density on fresh data is <= 0.01 nats/dim."""
    rng = np.random.RandomState(0)
    A = rng.randn(5, 5)
    cov = A @ A.T / 5 + 0.2 * np.eye(5)
    mean = rng.randn(5)
    true = stats.multivariate_normal(mean, cov)
    X = true.rvs(20_000, random_state=1)
    X_new = true.rvs(20_000, random_state=2)
    est = AutoregressiveDensityEstimator(random_state=0).fit(X)
    gap = (true.logpdf(X_new).mean() - est.score(X_new)) / 5
    assert gap <= 0.01


def test_dequantization_is_a_lower_bound_on_the_discrete_likelihood():
    """x + u with u ~ U[0, 1): score_samples = E_u log p(x + u) <= log P(x) = log E_u p(x + u),
    and P sums to one over the integers."""
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.poisson(4.0, 800), rng.binomial(1, 0.3, 800)])
    est = AutoregressiveDensityEstimator(dequantize=True, **FAST).fit(X)
    assert est.distributions_ == ["mixture", "mixture"]
    assert est.coder_.dequantized.all()

    def log_density(Y):  # the fitted density of y = x + u, in user units
        z = torch.as_tensor((Y - est.coder_.loc) / est.coder_.scale)
        with torch.no_grad():
            return est.module_(z).numpy() + est.coder_.log_jacobian

    states = np.array([[a, b] for a in range(-6, 30) for b in range(-5, 7)], dtype=float)
    u = (np.arange(30) + 0.5) / 30  # midpoint quadrature of the unit cell [0, 1)^2
    cell = np.array([[a, b] for a in u for b in u])
    exact = np.array([np.log(np.mean(np.exp(log_density(x + cell)))) for x in states])
    lower = est.score_samples(states)
    assert np.exp(exact).sum() == pytest.approx(1.0, abs=2e-3)
    data = np.isin(states[:, 0], np.unique(X[:, 0])) & np.isin(states[:, 1], [0, 1])
    assert np.all(lower[data] <= exact[data] + 1e-2)
    assert np.mean(exact[data] - lower[data]) < 1.0  # the bound is not vacuous
    S = est.sample(500, random_state=0)
    np.testing.assert_array_equal(S, np.floor(S))


def zero_inflated(n=1500, seed=0):
    """A column that is exactly 0 in 40 % of rows, or one of the levels 1, 2, 3 in 30 %."""
    rng = np.random.RandomState(seed)
    x0 = rng.normal(size=n)
    kind = rng.rand(n)
    x1 = np.where(kind < 0.4, 0.0, np.where(kind < 0.7, rng.randint(1, 4, n), x0 + rng.randn(n)))
    return np.column_stack([x0, x1])


def test_find_atoms_keeps_repeated_values_only():
    from skarm._data import find_atoms

    col = np.r_[np.zeros(50), np.full(3, 7.0), np.linspace(0.1, 0.9, 400), np.full(20, -2.0)]
    np.testing.assert_array_equal(find_atoms(col), [-2.0, 0.0])  # 7.0: below 1 % / 5 rows
    assert find_atoms(np.random.RandomState(0).randn(1000)).size == 0


def test_atoms_keep_the_density_normalised_and_raise_held_out_likelihood():
    X = zero_inflated()
    est = AutoregressiveDensityEstimator(**FAST).fit(X[:1000])
    np.testing.assert_array_equal(est.coder_.atoms[1], [0.0, 1.0, 2.0, 3.0])
    assert est.coder_.atoms[0].size == 0
    plain = AutoregressiveDensityEstimator(atoms=None, **FAST).fit(X[:1000])
    assert plain.coder_.atoms[1].size == 0
    assert est.score(X[1000:]) > plain.score(X[1000:]) + 1.0
    # 1-D: integrate the second column's marginal model on a grid that resolves the peaks.
    one = AutoregressiveDensityEstimator(**{**FAST, "max_iter": 300}).fit(X[:1000, 1:])
    coarse = np.linspace(-15.0, 18.0, 20001)
    fine = [np.linspace(a - 0.05, a + 0.05, 20001) for a in one.coder_.atoms[0]]
    grid = np.unique(np.concatenate([coarse, *fine]))
    density = np.exp(one.score_samples(grid[:, None]))
    assert trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    assert np.isfinite(one.score_samples([[0.5], [1.0001]])).all()  # off the atoms: finite
    # Samples put the model's own mass near the atoms (and the data's 70 %, roughly).
    near = np.isclose(grid[:, None], [0.0, 1.0, 2.0, 3.0], atol=0.01).any(axis=1)
    mass = trapezoid(np.where(near, density, 0.0), grid)
    S = one.sample(20_000, random_state=0)[:, 0]
    on_atoms = np.isclose(S[:, None], [0.0, 1.0, 2.0, 3.0], atol=0.01).any(axis=1)
    assert abs(on_atoms.mean() - mass) < 0.015
    assert mass > 0.5


def many_levels(n=2400, seed=0):
    """x1 follows x0 but is recorded on a grid 0.03 apart: ~140 values, most < 1 % of rows."""
    rng = np.random.RandomState(seed)
    x0 = rng.randn(n)
    x1 = np.round((1.5 * x0 + 0.5 * rng.randn(n)) / 0.03) * 0.03
    return np.column_stack([x0, x1])


def test_find_pool_keeps_the_minor_repeated_values():
    from skarm._data import find_atoms, find_pool

    col = np.r_[np.zeros(50), np.full(6, 7.0), np.full(4, 9.0), np.linspace(0.1, 0.9, 1000)]
    atoms = find_atoms(col)
    values, counts = find_pool(col, atoms)
    np.testing.assert_array_equal(atoms, [0.0])
    np.testing.assert_array_equal(values, [7.0])  # 9.0: fewer than 5 rows
    np.testing.assert_array_equal(counts, [6])


def test_pooled_atoms_follow_the_context_keep_the_density_normalised_and_help():
    X = many_levels()
    train, test = X[:1600], X[1600:]
    est = AutoregressiveDensityEstimator(**{**FAST, "max_iter": 150}).fit(train)
    assert est.coder_.pool[1][0].size > 100 and est.coder_.pool[0][0].size == 0
    plain = AutoregressiveDensityEstimator(atoms=None, **{**FAST, "max_iter": 150}).fit(train)
    assert est.score(test) > plain.score(test) + 1.0
    # 1-D: integrate the marginal model of the second column on a grid resolving the peaks.
    one = AutoregressiveDensityEstimator(**{**FAST, "max_iter": 150}).fit(train[:, 1:])
    values = np.r_[one.coder_.atoms[0], one.coder_.pool[0][0]]
    coarse = np.linspace(-8.0, 8.0, 40001)
    fine = [np.linspace(v - 0.01, v + 0.01, 2001) for v in values]
    grid = np.unique(np.concatenate([coarse, *fine]))
    density = np.exp(one.score_samples(grid[:, None]))
    assert trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    # Samples land on the atoms as often as the model's own mass there says.
    near = np.abs(grid[:, None] - values).min(axis=1) < 0.005
    mass = trapezoid(np.where(near, density, 0.0), grid)
    S = one.sample(20_000, random_state=0)[:, 0]
    on_atoms = np.abs(S[:, None] - values).min(axis=1) < 0.005
    assert mass > 0.5
    assert abs(on_atoms.mean() - mass) < 0.015


def recorded_settings(n=3000, seed=0):
    """x0 is one of 40 recorded settings on half the rows (each with its own level of x1,
    a rough function of x0) and continuous on the other half (x1 smooth in x0)."""
    rng = np.random.RandomState(seed)
    levels, offsets = np.sort(rng.uniform(-2, 2, 40)), 1.5 * rng.randn(40)
    ids = rng.randint(40, size=n)
    on = rng.rand(n) < 0.5
    x0 = np.where(on, levels[ids], rng.randn(n))
    x1 = np.where(on, offsets[ids], 0.5 * x0) + 0.1 * rng.randn(n)
    return np.column_stack([x0, x1])


def test_atom_codes_let_later_columns_follow_the_setting_and_stay_normalised(monkeypatch):
    from skarm.heads import MixtureHead

    X = recorded_settings()
    train, test = X[:2400], X[2400:]
    params = dict(max_iter=100, hidden_layer_sizes=(32,), ensemble_size=1, random_state=0)
    est = AutoregressiveDensityEstimator(**params).fit(train)
    assert est.module_.heads[0].n_inputs == 1 + MixtureHead.n_atom_code
    with monkeypatch.context() as m:  # the same model reading only the value
        m.setattr(MixtureHead, "n_atom_code", 0)
        blind = AutoregressiveDensityEstimator(**params).fit(train)
    assert blind.module_.heads[0].n_inputs == 1
    gain = est.conditional_log_likelihood(test) - blind.conditional_log_likelihood(test)
    assert gain[:, 1].mean() > 0.5
    # 2-D quadrature on a grid resolving every peak of x0: the joint integrates to 1.
    atoms = np.r_[est.coder_.atoms[0], est.coder_.pool[0][0]]
    scale = est.coder_.scale[0]
    fine = [np.linspace(v - 0.02 * scale, v + 0.02 * scale, 81) for v in atoms]
    g0 = np.unique(np.concatenate([np.linspace(-7, 7, 1401), *fine]))
    g1 = np.linspace(-7, 7, 351)
    grid = np.column_stack([np.repeat(g0, len(g1)), np.tile(g1, len(g0))])
    density = np.exp(est.score_samples(grid)).reshape(len(g0), len(g1))
    assert trapezoid(trapezoid(density, g1, axis=1), g0) == pytest.approx(1.0, abs=1e-3)
    # Samples drawn on a setting's peak follow that setting's level of x1 (two random
    # levels lie ~1.7 apart, the noise is 0.1).
    S = est.sample(20_000, random_state=0)
    rng = np.random.RandomState(0)
    levels, offsets = np.sort(rng.uniform(-2, 2, 40)), 1.5 * rng.randn(40)
    nearest = np.abs(S[:, :1] - levels).argmin(axis=1)
    on_peak = np.abs(S[:, 0] - levels[nearest]) < 0.01
    err = np.abs(S[on_peak, 1] - offsets[nearest[on_peak]])
    assert on_peak.mean() > 0.3
    assert np.median(err) < 0.3
