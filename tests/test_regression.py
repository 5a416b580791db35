"""ConditionalNLLRegressor: a normalised p(y|x), calibrated, and in y's units."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.integrate import trapezoid
from sklearn.model_selection import GridSearchCV, KFold

from skarm import ConditionalNLLRegressor, PredictiveDistribution

FAST = dict(hidden_layer_sizes=(32,), ensemble_size=1, random_state=0)


def heteroscedastic(n, seed):
    """y | x ~ N(sin(2x), (0.1 + 0.4 |x|)^2), x ~ U[-2, 2]: the truth is known."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    mean, std = np.sin(2 * X[:, 0]), 0.1 + 0.4 * np.abs(X[:, 0])
    return X, mean + std * rng.randn(n), mean, std


def bimodal(n, seed):
    """y | x is x + or - 1 (equally likely) plus N(0, 0.15^2) noise: two modes."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    sign = np.where(rng.rand(n) < 0.5, -1.0, 1.0)
    return X, X[:, 0] + sign + 0.15 * rng.randn(n)


@pytest.fixture(scope="module")
def fitted_normal():
    X, y, _, _ = heteroscedastic(10_000, 0)
    return ConditionalNLLRegressor(
        distribution="normal",
        hidden_layer_sizes=(32, 32),
        ensemble_size=2,
        alpha=1.0,
        learning_rate_init=3e-3,
        random_state=0,
    ).fit(X, y)


def test_recovers_known_heteroscedastic_gaussian():
    X, y, _, _ = heteroscedastic(20_000, 0)
    Xt, yt, mean, std = heteroscedastic(20_000, 1)
    reg = ConditionalNLLRegressor(distribution="normal", random_state=0).fit(X, y)
    truth = stats.norm.logpdf(yt, mean, std).mean()
    assert truth - reg.score(Xt, yt) <= 0.02
    pred, pred_std = reg.predict(Xt, return_std=True)
    assert np.sqrt(np.mean((pred - mean) ** 2)) < 0.05
    assert np.sqrt(np.mean((pred_std - std) ** 2)) < 0.05


def test_pit_uniform_and_intervals_cover(fitted_normal):
    Xt, yt, _, _ = heteroscedastic(4000, 2)
    dist = fitted_normal.predict_dist(Xt)
    pit = dist.cdf(yt)
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    lo, hi = dist.interval(0.9)
    coverage = np.mean((yt >= lo) & (yt <= hi))
    assert abs(coverage - 0.9) <= 0.02
    q = fitted_normal.predict_quantiles(Xt, [0.05, 0.95])
    np.testing.assert_allclose(q, np.column_stack([lo, hi]))


def test_predict_dist_logpdf_equals_score_samples(fitted_normal):
    Xt, yt, _, _ = heteroscedastic(500, 3)
    dist = fitted_normal.predict_dist(Xt)
    assert isinstance(dist, PredictiveDistribution) and len(dist) == 500
    np.testing.assert_allclose(dist.logpdf(yt), fitted_normal.score_samples(Xt, yt), rtol=1e-9)
    np.testing.assert_allclose(dist.mean(), fitted_normal.predict(Xt))


def test_sample_quantiles_match_predict_quantiles(fitted_normal):
    Xt = np.array([[-1.5], [0.0], [0.7]])
    draws = fitted_normal.sample(Xt, n_samples=40_000, random_state=0)
    assert draws.shape == (40_000, 3)
    levels = [0.1, 0.5, 0.9]
    q = fitted_normal.predict_quantiles(Xt, levels)
    np.testing.assert_allclose(np.quantile(draws, levels, axis=0).T, q, atol=0.02)
    # the same samples follow the predictive CDF
    dist = fitted_normal.predict_dist(Xt)
    for i in range(3):
        cdf = np.vectorize(lambda v, i=i: dist.cdf(np.full(3, v))[i])
        assert stats.kstest(draws[:2000, i], cdf).pvalue > 0.001


def test_gridsearch_picks_mixture_for_bimodal_target():
    X, y = bimodal(3000, 0)
    grid = GridSearchCV(
        ConditionalNLLRegressor(**FAST),
        {"distribution": ["normal", "mixture"]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert grid.best_params_["distribution"] == "mixture"
    scores = grid.cv_results_["mean_test_score"]
    assert scores[1] - scores[0] > 0.3  # nats per point: a large, not a marginal, win


@pytest.mark.parametrize(
    "family", ["normal", "laplace", "student_t", "lognormal", "mixture", "poisson"]
)
def test_every_family_is_normalised(family):
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    if family == "poisson":
        y = rng.poisson(np.exp(1 + X[:, 0])).astype(float)
    elif family == "lognormal":
        y = np.exp(0.5 * X[:, 0] + 0.3 * rng.randn(400))
    else:
        y = X[:, 0] + 0.3 * rng.randn(400)
    reg = ConditionalNLLRegressor(distribution=family, max_iter=30, **FAST).fit(X, y)
    Xq = X[:3]
    dist = reg.predict_dist(Xq)
    if family == "poisson":
        grid = np.arange(0, 200.0)
        total = np.exp([reg.score_samples(Xq, np.full(3, k)) for k in grid]).sum(axis=0)
    else:
        lo, hi = (1e-6, 60.0) if family == "lognormal" else (-30.0, 30.0)
        grid = np.linspace(lo, hi, 200_001)
        dens = np.exp(
            [reg.score_samples(np.repeat(Xq[i : i + 1], len(grid), 0), grid) for i in range(3)]
        )
        total = trapezoid(dens, grid, axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-3)
    # the CDF is consistent with the density, the PPF inverts the CDF
    q = dist.ppf(0.3)
    assert np.all(dist.cdf(q) >= 0.3 - 1e-9)
    if family != "poisson":
        np.testing.assert_allclose(dist.cdf(q), 0.3, atol=1e-7)


def test_poisson_and_lognormal_recover_their_truth():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(6000, 1))
    rate = np.exp(1.0 + 1.2 * X[:, 0])
    y = rng.poisson(rate).astype(float)
    Xt = rng.uniform(-1, 1, size=(6000, 1))
    rate_t = np.exp(1.0 + 1.2 * Xt[:, 0])
    yt = rng.poisson(rate_t).astype(float)
    reg = ConditionalNLLRegressor(distribution="poisson", random_state=0).fit(X, y)
    assert stats.poisson.logpmf(yt, rate_t).mean() - reg.score(Xt, yt) < 0.02
    assert np.sqrt(np.mean((reg.predict(Xt) / rate_t - 1) ** 2)) < 0.08
    assert np.all(reg.sample(Xt[:50], 3, random_state=0) == np.floor(reg.sample(Xt[:50], 3, 0)))

    mu, sigma = 0.5 * X[:, 0], 0.2 + 0.2 * (X[:, 0] > 0)
    y = np.exp(mu + sigma * rng.randn(6000))
    mu_t, sigma_t = 0.5 * Xt[:, 0], 0.2 + 0.2 * (Xt[:, 0] > 0)
    yt = np.exp(mu_t + sigma_t * rng.randn(6000))
    reg = ConditionalNLLRegressor(distribution="lognormal", random_state=0).fit(X, y)
    truth = stats.lognorm.logpdf(yt, sigma_t, scale=np.exp(mu_t)).mean()
    assert truth - reg.score(Xt, yt) < 0.03
    assert np.all(reg.sample(Xt[:50], 20, random_state=0) > 0)


@pytest.mark.parametrize(
    "family, y, message",
    [
        ("poisson", [0, 1, -1, 2] * 5, "counts"),
        ("poisson", [0, 1, 1.5, 2] * 5, "counts"),
        ("lognormal", [1, 2, 0, 3] * 5, "positive"),
        ("normal", [3.0] * 20, "constant"),
    ],
)
def test_target_outside_family_is_a_clear_error(family, y, message):
    X = np.arange(20.0).reshape(-1, 1)
    reg = ConditionalNLLRegressor(distribution=family, max_iter=2, **FAST)
    with pytest.raises(ValueError, match=message):
        reg.fit(X, np.asarray(y, dtype=float))
    assert not hasattr(reg, "module_")


def test_outside_support_scores_minus_inf_and_bad_y_raises():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(100, 1))
    reg = ConditionalNLLRegressor(distribution="poisson", max_iter=3, **FAST)
    reg.fit(X, rng.poisson(2, 100).astype(float))
    ll = reg.score_samples(X[:3], [-1.0, 0.5, 2.0])
    assert ll[0] == -np.inf and ll[1] == -np.inf and np.isfinite(ll[2])
    with pytest.raises(ValueError, match="shape"):
        reg.score_samples(X[:3], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        reg.score_samples(X[:2], [1.0, np.nan])
    with pytest.raises(ValueError, match="quantile|Quantile"):
        reg.predict_quantiles(X[:2], [0.5, 1.5])


@settings(max_examples=6, deadline=None)
@given(
    a=st.floats(1e-3, 1e3, allow_subnormal=False),
    b=st.floats(-100, 100, allow_subnormal=False),
)
def test_affine_change_of_y_units_adds_the_log_jacobian(a, b):
    X, y, _, _ = heteroscedastic(300, 0)
    Xt, yt, _, _ = heteroscedastic(50, 1)
    kw = dict(max_iter=5, **FAST)
    ref = ConditionalNLLRegressor(**kw).fit(X, y)
    moved = ConditionalNLLRegressor(**kw).fit(X, a * y + b)
    np.testing.assert_allclose(
        moved.score_samples(Xt, a * yt + b),
        ref.score_samples(Xt, yt) - np.log(abs(a)),
        rtol=1e-6,
        atol=1e-6,
    )
    # features are standardised: rescaling X changes nothing
    scaled = ConditionalNLLRegressor(**kw).fit(X * 1000.0 + 5, y)
    np.testing.assert_allclose(
        scaled.score_samples(Xt * 1000.0 + 5, yt), ref.score_samples(Xt, yt), rtol=1e-5, atol=1e-5
    )


def test_lognormal_scaling_adds_the_log_jacobian():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(300, 1))
    y = np.exp(X[:, 0] + 0.3 * rng.randn(300))
    kw = dict(distribution="lognormal", max_iter=5, **FAST)
    ref = ConditionalNLLRegressor(**kw).fit(X, y)
    moved = ConditionalNLLRegressor(**kw).fit(X, 7.0 * y)
    np.testing.assert_allclose(
        moved.score_samples(X[:20], 7.0 * y[:20]),
        ref.score_samples(X[:20], y[:20]) - np.log(7),
        rtol=1e-6,
    )


def test_score_samples_row_order_and_subset_invariance(fitted_normal):
    Xt, yt, _, _ = heteroscedastic(300, 4)
    full = fitted_normal.score_samples(Xt, yt)
    idx = np.random.RandomState(0).permutation(300)
    np.testing.assert_allclose(fitted_normal.score_samples(Xt[idx], yt[idx]), full[idx], atol=1e-9)
    parts = np.concatenate(
        [fitted_normal.score_samples(Xt[s : s + 7], yt[s : s + 7]) for s in range(0, 300, 7)]
    )
    np.testing.assert_allclose(parts, full, atol=1e-9)


def test_score_is_mean_log_likelihood_not_r2(fitted_normal):
    Xt, yt, _, _ = heteroscedastic(300, 5)
    assert fitted_normal.score(Xt, yt) == pytest.approx(fitted_normal.score_samples(Xt, yt).mean())


def two_outputs(n, seed):
    """y1 | x ~ N(x, 0.3^2); y2 | y1, x ~ N(y1^2 - x, 0.2^2): a dependent pair."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    y1 = X[:, 0] + 0.3 * rng.randn(n)
    y2 = y1**2 - X[:, 0] + 0.2 * rng.randn(n)
    return X, np.column_stack([y1, y2])


