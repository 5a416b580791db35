"""Faults in training: non-finite losses are rolled back, interrupts keep a usable model."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from skarm import AutoregressiveDensityEstimator
from skarm._engine import TrainConfig, Trainer


def _toy(nan_calls):
    """A linear-Gaussian log-likelihood whose value is NaN on the given calls (0-based)."""
    torch.manual_seed(0)
    module = nn.Linear(2, 1)
    calls = {"n": 0}

    def log_lik(m, x):
        out = -0.5 * (m(x[:, :2]).squeeze(-1) - x[:, 2]).square()
        bad = calls["n"] in nan_calls
        calls["n"] += 1
        return out * math.nan if bad else out

    x = torch.randn(256, 3)
    x[:, 2] = x[:, 0] - x[:, 1]
    return module, log_lik, (x,)


def test_a_non_finite_loss_is_rolled_back_and_training_recovers_with_a_smaller_step():
    module, log_lik, data = _toy(nan_calls={10})  # second epoch (8 batches per epoch)
    config = TrainConfig(batch_size=32, learning_rate_init=0.05, n_iter_no_change=50)
    trainer = Trainer(module, log_lik, config)
    with pytest.warns(RuntimeWarning, match="rolled back"):
        history = trainer.fit(data, None, n_epochs=30)
    assert history.n_iter == 30 and len(history.loss_curve) == 29  # one epoch rolled back
    assert all(math.isfinite(v) for v in history.loss_curve)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    assert torch.isfinite(module.weight).all()
    assert history.loss_curve[-1] < 0.01  # it went on learning after the recovery


def test_training_stops_with_the_last_good_weights_when_losses_stay_non_finite():
    module, log_lik, data = _toy(nan_calls=set(range(16, 10_000)))  # from the third epoch on
    trainer = Trainer(module, log_lik, TrainConfig(batch_size=32, learning_rate_init=0.05))
    with pytest.warns(RuntimeWarning) as record:
        history = trainer.fit(data, None, n_epochs=30)
    messages = [str(w.message) for w in record]
    assert sum("rolled back" in m for m in messages) == Trainer.max_recoveries
    assert any("stopped and kept the last good weights" in m for m in messages)
    assert len(history.loss_curve) == 2 and history.converged
    after_two_epochs = module.weight.detach().clone()
    module2, log_lik2, _ = _toy(nan_calls=set())
    Trainer(module2, log_lik2, TrainConfig(batch_size=32, learning_rate_init=0.05)).fit(
        data, None, n_epochs=2, warn=False
    )
    torch.testing.assert_close(after_two_epochs, module2.weight.detach())


def test_keyboard_interrupt_during_fit_keeps_the_best_weights_and_says_so(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 2))
    calls = {"n": 0}
    original = Trainer._epoch

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_epoch", interrupted)
    est = AutoregressiveDensityEstimator(hidden_layer_sizes=(16,), random_state=0)
    with pytest.warns(RuntimeWarning, match="interrupted during epoch 6.*best weights so far"):
        est.fit(X)
    assert est.n_iter_ == 5 and len(est.validation_scores_) == 5
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert np.isfinite(est.score_samples(X)).all()
    assert est.sample(3, random_state=0).shape == (3, 2)
