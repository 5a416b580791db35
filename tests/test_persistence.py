"""Safe persistence: save / load round trips, and refusal of unsafe or modified files."""

import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

import skarm
from skarm import (
    AutoregressiveDensityEstimator,
    AutoregressiveOutlierDetector,
    ConditionalNLLRegressor,
)

SMALL = dict(max_iter=5, hidden_layer_sizes=(16,), random_state=0)


def mixed_frame(n=300, seed=0):
    rng = np.random.RandomState(seed)
    return pd.DataFrame(
        {
            "level": rng.randint(0, 3, n),
            "rounded": rng.normal(size=n).round(1),  # repeated values: atoms and pool
            "value": rng.normal(size=n),
        }
    )


@pytest.mark.parametrize(
    "est",
    [
        AutoregressiveDensityEstimator(order="ensemble", **SMALL),
        AutoregressiveDensityEstimator(dequantize=True, ensemble_size=2, **SMALL),
        AutoregressiveDensityEstimator(architecture="pixelcnn", max_iter=3, random_state=0),
        AutoregressiveOutlierDetector(**SMALL),
    ],
    ids=["ensemble-orders", "dequantized", "pixelcnn", "detector"],
)
def test_density_models_round_trip_exactly(est, tmp_path):
    X = mixed_frame()
    if est.architecture == "pixelcnn":
        X = np.random.RandomState(0).randint(0, 4, size=(200, 16))
    est.fit(X)
    path = tmp_path / "model.skarm"
    est.save(path)
    loaded = skarm.load(path)
    assert type(loaded) is type(est) and loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    np.testing.assert_array_equal(loaded.sample(7, random_state=3), est.sample(7, random_state=3))
    assert loaded.n_iter_ == est.n_iter_ and loaded.loss_curve_ == est.loss_curve_
    if isinstance(est, AutoregressiveOutlierDetector):
        assert loaded.offset_ == est.offset_
        np.testing.assert_array_equal(loaded.explain(X).top_names, est.explain(X).top_names)
    if isinstance(X, pd.DataFrame):
        np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)


def test_regressor_round_trips_and_warm_starts_after_loading(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    Y = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=300), rng.normal(size=300)])
    reg = ConditionalNLLRegressor(warm_start=True, **SMALL).fit(X, Y)
    reg.save(tmp_path / "reg.skarm")
    loaded = skarm.load(tmp_path / "reg.skarm")
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    np.testing.assert_array_equal(loaded.score_samples(X, Y), reg.score_samples(X, Y))
    loaded.fit(X, Y)  # continues from the loaded weights (Adam's moments restart)
    assert loaded.n_iter_ == 2 * reg.n_iter_


def test_loading_leaves_the_global_random_state_alone(tmp_path):
    est = AutoregressiveDensityEstimator(ensemble_size=3, **SMALL).fit(mixed_frame())
    est.save(tmp_path / "m.skarm")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    skarm.load(tmp_path / "m.skarm")
    assert torch.equal(torch.rand(3), expected)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > exploit_ran.txt",))


def test_a_file_holding_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.skarm"
    torch.save({"meta": "{}", "tensors": {}, "sha256": _Exploit()}, path)
    with pytest.raises(ValueError, match="not a skarm model file"):
        skarm.load(path)
    assert not (tmp_path / "exploit_ran.txt").exists()
    with open(path, "wb") as fh:  # a plain pickle, as joblib.dump would write
        pickle.dump(_Exploit(), fh)
    with pytest.raises(ValueError, match="not a skarm model file"):
        skarm.load(path)
    assert not (tmp_path / "exploit_ran.txt").exists()


def test_modified_foreign_and_future_files_are_refused(tmp_path):
    est = AutoregressiveDensityEstimator(**SMALL).fit(mixed_frame())
    path = tmp_path / "m.skarm"
    est.save(path)
    blob = torch.load(path, weights_only=True)

    name = next(iter(blob["tensors"]))
    blob["tensors"][name] = blob["tensors"][name] + 1.0
    torch.save(blob, tmp_path / "tensor.skarm")
    with pytest.raises(ValueError, match="modified or corrupted"):
        skarm.load(tmp_path / "tensor.skarm")

    blob = torch.load(path, weights_only=True)
    blob["meta"] = blob["meta"].replace('"alpha": 5.0', '"alpha": 6.0')
    torch.save(blob, tmp_path / "meta.skarm")
    with pytest.raises(ValueError, match="modified or corrupted"):
        skarm.load(tmp_path / "meta.skarm")

    (tmp_path / "noise.skarm").write_bytes(os.urandom(256))
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    for foreign in ("noise.skarm", "other.pt"):
        with pytest.raises(ValueError, match="not a skarm model file"):
            skarm.load(tmp_path / foreign)

    from skarm._persist import _digest

    blob = torch.load(path, weights_only=True)
    meta = json.loads(blob["meta"])
    meta["version"] = 99
    blob["meta"] = json.dumps(meta, sort_keys=True)
    blob["sha256"] = _digest(blob["meta"], blob["tensors"])
    torch.save(blob, tmp_path / "future.skarm")
    with pytest.raises(ValueError, match="format version 99"):
        skarm.load(tmp_path / "future.skarm")


def test_unfitted_models_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        AutoregressiveDensityEstimator().save(tmp_path / "m.skarm")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_a_model_saved_on_a_gpu_loads_on_cpu(tmp_path):
    est = AutoregressiveDensityEstimator(**SMALL).fit(mixed_frame())
    scores = est.score_samples(mixed_frame())
    est.device_ = torch.device("cuda")  # as if trained on a GPU (the tensors are saved on CPU)
    est.save(tmp_path / "m.skarm")
    loaded = skarm.load(tmp_path / "m.skarm")
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.score_samples(mixed_frame()), scores)
    with pytest.raises(ValueError, match="CUDA is not available"):
        skarm.load(tmp_path / "m.skarm", device="cuda")


def test_models_saved_before_dropout_was_resolved_still_load_and_continue(tmp_path):
    # Files and pickles of skarm before dropout="auto" hold a numeric dropout and no
    # ``dropout_``: they load, score the same and continue training.
    X = np.random.RandomState(0).normal(size=(300, 2))
    est = AutoregressiveDensityEstimator(dropout=0.5, max_iter=2, hidden_layer_sizes=(8,))
    est.fit(X)
    del est.dropout_
    est.save(tmp_path / "old.pt")
    loaded = skarm.load(tmp_path / "old.pt")
    np.testing.assert_allclose(loaded.score_samples(X), est.score_samples(X))
    unpickled = pickle.loads(pickle.dumps(est))
    assert unpickled.set_params(warm_start=True).fit(X).dropout_ == 0.5