def test_two_outputs_autoregressive_normalised_and_sampled():
    X, Y = two_outputs(5000, 0)
    reg = ConditionalNLLRegressor(
        distribution="normal", hidden_layer_sizes=(64, 64), ensemble_size=2, random_state=0
    )
    reg.fit(X, Y)
    Xt, Yt = two_outputs(3000, 1)
    truth = (
        stats.norm.logpdf(Yt[:, 0], Xt[:, 0], 0.3)
        + stats.norm.logpdf(Yt[:, 1], Yt[:, 0] ** 2 - Xt[:, 0], 0.2)
    ).mean()
    assert truth - reg.score(Xt, Yt) < 0.1
    # integrates to one over (y1, y2) for a fixed x
    g1, g2 = np.linspace(-4, 4, 401), np.linspace(-5, 12, 801)
    G1, G2 = np.meshgrid(g1, g2, indexing="ij")
    grid = np.column_stack([G1.ravel(), G2.ravel()])
    dens = np.exp(reg.score_samples(np.full((len(grid), 1), 0.4), grid)).reshape(G1.shape)
    assert trapezoid(trapezoid(dens, g2, axis=1), g1) == pytest.approx(1.0, abs=1e-3)
    # samples carry the dependence of y2 on y1
    draws = reg.sample(np.full((1, 1), 0.4), n_samples=20_000, random_state=0)
    assert draws.shape == (20_000, 1, 2)
    d = draws[:, 0]
    assert d[:, 0].mean() == pytest.approx(0.4, abs=0.03)
    assert d[:, 1].mean() == pytest.approx(0.4**2 + 0.09 - 0.4, abs=0.05)
    assert np.corrcoef(d[:, 0] ** 2, d[:, 1])[0, 1] > 0.5
    mean, std = reg.predict(Xt[:5], return_std=True)
    assert mean.shape == std.shape == (5, 2)
    assert reg.predict_quantiles(Xt[:5], [0.1, 0.9]).shape == (5, 2, 2)
    with pytest.raises(ValueError, match="single output"):
        reg.predict_dist(Xt[:5])


