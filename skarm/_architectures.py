"""From an estimator's parameters to its torch model: orders, networks and heads.

The estimators hold parameters (``architecture``, ``hidden_layer_sizes``, ``order``, ...);
this module checks them against the data's shape and builds the
:class:`skarm.nn.AutoregressiveModel` they describe. It is the one place that knows which
network each ``architecture`` names and what its defaults are.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from skarm._data import ColumnCoder
from skarm.heads import make_head
from skarm.nn import AutoregressiveModel, make_net_factory

__all__ = ["DEFAULT_HIDDEN", "build_model", "freeze_lower_layers", "resolve_order"]

#: Hidden widths used when ``hidden_layer_sizes=None``.
DEFAULT_HIDDEN = {
    "made": (512,),
    "pixelcnn": (64,) * 6,
    "conv": (64,) * 6,
    "transformer": (64,) * 3,
    "regressor": (100, 100),
}


def resolve_order(
    order, n_features: int, n_members: int, rng: np.random.RandomState, X=None
) -> np.ndarray:
    """The variable order(s): shape ``(n_features,)``, or ``(n_members, n_features)`` for
    ``order="ensemble"`` (the first member in column order, the others random).
    ``order="auto"`` sorts the columns of ``X`` (the rows passed to fit) by their number
    of distinct values, fewest first (ties in column order)."""
    if order is None:
        return np.arange(n_features)
    if isinstance(order, str) and order == "ensemble":
        if n_members == 1:
            return np.arange(n_features)
        others = [rng.permutation(n_features) for _ in range(n_members - 1)]
        return np.stack([np.arange(n_features), *others])
    if isinstance(order, str) and order == "auto":
        distinct = [len(np.unique(column)) for column in np.asarray(X).T]
        return np.argsort(distinct, kind="stable").astype(np.int64)
    if isinstance(order, str):
        return rng.permutation(n_features)
    perm = np.asarray(order)
    if perm.shape != (n_features,) or not np.array_equal(np.sort(perm), np.arange(n_features)):
        raise ValueError(
            f"order must be a permutation of 0..{n_features - 1} (one entry per feature); "
            f"got {order!r}."
        )
    return perm.astype(np.int64)


def hidden_sizes(architecture: str, hidden_layer_sizes) -> tuple[int, ...]:
    """Hidden widths of the network (none for "linear")."""
    if architecture == "linear":
        return ()
    if hidden_layer_sizes is None:
        return DEFAULT_HIDDEN[architecture]
    sizes = tuple(hidden_layer_sizes)
    if not sizes or not all(isinstance(h, Integral) and h > 0 for h in sizes):
        raise ValueError(
            f"hidden_layer_sizes must be a non-empty sequence of positive integers, got "
            f"{hidden_layer_sizes!r}."
        )
    return sizes


def resolve_image_shape(image_shape, n_features: int) -> tuple[int, int]:
    """The ``(height, width)`` each row is read as by "pixelcnn": a square when
    ``image_shape`` is None and ``n_features`` is a square number, else one row."""
    if image_shape is None:
        side = math.isqrt(n_features)
        return (side, side) if side * side == n_features else (1, n_features)
    shape = tuple(image_shape)
    if (
        len(shape) != 2
        or not all(isinstance(s, Integral) and s > 0 for s in shape)
        or shape[0] * shape[1] != n_features
    ):
        raise ValueError(
            f"image_shape must be (height, width) with height * width == n_features = "
            f"{n_features}; got {image_shape!r}."
        )
    return int(shape[0]), int(shape[1])


def build_model(
    coder: ColumnCoder,
    order: np.ndarray,
    *,
    architecture: str,
    hidden_layer_sizes,
    image_shape,
    dropout: float,
    ensemble_size: int,
    categorical_encoding: str,
    n_components: int,
) -> AutoregressiveModel:
    """The autoregressive model the parameters describe, for columns typed by ``coder``."""
    heads = [
        (
            make_head(
                kind,
                coder.n_categories[cols],
                categorical_encoding,
                n_components,
                atoms=coder.internal_atoms(cols),
                pool=coder.internal_pool(cols),
            ),
            cols,
        )
        for kind, cols in coder.groups()
    ]
    options = dict(
        hidden_sizes=hidden_sizes(architecture, hidden_layer_sizes),
        dropout=dropout,
        n_members=ensemble_size,
    )
    n_features = order.shape[-1]
    if architecture == "pixelcnn":
        if not np.array_equal(order, np.arange(n_features)):
            raise ValueError(
                "architecture='pixelcnn' models pixels in raster order; use order=None "
                f"(got an order of shape {order.shape}: {order.tolist()})."
            )
        options["image_shape"] = resolve_image_shape(image_shape, n_features)
        factory = make_net_factory("pixelcnn", **options)
    elif architecture in ("conv", "transformer"):
        if order.ndim != 1:
            raise ValueError(
                f"architecture={architecture!r} runs over one variable order shared by the "
                "ensemble's members; order='ensemble' needs architecture='made'."
            )
        factory = make_net_factory(architecture, **options)
    else:
        factory = make_net_factory("made", **options)
    return AutoregressiveModel(heads, order.tolist(), factory)


def freeze_lower_layers(model: AutoregressiveModel) -> None:
    """Stop gradients to every parameter but the output layers' and the heads' (in place).

    For fine-tuning a fitted model on new data (transfer learning): the lower layers'
    features are kept and only the map from them to the conditionals (the network's
    ``output_layers()``) is trained. Undo with ``model.requires_grad_(True)``.
    """
    model.requires_grad_(False)
    for module in [*model.net.output_layers(), model.heads]:
        module.requires_grad_(True)
