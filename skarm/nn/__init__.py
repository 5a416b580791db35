"""Torch modules of skarm: networks that map encoded inputs to distribution parameters.

Nothing here knows about scikit-learn. A network respects *degrees*: output units of
degree ``d`` depend only on input units of degree ``< d`` (MADE: any order; PixelCNN:
degree = raster pixel index; the sequence networks: degree = position in one shared
order).
"""

from __future__ import annotations

from functools import partial

from skarm.nn.arm import AutoregressiveModel, NetFactory
from skarm.nn.features import RandomFeatureReadout
from skarm.nn.made import MADE, MaskedLinear
from skarm.nn.pixelcnn import GatedConvLayer, PixelCNN
from skarm.nn.sequence import CausalConv1D, SequenceNet
from skarm.nn.transformer import CausalTransformer

__all__ = [
    "AutoregressiveModel",
    "CausalConv1D",
    "CausalTransformer",
    "GatedConvLayer",
    "MADE",
    "MaskedLinear",
    "NetFactory",
    "PixelCNN",
    "RandomFeatureReadout",
    "SequenceNet",
    "make_net_factory",
]

_NETWORKS = {
    "made": MADE,
    "pixelcnn": PixelCNN,
    "conv": CausalConv1D,
    "transformer": CausalTransformer,
}


def make_net_factory(name: str, **kwargs) -> NetFactory:
    """Return ``factory(in_degrees, out_degrees) -> nn.Module`` for the network ``name``."""
    try:
        cls = _NETWORKS[name]
    except KeyError:
        raise ValueError(
            f"Unknown network {name!r}; expected one of {sorted(_NETWORKS)}."
        ) from None
    return partial(cls, **kwargs)