def test_context_reaches_every_output_and_order_is_causal():
    X, Y = two_outputs(200, 0)
    reg = ConditionalNLLRegressor(max_iter=2, hidden_layer_sizes=(16, 16), random_state=0)
    reg.fit(X, Y)
    module = reg.module_
    z = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    c = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    for k in range(2):
        lp = module.member_log_prob(z, context=c)[..., k].sum()
        gz, gc = torch.autograd.grad(lp, (z, c))
        assert gc.abs().sum() > 0  # every conditional reads x
        assert torch.all(gz[0, k + 1 :] == 0)  # no conditional reads a later output
        if k == 1:
            assert gz[0, 0].abs() > 0  # y2 reads y1


def test_refit_and_pickle_give_identical_predictions(fitted_normal):
    Xt, yt, _, _ = heteroscedastic(100, 6)
    params = fitted_normal.get_params()
    X, y, _, _ = heteroscedastic(10_000, 0)
    again = ConditionalNLLRegressor(**params).fit(X, y)
    loaded = pickle.loads(pickle.dumps(fitted_normal))
    for other in (again, loaded):
        np.testing.assert_array_equal(
            other.score_samples(Xt, yt), fitted_normal.score_samples(Xt, yt)
        )
        np.testing.assert_array_equal(
            other.sample(Xt, 3, random_state=1), fitted_normal.sample(Xt, 3, random_state=1)
        )
        np.testing.assert_array_equal(
            other.predict_quantiles(Xt, 0.3), fitted_normal.predict_quantiles(Xt, 0.3)
        )


