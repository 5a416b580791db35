"""Output heads: per-column parameters to ``torch.distributions`` objects.

A head owns one family of conditionals (categorical, Bernoulli, normal, ...) for a
group of columns. It knows two things and nothing else:

* how a column of that family is **encoded** as network input (``encode``), and
* how the network's raw outputs for those columns become a distribution
  (``distribution``), whose ``log_prob`` and ``sample`` the model uses.

Heads hold no trainable parameters and know nothing of scikit-learn. Values in
internal units arrive as a float tensor; a discrete value outside the support
learned at fit arrives as the sentinel ``-1`` and scores ``-inf``.

The base classes live in ``skarm._head_base`` and the mixture head of continuous columns
(atoms, pool, atom codes) in ``skarm._mixture``; all are importable from here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Categorical,
    Laplace,
    LogNormal,
    Poisson,
    StudentT,
)

from skarm._head_base import OUT_OF_SUPPORT, Head, NormalHead, positive_scale
from skarm._mixture import MixtureHead, logsumexp

__all__ = [
    "Head",
    "CategoricalHead",
    "BernoulliHead",
    "NormalHead",
    "MixtureHead",
    "LaplaceHead",
    "StudentTHead",
    "LogNormalHead",
    "PoissonHead",
    "OUT_OF_SUPPORT",
    "make_head",
    "logsumexp",
]


class CategoricalHead(Head):
    """Categorical conditionals over ``{0, ..., K_j - 1}`` for each column ``j``.

    The network emits ``K = max_j K_j`` logits per column; logits of levels a column
    cannot take are set to ``-inf``, so each conditional is normalised over its own
    support. As network *input* a code is encoded either as its level scaled to
    ``[0, 1]`` ("ordinal": one unit, right for ordered levels such as pixel
    intensities, and what a softmax regression on the preceding columns reads) or as
    a one-hot vector ("onehot": ``K`` units, right for unordered levels). An
    out-of-support value encodes as zeros.

    Parameters
    ----------
    n_categories : sequence of int
        Number of levels ``K_j`` of each column in the group.
    encoding : {"ordinal", "onehot"}, default="ordinal"
        Input encoding of the codes.
    """

    def __init__(self, n_categories: list[int], encoding: str = "ordinal") -> None:
        super().__init__(len(n_categories))
        if encoding not in ("ordinal", "onehot"):
            raise ValueError(f"encoding must be 'ordinal' or 'onehot', got {encoding!r}.")
        k = torch.as_tensor(list(n_categories), dtype=torch.long)
        self.encoding = encoding
        self.n_levels = int(k.max())
        self.n_params = self.n_levels
        self.n_inputs = 1 if encoding == "ordinal" else self.n_levels
        levels = torch.arange(self.n_levels)
        self.register_buffer("invalid", levels[None, :] >= k[:, None], persistent=False)
        self.register_buffer("scale", 1.0 / (k.float() - 1.0).clamp(min=1.0), persistent=False)
        self.shared_alphabet = not bool(self.invalid.any())

    def encode(self, x: Tensor) -> Tensor:
        if self.training and self.encoding == "ordinal":  # training data: all in support
            return (x * self.scale).unsqueeze(-1)
        valid = x >= 0
        if self.encoding == "ordinal":
            return torch.where(valid, x * self.scale, torch.zeros_like(x)).unsqueeze(-1)
        code = torch.where(valid, x, torch.zeros_like(x)).long()
        return F.one_hot(code, self.n_levels).to(x.dtype) * valid.unsqueeze(-1)

    def encode_column(self, x: Tensor, column: int) -> Tensor:
        valid = x >= 0
        if self.encoding == "ordinal":
            return torch.where(valid, x * self.scale[column], torch.zeros_like(x)).unsqueeze(-1)
        code = torch.where(valid, x, torch.zeros_like(x)).long()
        return F.one_hot(code, self.n_levels).to(x.dtype) * valid.unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Categorical:
        if not self.shared_alphabet:
            invalid = self.invalid if columns is None else self.invalid[columns]
            params = params.masked_fill(invalid, -math.inf)
        return Categorical(logits=params, validate_args=False)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        if self.training:  # training data: all in support
            return self.distribution(params).log_prob(x.long())
        valid = x >= 0
        code = torch.where(valid, x, torch.zeros_like(x)).long()
        lp = self.distribution(params).log_prob(code)
        return lp.masked_fill(~valid, -math.inf)


class BernoulliHead(Head):
    """Bernoulli conditionals over ``{0, 1}``, one logit per column; input is the bit."""

    n_params = 1
    n_inputs = 1
    elementwise_encoding = True

    def encode(self, x: Tensor) -> Tensor:
        return x.clamp(min=0.0).unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Bernoulli:
        return Bernoulli(logits=params[..., 0], validate_args=False)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        valid = x >= 0
        lp = self.distribution(params).log_prob(x.clamp(min=0.0))
        return lp.masked_fill(~valid, -math.inf)


class LaplaceHead(NormalHead):
    """Laplace conditionals on standardised values: ``Laplace(mu, softplus(s) + min_scale)``."""

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Laplace:
        loc, raw_scale = params.unbind(-1)
        return Laplace(loc, positive_scale(raw_scale, self.min_scale), validate_args=False)


class StudentTHead(NormalHead):
    """Student-t conditionals with learned degrees of freedom on standardised values.

    ``StudentT(df, mu, sigma)`` with ``sigma = softplus(s) + min_scale`` and
    ``df = 2 + softplus(t)``: the degrees of freedom are learned per row like the other
    parameters, and kept above 2 so that the variance (``predict(return_std=True)``)
    exists. Heavy tails down to ``df -> 2`` remain reachable.
    """

    n_params = 3
    min_df = 2.0

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> StudentT:
        loc, raw_scale, raw_df = params.unbind(-1)
        return StudentT(
            positive_scale(raw_df, self.min_df),
            loc,
            positive_scale(raw_scale, self.min_scale),
            validate_args=False,
        )


class LogNormalHead(NormalHead):
    """Log-normal conditionals for positive values: ``log z ~ N(mu, softplus(s) + min_scale)``.

    Values arrive divided by a positive scale (never shifted), so they stay positive; a
    value ``<= 0`` lies outside the support and scores ``-inf``. As network input a
    value enters as ``log z``.
    """

    def encode(self, x: Tensor) -> Tensor:
        return torch.log(x.clamp(min=1e-30)).unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> LogNormal:
        loc, raw_scale = params.unbind(-1)
        return LogNormal(loc, positive_scale(raw_scale, self.min_scale), validate_args=False)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        valid = x > 0
        lp = self.distribution(params).log_prob(torch.where(valid, x, torch.ones_like(x)))
        return lp.masked_fill(~valid, -math.inf)


class PoissonHead(Head):
    """Poisson conditionals for counts ``0, 1, 2, ...``: ``log rate = t + log_offset``.

    ``log_offset`` (a fixed buffer, the log of the training mean) centres the network's
    output so that training starts near the right rate; the log-rate is clipped at 30
    (a rate of 1e13), so no step can overflow. Negative or non-integer values score
    ``-inf``. As network input a count enters as ``log(1 + y)``.
    """

    n_params = 1
    n_inputs = 1
    elementwise_encoding = True

    def __init__(self, n_columns: int, log_offset=0.0) -> None:
        super().__init__(n_columns)
        offset = torch.as_tensor(log_offset, dtype=torch.float32).expand(n_columns).clone()
        self.register_buffer("log_offset", offset)

    def encode(self, x: Tensor) -> Tensor:
        return torch.log1p(x.clamp(min=0.0)).unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Poisson:
        offset = self.log_offset if columns is None else self.log_offset[columns]
        log_rate = (params[..., 0] + offset.to(params.dtype)).clamp(max=30.0)
        return Poisson(torch.exp(log_rate), validate_args=False)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        valid = (x >= 0) & (x == torch.floor(x))
        lp = self.distribution(params).log_prob(torch.where(valid, x, torch.zeros_like(x)))
        return lp.masked_fill(~valid, -math.inf)


def make_head(
    kind: str,
    n_categories,
    encoding: str = "ordinal",
    n_components: int = 5,
    atoms=None,
    log_offset=0.0,
    pool=None,
) -> Head:
    """The head for a group of columns of family ``kind``.

    Parameters
    ----------
    kind : {"categorical", "bernoulli", "normal", "mixture", "laplace", "student_t", \
            "lognormal", "poisson"}
        Family of the group.
    n_categories : sequence of int
        Support size of each column of the group (used by "categorical").
    encoding : {"ordinal", "onehot"}, default="ordinal"
        Input encoding of categorical codes.
    n_components : int, default=5
        Gaussians per conditional (used by "mixture").
    atoms : sequence of array-like, optional
        Atom locations of each column, standardised (used by "mixture").
    log_offset : float or array-like, default=0.0
        Log of each column's typical rate (used by "poisson").
    pool : sequence of (array-like, array-like), optional
        Pooled atoms of each column: standardised locations and training counts (used by
        "mixture").
    """
    n_categories = [int(k) for k in n_categories]
    if kind == "categorical":
        return CategoricalHead(n_categories, encoding)
    if kind == "bernoulli":
        return BernoulliHead(len(n_categories))
    if kind == "normal":
        return NormalHead(len(n_categories))
    if kind == "mixture":
        return MixtureHead(len(n_categories), n_components, atoms=atoms, pool=pool)
    simple = {"laplace": LaplaceHead, "student_t": StudentTHead, "lognormal": LogNormalHead}
    if kind in simple:
        return simple[kind](len(n_categories))
    if kind == "poisson":
        return PoissonHead(len(n_categories), log_offset)
    raise ValueError(f"Unknown distribution family {kind!r}.")
