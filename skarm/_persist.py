"""Safe persistence: ``est.save(path)`` and ``skarm.load(path)``.

A saved model is one file written by ``torch.save`` holding only plain data: a JSON
string (format name and version, the estimator's class and parameters, its fitted
attributes in a tagged encoding), the module's tensors, and a SHA-256 digest of both.
``load`` reads it with ``torch.load(weights_only=True)``, which unpickles tensors and
built-in containers only and refuses anything else, so loading never runs code from the
file. The class is looked up among skarm's own estimators, the digest is checked (a
modified or corrupted file is refused), and the module is rebuilt from the saved
configuration before its tensors are copied in, on CPU unless CUDA is present.

The digest detects accidental corruption and naive edits; it is not a signature (anyone
can recompute it). Safety against malicious files comes from ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

__all__ = ["save", "load", "FORMAT", "VERSION"]

FORMAT = "skarm-model"
#: 2: "conv" networks have a direct linear path (new weights), so version 1 files of
#: conv models would not load; files of other architectures are refused with them.
VERSION = 2

#: Fitted attributes that are not saved: the module (saved as tensors) and Adam's state
#: (a warm start after loading restarts the optimiser's moments).
_NOT_SAVED = ("module_", "_optimizer_state")


def _coders() -> dict[str, type]:
    from skarm._data import ColumnCoder, TargetCoder

    return {"ColumnCoder": ColumnCoder, "TargetCoder": TargetCoder}


def _estimators() -> dict[str, type]:
    from skarm import (
        AutoregressiveDensityEstimator,
        AutoregressiveOutlierDetector,
        ConditionalNLLRegressor,
    )

    classes = (
        AutoregressiveDensityEstimator,
        AutoregressiveOutlierDetector,
        ConditionalNLLRegressor,
    )
    return {cls.__name__: cls for cls in classes}


def _encode(value: Any, where: str) -> Any:
    """A JSON-able, tagged form of ``value`` (see :func:`_decode`)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | np.integer | np.floating | np.bool_):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        items = value.tolist() if value.dtype != object else [str(v) for v in value.ravel()]
        return {"__ndarray__": items, "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _coders():
        fields = {f.name: _encode(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {"__coder__": type(value).__name__, "fields": fields}
    if isinstance(value, np.random.RandomState):
        return None  # a generator's state is not a parameter worth keeping: see save()
    raise ValueError(f"Cannot save {where} of type {type(value).__name__}.")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__device__" in value:
        return torch.device(value["__device__"])
    if "__coder__" in value:
        cls = _coders()[value["__coder__"]]
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    raise ValueError(f"Unknown entry in a skarm model file: {sorted(value)}.")


def _digest(meta: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(meta.encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save(estimator, path: str | os.PathLike) -> None:
    """Write a fitted skarm estimator to ``path`` (see the module docstring)."""
    check_is_fitted(estimator, "module_")
    params = estimator.get_params(deep=False)
    fitted = {
        k: _encode(v, f"attribute {k!r}")
        for k, v in vars(estimator).items()
        if k not in params and k not in _NOT_SAVED
    }
    meta = json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "class": type(estimator).__name__,
            "params": {k: _encode(v, f"parameter {k!r}") for k, v in params.items()},
            "fitted": fitted,
        },
        sort_keys=True,
    )
    tensors = {
        k: v.detach().to("cpu", copy=True).contiguous()
        for k, v in estimator.module_.state_dict().items()
    }
    torch.save({"meta": meta, "tensors": tensors, "sha256": _digest(meta, tensors)}, path)


def _read(path) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # unpickling refused, not a zip archive, truncated, ...
        raise ValueError(
            f"{os.fspath(path)!r} is not a skarm model file, or holds objects other than "
            f"tensors and plain data (which are never loaded): {exc}"
        ) from None
    if (
        not isinstance(blob, dict)
        or set(blob) != {"meta", "tensors", "sha256"}
        or not isinstance(blob["meta"], str)
        or not isinstance(blob["tensors"], dict)
        or not all(isinstance(t, torch.Tensor) for t in blob["tensors"].values())
    ):
        raise ValueError(f"{os.fspath(path)!r} is not a skarm model file.")
    if _digest(blob["meta"], blob["tensors"]) != blob["sha256"]:
        raise ValueError(
            f"{os.fspath(path)!r} has been modified or corrupted since it was saved: its "
            "content does not match its SHA-256 digest."
        )
    meta = json.loads(blob["meta"])
    if meta.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a skarm model file.")
    if meta.get("version") != VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} has format version {meta.get('version')}; this skarm reads "
            f"version {VERSION}."
        )
    return meta, blob["tensors"]


def load(path: str | os.PathLike, device: str | torch.device | None = None):
    """Read an estimator written by ``save``; see :func:`skarm.load`."""
    meta, tensors = _read(path)
    classes = _estimators()
    if meta.get("class") not in classes:
        raise ValueError(f"Unknown estimator class {meta.get('class')!r} in {os.fspath(path)!r}.")
    cls = classes[meta["class"]]
    estimator = cls(**{k: _decode(v) for k, v in meta["params"].items()})
    for k, v in meta["fitted"].items():
        setattr(estimator, k, _decode(v))
    estimator._optimizer_state = None
    if device is not None:
        from skarm._engine import resolve_device

        estimator.device_ = resolve_device(device)
    elif estimator.device_.type == "cuda" and not torch.cuda.is_available():
        estimator.device_ = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):  # building draws masks: keep the caller's RNG
        module = estimator._rebuild_module()
    # In the inference dtype before loading: weights saved in float64 (fitted on CPU, or
    # changed after training by the output refit) load exactly.
    dtype = estimator._inference_dtype(estimator.device_)
    module = module.to(dtype)
    prepare = getattr(module.net, "prepare_state", None)
    if prepare is not None:  # parts added after training (the output refit's features)
        prepare(tensors, "net.")
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"The tensors in {os.fspath(path)!r} do not fit the model: {exc}"
        ) from None
    estimator.module_ = module.to(estimator.device_, dtype).eval()
    return estimator