def test_inputs_are_not_modified_and_failed_fit_is_atomic():
    X, y, _, _ = heteroscedastic(200, 0)
    X0, y0 = X.copy(), y.copy()
    reg = ConditionalNLLRegressor(max_iter=3, **FAST).fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    before = reg.score_samples(X[:10], y[:10])
    with pytest.raises(ValueError):
        reg.fit(X, np.full_like(y, 2.0))
    np.testing.assert_array_equal(reg.score_samples(X[:10], y[:10]), before)


def test_warm_start_continues_training():
    X, y, _, _ = heteroscedastic(500, 0)
    reg = ConditionalNLLRegressor(max_iter=3, warm_start=True, early_stopping=False, **FAST)
    reg.fit(X, y)
    first = reg.n_iter_
    reg.fit(X, y)
    assert reg.n_iter_ == first + 3 and len(reg.loss_curve_) == reg.n_iter_


class TestPredictiveDistribution:
    def mixture(self):
        w = np.array([[0.3, 0.7], [0.5, 0.5]])
        return PredictiveDistribution(
            "mixture", w, {"loc": np.array([[-2.0, 1.0], [0.0, 5.0]]), "scale": np.ones((2, 2))}
        )

    def test_mixture_quantiles_invert_cdf_and_samples_follow(self):
        d = self.mixture()
        q = d.ppf([0.01, 0.3, 0.5, 0.99])
        for j, level in enumerate([0.01, 0.3, 0.5, 0.99]):
            np.testing.assert_allclose(d.cdf(q[:, j]), level, atol=1e-12)
        draws = d.sample(20_000, random_state=0)
        for i in range(2):
            cdf = np.vectorize(lambda v, i=i: d.cdf(np.full(2, v))[i])
            assert stats.kstest(draws[:, i], cdf).pvalue > 0.001
        np.testing.assert_allclose(draws.mean(axis=0), d.mean(), atol=0.05)
        np.testing.assert_allclose(draws.std(axis=0), d.std(), atol=0.05)

    def test_discrete_mixture_quantile_is_smallest_integer_reaching_q(self):
        d = PredictiveDistribution(
            "poisson", np.array([[0.5, 0.5]]), {"mu": np.array([[1.0, 9.0]])}
        )
        for level in [0.05, 0.4, 0.5, 0.77, 0.999]:
            k = d.ppf(level)[0]
            assert d.cdf([k])[0] >= level > d.cdf([k - 1])[0]
        pmf = np.exp([d.logpdf([k])[0] for k in range(80)])
        assert pmf.sum() == pytest.approx(1.0, abs=1e-12)

    def test_bad_arguments(self):
        d = self.mixture()
        with pytest.raises(ValueError, match="one value per row"):
            d.cdf([0.0, 1.0, 2.0])
        with pytest.raises(ValueError, match="Quantile"):
            d.ppf(1.2)
        with pytest.raises(ValueError, match="Unknown family"):
            PredictiveDistribution("gamma", np.ones((1, 1)), {})


