"""What every skarm estimator shares: training parameters, seeding, device, pickling."""

from __future__ import annotations

import contextlib
import copy
import ctypes
from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from skarm._engine import History, TrainConfig, Trainer

__all__ = [
    "TorchEstimatorMixin",
    "TRAINING_CONSTRAINTS",
    "check_n_samples",
    "release_freed_memory",
]


def _load_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory() -> None:
    """Hand memory that torch freed back to the OS (glibc only; a no-op elsewhere).

    Scoring millions of rows in batches frees and reallocates the same large buffers;
    glibc's adaptive mmap threshold then serves them from a heap that fragments, and the
    resident set can grow by gigabytes although nothing is alive. Trimming after each
    batch keeps the peak flat (``benchmarks/bench_memory.py``).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def check_n_samples(n_samples) -> int:
    """``n_samples`` of a ``sample`` call: a positive integer, else a clear ``ValueError``."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    return int(n_samples)


#: Parameter constraints of the shared training engine.
TRAINING_CONSTRAINTS: dict = {
    "alpha": [Interval(Real, 0, None, closed="left")],
    "l1_ratio": [Interval(Real, 0, 1, closed="both")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "learning_rate": [StrOptions({"constant", "adaptive"})],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
    "eval_batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [StrOptions({"auto", "cpu", "cuda"}), str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
}


class TorchEstimatorMixin(BaseEstimator):
    """Shared plumbing of the torch-backed estimators.

    Subclasses keep their torch module in ``module_`` and their device in ``device_``.
    """

    @staticmethod
    def _inference_dtype(device: torch.device) -> torch.dtype:
        """Fitted models score in float64 on CPU (scores independent of batching to
        1e-12) and in float32 on accelerators; training is always float32."""
        return torch.float64 if device.type == "cpu" else torch.float32

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            batch_size=self.batch_size,
            learning_rate_init=self.learning_rate_init,
            learning_rate=self.learning_rate,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            alpha=self.alpha,
            l1_ratio=self.l1_ratio,
            max_grad_norm=self.max_grad_norm,
            verbose=self.verbose,
        )

    def _check_fit_rows(self, n_rows: int) -> None:
        if n_rows < 2:
            raise ValueError(
                f"Found {n_rows} sample(s); {type(self).__name__} needs at least 2 samples to fit."
            )

    def _record_history(
        self, trainer: Trainer, history: History, warm: bool, validated: bool
    ) -> None:
        """Set the fitted training record: Adam's state (to resume), epochs, loss curve,
        and the validation scores (None when nothing was held out)."""
        previous = self.__dict__.get("loss_curve_", []) if warm else []
        self._optimizer_state = trainer.optimizer_state()
        self.n_iter_ = (self.n_iter_ if warm else 0) + history.n_iter
        self.loss_curve_ = list(previous) + history.loss_curve
        self.validation_scores_ = history.validation_scores if validated else None
        self.best_validation_score_ = history.best_validation_score if validated else None

    @staticmethod
    def _seed_from(random_state) -> int:
        """An int seed for torch drawn from a sklearn-style ``random_state``."""
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    @contextlib.contextmanager
    def _restore_on_failure(self) -> Iterator[None]:
        """Undo every attribute change if the block raises: a failed (re)fit leaves the
        estimator exactly as it was (fitted state is replaced, never mutated in place)."""
        snapshot = self.__dict__.copy()
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise

    @contextlib.contextmanager
    def _torch_rng(self, seed: int, device: torch.device) -> Iterator[None]:
        """Seed torch's global RNG inside the block and restore the caller's state after."""
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def save(self, path) -> None:
        """Write the fitted estimator to ``path``, safely loadable by :func:`skarm.load`.

        The file holds the parameters and fitted attributes as JSON and the network's
        tensors, with a format version and a SHA-256 digest; loading it never executes
        code (unlike a pickle). Adam's moments are not saved: a ``warm_start`` fit of a
        loaded model restarts them. A ``RandomState`` instance passed as
        ``random_state`` is saved as None (an int seed is kept).

        Parameters
        ----------
        path : str or path-like
            File to write (by convention ``*.skarm``).

        Examples
        --------
        >>> import numpy as np, os, tempfile, skarm
        >>> X = np.random.RandomState(0).normal(size=(200, 2))
        >>> est = skarm.AutoregressiveDensityEstimator(max_iter=5, random_state=0).fit(X)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.skarm")
        >>> est.save(path)
        >>> bool(np.allclose(skarm.load(path).score_samples(X), est.score_samples(X)))
        True
        """
        from skarm._persist import save

        save(self, path)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        module = state.get("module_")
        if isinstance(module, nn.Module) and next(module.parameters(), None) is not None:
            if next(module.parameters()).device.type != "cpu":
                state["module_"] = copy.deepcopy(module).to("cpu")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        device = state.get("device_")
        if device is not None and device.type == "cuda" and not torch.cuda.is_available():
            self.device_ = torch.device("cpu")
        if "module_" in state and isinstance(self.module_, nn.Module):
            self.module_.to(self.device_, self._inference_dtype(self.device_))
