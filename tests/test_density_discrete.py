"""AutoregressiveDensityEstimator on discrete data: a normalised, self-consistent model."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skarm import AutoregressiveDensityEstimator

from helpers import all_states, correlated_codes

FAST = dict(max_iter=15, hidden_layer_sizes=(16,), random_state=0)


@pytest.mark.parametrize("architecture", ["linear", "made"])
@pytest.mark.parametrize("order", [None, "random", [2, 0, 1], "ensemble"])
@pytest.mark.parametrize("ensemble_size", [1, 3])
@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
def test_probabilities_of_all_states_sum_to_one(architecture, order, ensemble_size, encoding):
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(
        architecture=architecture,
        order=order,
        ensemble_size=ensemble_size,
        categorical_encoding=encoding,
        **FAST,
    ).fit(X)
    total = np.exp(est.score_samples(all_states([3, 3, 3]))).sum()
    assert abs(total - 1.0) < 1e-6


def test_bernoulli_and_per_column_categories_are_normalised():
    X = correlated_codes(n_levels=2)
    X[:, 2] = np.random.RandomState(1).randint(0, 4, len(X))
    est = AutoregressiveDensityEstimator(
        distribution=["bernoulli", "bernoulli", "categorical"], n_categories=[2, 2, 5], **FAST
    ).fit(X)
    assert est.distributions_ == ["bernoulli", "bernoulli", "categorical"]
    total = np.exp(est.score_samples(all_states([2, 2, 5]))).sum()
    assert abs(total - 1.0) < 1e-6


@pytest.mark.parametrize("ensemble_size, order", [(1, [1, 2, 0]), (3, [1, 2, 0]), (3, "ensemble")])
def test_samples_follow_the_models_own_pmf(ensemble_size, order):
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(ensemble_size=ensemble_size, order=order, **FAST).fit(X)
    states = all_states([3, 3, 3])
    pmf = np.exp(est.score_samples(states))
    S = est.sample(40_000, random_state=1)
    assert S.shape == (40_000, 3)
    codes = (S @ np.array([9, 3, 1])).astype(int)
    empirical = np.bincount(codes, minlength=27) / len(S)
    assert 0.5 * np.abs(empirical - pmf).sum() < 0.02


@pytest.mark.parametrize("ensemble_size", [1, 3])
def test_conditionals_sum_to_score_samples_and_score_is_their_mean(ensemble_size):
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(order="random", ensemble_size=ensemble_size, **FAST).fit(X)
    cll = est.conditional_log_likelihood(X)
    assert cll.shape == X.shape
    np.testing.assert_allclose(cll.sum(axis=1), est.score_samples(X), rtol=1e-10)
    assert est.score(X) == pytest.approx(est.score_samples(X).mean(), rel=1e-12)


def test_learns_the_dependence():
    """The model beats the independent-columns baseline on held-out data."""
    X = correlated_codes(n=3000)
    est = AutoregressiveDensityEstimator(random_state=0, max_iter=50).fit(X[:2000])
    freq = [np.bincount(X[:2000, j], minlength=3) / 2000 for j in range(3)]
    independent = np.mean(sum(np.log(freq[j][X[2000:, j]]) for j in range(3)))
    assert est.score(X[2000:]) > independent + 0.3


def test_refit_with_same_random_state_is_identical():
    X = correlated_codes()
    a = AutoregressiveDensityEstimator(order="random", **FAST).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.order_, b.order_)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.sample(50, random_state=3), b.sample(50, random_state=3))
    assert a.order == "random"  # parameters stay as given


def test_pickle_round_trip_keeps_scores_and_samples():
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.score_samples(X), again.score_samples(X))
    np.testing.assert_array_equal(est.sample(20, random_state=0), again.sample(20, random_state=0))
    np.testing.assert_array_equal(
        est.conditional_log_likelihood(X), again.conditional_log_likelihood(X)
    )


def test_sample_random_state_controls_the_draw():
    est = AutoregressiveDensityEstimator(**FAST).fit(correlated_codes())
    a, b = est.sample(30, random_state=0), est.sample(30, random_state=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, est.sample(30, random_state=0))
    assert set(np.unique(a)) <= {0.0, 1.0, 2.0}


@pytest.mark.parametrize("ensemble_size", [1, 3])
def test_values_outside_the_support_score_minus_inf(ensemble_size):
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(ensemble_size=ensemble_size, **FAST).fit(X)
    bad = np.array([[0, 1, 3], [0, 1, -1], [0.5, 1, 1], [0, 1, 1]], dtype=float)
    scores = est.score_samples(bad)
    assert np.all(np.isneginf(scores[:3])) and np.isfinite(scores[3])
    cll = est.conditional_log_likelihood(bad)
    assert np.isneginf(cll[0, 2]) and np.isfinite(cll[0, :2]).all()


def test_shared_alphabet_covers_codes_unseen_in_one_column():
    """With n_categories="auto", every categorical column takes the largest code seen anywhere."""
    X = correlated_codes()
    X[:, 0] = np.minimum(X[:, 0], 1)
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    assert np.isfinite(est.score_samples([[2, 2, 2]])).all()
    np.testing.assert_array_equal(est.coder_.n_categories, [3, 3, 3])


def test_order_is_used_and_validated():
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(order=[2, 0, 1], **FAST).fit(X)
    np.testing.assert_array_equal(est.order_, [2, 0, 1])
    with pytest.raises(ValueError, match="permutation"):
        AutoregressiveDensityEstimator(order=[0, 0, 1], **FAST).fit(X)
    with pytest.raises(ValueError, match="permutation"):
        AutoregressiveDensityEstimator(order=[0, 1], **FAST).fit(X)


def test_fitted_attributes_and_history():
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    assert est.n_features_in_ == 3
    assert len(est.loss_curve_) == est.n_iter_ == len(est.validation_scores_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    no_es = AutoregressiveDensityEstimator(early_stopping=False, **FAST).fit(X)
    assert no_es.validation_scores_ is None and len(no_es.loss_curve_) == no_es.n_iter_


def test_early_stopping_restores_the_best_weights():
    X = correlated_codes(n=300)
    est = AutoregressiveDensityEstimator(
        max_iter=200,
        n_iter_no_change=5,
        hidden_layer_sizes=(256,),
        dropout=0.0,
        alpha=0.0,
        random_state=0,
    ).fit(X)
    assert est.n_iter_ < 200
    best = int(np.argmax(est.validation_scores_))
    assert best < est.n_iter_ - 1  # training went on past the best epoch, then stopped
    # The restored model scores the validation rows exactly at the best recorded value.
    rng = np.random.RandomState(est._seed_from(0))
    perm = rng.permutation(len(X))
    val = X[perm[: int(np.ceil(0.1 * len(X)))]]
    assert est.score(val) == pytest.approx(est.best_validation_score_, abs=1e-4)


def test_warm_start_and_partial_fit_continue_training():
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(
        warm_start=True, early_stopping=False, max_iter=3, hidden_layer_sizes=(16,), random_state=0
    )
    est.fit(X)
    first = est.score(X)
    weights = est.module_.net.output.weight.detach().clone()
    est.fit(X)
    assert est.n_iter_ == 6 and len(est.loss_curve_) == 6
    assert est.score(X) > first
    assert not np.allclose(weights.numpy(), est.module_.net.output.weight.detach().numpy())

    stream = AutoregressiveDensityEstimator(hidden_layer_sizes=(16,), random_state=0)
    for chunk in np.array_split(X, 4):
        stream.partial_fit(chunk)
    assert stream.n_iter_ == 4
    scores = [stream.score(X)]
    for _ in range(5):
        for chunk in np.array_split(X, 4):
            stream.partial_fit(chunk)
        scores.append(stream.score(X))
    assert scores[-1] > scores[0]


def test_partial_fit_rejects_codes_beyond_the_first_chunks_support():
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(**FAST).partial_fit(np.minimum(X, 1))
    with pytest.raises(ValueError, match="outside the support"):
        est.partial_fit(X)
    ok = AutoregressiveDensityEstimator(n_categories=3, **FAST).partial_fit(np.minimum(X, 1))
    ok.partial_fit(X)


def test_pipeline_and_grid_search_select_by_held_out_likelihood():
    X = correlated_codes(n=400)
    pipe = make_pipeline(FunctionTransformer(), AutoregressiveDensityEstimator(**FAST))
    assert np.isfinite(pipe.fit(X).score(X))
    search = GridSearchCV(
        AutoregressiveDensityEstimator(**FAST),
        {"architecture": ["linear", "made"], "alpha": [0.0, 1.0]},
        cv=2,
        n_jobs=2,
    ).fit(X)
    assert np.isfinite(search.best_score_)
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])


def test_pandas_input_sets_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(correlated_codes(), columns=["a", "b", "c"])
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    assert np.isfinite(est.score(X))


def test_input_is_not_modified():
    X = correlated_codes().astype(float)
    X_copy = X.copy()
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    est.score_samples(X)
    est.conditional_log_likelihood(X)
    np.testing.assert_array_equal(X, X_copy)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_features=st.integers(1, 3),
    n_levels=st.integers(2, 3),
    architecture=st.sampled_from(["linear", "made"]),
    dtype=st.sampled_from([np.int64, np.int32, np.float32, np.float64, np.uint8]),
    seed=st.integers(0, 2**16),
)
def test_property_any_small_space_is_normalised(n_features, n_levels, architecture, dtype, seed):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, n_levels, size=(40, n_features)).astype(dtype)
    X[0] = n_levels - 1  # make the alphabet size known
    order = rng.permutation(n_features)
    est = AutoregressiveDensityEstimator(
        architecture=architecture,
        order=order,
        max_iter=3,
        hidden_layer_sizes=(8,),
        random_state=seed,
    ).fit(X)
    states = all_states([n_levels] * n_features)
    assert abs(np.exp(est.score_samples(states)).sum() - 1.0) < 1e-6
    S = est.sample(5, random_state=seed)
    assert S.shape == (5, n_features) and np.all((S >= 0) & (S < n_levels))


def test_model_trained_in_float32_unpickles_and_scores_on_cpu():
    """A GPU-trained model arrives as float32 weights; unpickling on CPU must still score."""
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(**FAST).fit(X)
    expected = est.score_samples(X)
    est.module_.float()  # what a CUDA-fitted model holds
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.score_samples(X), expected, rtol=1e-5)


def test_verbose_shows_a_progress_bar_with_loss_and_validation(capsys):
    est = AutoregressiveDensityEstimator(verbose=1, **FAST).fit(correlated_codes())
    err = capsys.readouterr().err
    assert "loss=" in err and "val_ll=" in err
    assert f"{est.n_iter_}/" in err


def test_order_ensemble_is_the_mixture_of_members_in_their_own_orders():
    X = correlated_codes()
    est = AutoregressiveDensityEstimator(order="ensemble", ensemble_size=4, **FAST).fit(X)
    assert est.order_.shape == (4, 3)
    np.testing.assert_array_equal(est.order_[0], [0, 1, 2])
    assert len({tuple(o) for o in est.order_}) > 1  # the members' orders differ
    with torch.no_grad():
        z = torch.as_tensor(X[:50], dtype=torch.float64)
        members = est.module_.member_log_prob(z).sum(dim=2).numpy()  # (K, n)
    expected = np.log(np.exp(members).mean(axis=0))
    np.testing.assert_allclose(est.score_samples(X[:50]), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="different variable orders"):
        est.conditional_log_likelihood(X)
    assert est.order == "ensemble"  # the parameter stays as given


def test_partial_fit_over_chunks_with_the_prior_rescaled_matches_fit():
    """Streaming N rows in chunks of n with ``alpha * n / N`` minimises fit's MAP objective
    (the user guide's recipe for out-of-core training); the same alpha is too strong."""
    X = correlated_codes(n=1200, n_features=4, n_levels=4, seed=0)
    X_test = correlated_codes(n=2000, n_features=4, n_levels=4, seed=1)
    config = dict(hidden_layer_sizes=(32,), ensemble_size=1, n_categories=4, random_state=0)
    # Enough epochs for both to approach the optimum (at 40 the full fit was still 0.05
    # nats from it, so the comparison measured the two optimisers' paths, not the optima).
    epochs = 80
    full = AutoregressiveDensityEstimator(
        alpha=5.0, early_stopping=False, max_iter=epochs, **config
    ).fit(X)
    scores = {}
    for alpha in (5.0 * 200 / 1200, 5.0):
        stream = AutoregressiveDensityEstimator(alpha=alpha, **config)
        for _ in range(epochs):
            for start in range(0, 1200, 200):
                stream.partial_fit(X[start : start + 200])
        scores[alpha] = stream.score(X_test)
    rescaled, unchanged = scores.values()
    assert abs(rescaled - full.score(X_test)) < 0.01 * abs(full.score(X_test))
    assert unchanged < full.score(X_test) - 0.05


def test_auto_dropout_depends_on_the_rows_and_is_resolved_into_dropout_(monkeypatch):
    X = correlated_codes()  # 600 rows
    est = AutoregressiveDensityEstimator(max_iter=2, hidden_layer_sizes=(16,), random_state=0)
    assert est.get_params()["dropout"] == "auto"
    rates = lambda e: {m.p for m in e.module_.modules() if type(m).__name__ == "Dropout"}  # noqa: E731
    assert est.fit(X).dropout_ == 0.5 and rates(est) == {0.5}
    monkeypatch.setattr(AutoregressiveDensityEstimator, "_auto_dropout_rows", len(X))
    assert est.fit(X).dropout_ == 0.25 and rates(est) == {0.25}
    assert est.get_params()["dropout"] == "auto"  # the parameter is left as given
    # Continued training keeps the network, and the rate, of the first fit.
    monkeypatch.setattr(AutoregressiveDensityEstimator, "_auto_dropout_rows", len(X) + 1)
    assert est.set_params(warm_start=True).fit(X).dropout_ == 0.25
    explicit = AutoregressiveDensityEstimator(dropout=0.1, max_iter=2, hidden_layer_sizes=(16,))
    assert explicit.fit(X).dropout_ == 0.1 and rates(explicit) == {0.1}
    assert AutoregressiveDensityEstimator(dropout=0.0, max_iter=2).fit(X).dropout_ == 0.0
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.score_samples(X), est.score_samples(X))