def test_warm_start_rejects_targets_outside_the_fitted_family():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(100, 1))
    reg = ConditionalNLLRegressor(distribution="poisson", max_iter=2, warm_start=True, **FAST)
    reg.fit(X, rng.poisson(2, 100).astype(float))
    with pytest.raises(ValueError, match="counts"):
        reg.fit(X, np.full(100, 0.5))
    assert reg.n_iter_ == 2


def test_pandas_pipeline_and_parallel_cross_validation():
    pd = pytest.importorskip("pandas")
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _, _ = heteroscedastic(400, 0)
    frame = pd.DataFrame({"x": X[:, 0]})
    reg = ConditionalNLLRegressor(max_iter=5, **FAST).fit(frame, pd.Series(y))
    assert list(reg.feature_names_in_) == ["x"]
    np.testing.assert_array_equal(reg.score_samples(frame, y), reg.score_samples(X, y))
    pipe = make_pipeline(StandardScaler(), ConditionalNLLRegressor(max_iter=5, **FAST))
    scores = cross_val_score(pipe, X, y, cv=3, n_jobs=2)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    # the pipeline's score is the regressor's: a log-likelihood, here below R^2's ceiling of 1
    fitted = pipe.fit(X, y)
    assert fitted.score(X, y) == pytest.approx(fitted[-1].score(fitted[0].transform(X), y))
