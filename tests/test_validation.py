"""Bad input gets a clear ValueError; failed fits leave the estimator as it was."""

import numpy as np
import pytest
import torch

from skarm import AutoregressiveDensityEstimator

FAST = dict(max_iter=3, hidden_layer_sizes=(8,), random_state=0)
GOOD = np.random.RandomState(0).randint(0, 3, size=(50, 3)).astype(float)


def with_value(value, row=0, col=0):
    X = GOOD.copy().astype(object) if isinstance(value, str) else GOOD.copy()
    X[row, col] = value
    return X


BAD_FIT_INPUTS = [
    ("NaN", with_value(np.nan), "NaN"),
    ("inf", with_value(np.inf), "infinity"),
    ("1-D", GOOD[:, 0], "Expected 2D array"),
    ("strings", np.array([["a", "b"], ["c", "d"]]), "could not convert|numeric"),
    ("empty rows", np.empty((0, 3)), "0 sample"),
    ("no columns", np.empty((5, 0)), "0 feature"),
    ("one sample", GOOD[:1], "1 sample"),
    ("complex", GOOD + 1j, "Complex data not supported"),
]


@pytest.mark.parametrize("name, X, message", BAD_FIT_INPUTS, ids=[b[0] for b in BAD_FIT_INPUTS])
def test_bad_fit_input_raises_a_clear_value_error(name, X, message):
    with pytest.raises(ValueError, match=message):
        AutoregressiveDensityEstimator(**FAST).fit(X)


@pytest.mark.parametrize(
    "distribution, value, message",
    [
        ("categorical", -1.0, "negative or non-integer"),
        ("categorical", 1.5, "negative or non-integer"),
        ("bernoulli", 2.0, "above 1"),
    ],
)
def test_invalid_discrete_values_at_fit(distribution, value, message):
    with pytest.raises(ValueError, match=message):
        AutoregressiveDensityEstimator(distribution=distribution, **FAST).fit(with_value(value))


def test_other_configuration_errors():
    with pytest.raises(ValueError, match="3 features"):
        AutoregressiveDensityEstimator(distribution=["categorical"] * 2, **FAST).fit(GOOD)
    with pytest.raises(ValueError, match="Unknown distribution"):
        AutoregressiveDensityEstimator(distribution=["categorical", "x", "normal"], **FAST).fit(
            GOOD
        )
    with pytest.raises(ValueError, match="outside the 2 categories"):
        AutoregressiveDensityEstimator(n_categories=2, **FAST).fit(GOOD)
    with pytest.raises(ValueError, match="constant"):
        AutoregressiveDensityEstimator(distribution="normal", **FAST).fit(np.ones((10, 2)))
    with pytest.raises(ValueError, match="alpha"):
        AutoregressiveDensityEstimator(alpha=-1.0).fit(GOOD)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            AutoregressiveDensityEstimator(device="cuda", **FAST).fit(GOOD)


def test_bad_score_input():
    est = AutoregressiveDensityEstimator(**FAST).fit(GOOD)
    with pytest.raises(ValueError, match="X has 2 features, but AutoregressiveDensityEstimator"):
        est.score_samples(GOOD[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        est.score_samples(with_value(np.nan))
    with pytest.raises(ValueError, match="positive integer"):
        est.sample(0)


def test_failed_refit_leaves_the_fitted_model_untouched():
    est = AutoregressiveDensityEstimator(**FAST).fit(GOOD)
    before = est.score_samples(GOOD)
    est.set_params(distribution="categorical")
    state = dict(vars(est))
    wider = np.hstack([GOOD, -np.ones((50, 1))])
    with pytest.raises(ValueError, match="negative"):
        est.fit(wider)
    assert est.n_features_in_ == 3
    assert vars(est).keys() == state.keys()
    assert all(vars(est)[k] is state[k] for k in state)
    np.testing.assert_array_equal(est.score_samples(GOOD), before)


def test_failed_first_fit_leaves_no_fitted_state(monkeypatch):
    from sklearn.exceptions import NotFittedError

    from skarm import _engine

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    est = AutoregressiveDensityEstimator(**FAST)
    monkeypatch.setattr(_engine.Trainer, "fit", explode)
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(GOOD)
    assert not hasattr(est, "n_features_in_")
    with pytest.raises(NotFittedError):
        est.score_samples(GOOD)


def test_failed_warm_start_refit_keeps_previous_weights(monkeypatch):
    from skarm import _engine

    est = AutoregressiveDensityEstimator(warm_start=True, **FAST).fit(GOOD)
    before = est.score_samples(GOOD)
    original = _engine.Trainer._epoch

    def epoch_then_fail(self, *args, **kwargs):
        original(self, *args, **kwargs)  # weights of the training copy change...
        raise RuntimeError("training died")  # ...then training fails (an interrupt is
        # handled instead: see tests/test_faults.py)

    monkeypatch.setattr(_engine.Trainer, "_epoch", epoch_then_fail)
    with pytest.raises(RuntimeError, match="training died"):
        est.fit(GOOD)
    np.testing.assert_array_equal(est.score_samples(GOOD), before)
    assert est.n_iter_ == 3


def test_device_parameter_is_never_rewritten():
    est = AutoregressiveDensityEstimator(device="auto", **FAST).fit(GOOD)
    assert est.device == "auto"
    assert est.device_.type in ("cpu", "cuda")
    cpu = AutoregressiveDensityEstimator(device="cpu", **FAST).fit(GOOD)
    assert cpu.device_ == torch.device("cpu")
    assert next(cpu.module_.parameters()).device.type == "cpu"


@pytest.mark.parametrize("early_stopping", [True, False])
def test_non_finite_loss_stops_and_keeps_the_last_good_weights(monkeypatch, early_stopping):
    from skarm import _density_fit as density

    calls = {"n": 0}
    make_log_lik = density._training_log_lik

    def poisoned_log_lik(noise, n_columns):
        original = make_log_lik(noise, n_columns)

        def poisoned(module, x):
            out = original(module, x)
            if module.training:
                calls["n"] += 1
                if calls["n"] > 2:  # from the third training batch on, the loss is NaN
                    return out * float("nan")
            return out

        return poisoned

    monkeypatch.setattr(density, "_training_log_lik", poisoned_log_lik)
    est = AutoregressiveDensityEstimator(
        early_stopping=early_stopping,
        batch_size=25,
        max_iter=10,
        hidden_layer_sizes=(8,),
        random_state=0,
    )
    with pytest.warns(RuntimeWarning, match="kept the last good weights"):
        est.fit(GOOD)
    assert np.all(np.isfinite(est.score_samples(GOOD)))
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
