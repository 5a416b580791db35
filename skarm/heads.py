"""Output heads: per-column parameters to ``torch.distributions`` objects.

A head owns one family of conditionals (categorical, Bernoulli, normal, ...) for a
group of columns. It knows two things and nothing else:

* how a column of that family is **encoded** as network input (``encode``), and
* how the network's raw outputs for those columns become a distribution
  (``distribution``), whose ``log_prob`` and ``sample`` the model uses.

Heads hold no trainable parameters and know nothing of scikit-learn. Values in
internal units arrive as a float tensor; a discrete value outside the support
learned at fit arrives as the sentinel ``-1`` and scores ``-inf``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Laplace,
    LogNormal,
    MixtureSameFamily,
    Normal,
    Poisson,
    StudentT,
)

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

#: Internal code of a discrete value that lies outside the support fitted on the data.
OUT_OF_SUPPORT = -1.0


#: Exponents below this are taken as exactly zero by :func:`logsumexp` (exp(-80) is 1e-35
#: of the largest term, far below float64's resolution).
_EXP_FLOOR = -80.0


def logsumexp(x: Tensor, dim: int = -1) -> Tensor:
    """``log sum exp(x)`` along ``dim`` (kept), as ``torch.logsumexp`` to float precision.

    Terms more than 80 nats below the largest are dropped (their share is below 1e-34).
    On CPU, ``exp`` of an argument that underflows (a far component's log-density, a
    padding ``-inf``) takes a slow path, 10 to 15 times slower than in range; in a mixture
    with many atoms most terms underflow, and this clamp made a power-plant training step
    twice as fast. Rows whose terms are all ``-inf`` give ``-inf``.
    """
    peak = x.detach().amax(dim=dim, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    shifted = x - peak
    terms = torch.where(shifted > _EXP_FLOOR, shifted.clamp(min=_EXP_FLOOR).exp(), 0.0)
    return terms.sum(dim=dim, keepdim=True).log() + peak


class Head(nn.Module):
    """Base class of output heads for a group of ``n_columns`` columns.

    Subclasses set ``n_params`` (network outputs per column) and ``n_inputs``
    (encoded input units per column) and implement :meth:`encode` and
    :meth:`distribution`.
    """

    n_params: int
    n_inputs: int

    def __init__(self, n_columns: int) -> None:
        super().__init__()
        self.n_columns = int(n_columns)

    def encode(self, x: Tensor) -> Tensor:
        """Encode values ``x`` of shape ``(n, c)`` as inputs of shape ``(n, c, n_inputs)``."""
        raise NotImplementedError

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Distribution:
        """Distribution with batch shape ``params.shape[:-1]`` from its parameters.

        ``params`` is ``(n, c, n_params)`` for all the group's columns (``columns=None``),
        or ``(m, n_params)`` with ``columns`` (shape ``(m,)``) naming each row's column.
        """
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Log-probability (or log-density) of ``x`` ``(n, c)`` under ``params``."""
        return self.distribution(params).log_prob(x)

    def sample(self, params: Tensor, columns: Tensor) -> Tensor:
        """Draw one value per row (global torch RNG).

        ``params`` has shape ``(m, n_params)``: row ``r`` holds the parameters of the
        group's column ``columns[r]``. Returns the ``m`` values.
        """
        return self.distribution(params, columns).sample().to(params.dtype)


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

    def encode(self, x: Tensor) -> Tensor:
        return x.clamp(min=0.0).unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Bernoulli:
        return Bernoulli(logits=params[..., 0], validate_args=False)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        valid = x >= 0
        lp = self.distribution(params).log_prob(x.clamp(min=0.0))
        return lp.masked_fill(~valid, -math.inf)


class NormalHead(Head):
    """Gaussian conditionals on standardised values: ``N(mu, softplus(s) + min_scale)``.

    The softplus keeps the scale positive and smooth; ``min_scale`` (in standardised
    units) bounds the density so that no training run can diverge to a point mass.
    """

    n_params = 2
    n_inputs = 1

    def __init__(self, n_columns: int, min_scale: float = 1e-3) -> None:
        super().__init__(n_columns)
        self.min_scale = float(min_scale)

    def encode(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Normal:
        loc, raw_scale = params.unbind(-1)
        return Normal(loc, F.softplus(raw_scale) + self.min_scale, validate_args=False)


class MixtureHead(NormalHead):
    r"""Mixtures of ``n_components`` Gaussians per conditional (MADE-MoG, RNADE), plus atoms.

    .. math:: p(z \mid \cdot) = \sum_{m} \pi_m \, \mathcal{N}(z; \mu_m, \sigma_m)
        + \sum_{a} \pi_a \, \mathcal{N}(z; v_a, \sigma_{atom})
        + \pi_{pool} \sum_{b} q_b \, \mathcal{N}(z; u_b, \sigma_{atom}),
        \quad q_b \propto c_b \, \mathcal{N}(u_b; \mu_{pool}, \sigma_{pool})

    on standardised values, built on ``torch.distributions.MixtureSameFamily``, with
    ``pi = softmax(.)`` and ``sigma = softplus(.) + sigma_min``. The network emits, per
    column, the mixing logits, means and pre-softplus scales of the ``n_components`` free
    Gaussians; for a column with atoms, one logit per atom, the pool's logit, window centre
    and pre-softplus window width, and one shared pre-softplus atom scale.

    Atoms are values a column takes repeatedly (ties in tabular data: a level, a zero, a
    rounded value); their Gaussians sit exactly on them, so the model can put a narrow
    peak there without having to learn its location, while the free components cover
    everything else. The most frequent ``v_a`` get a logit each, in context. The *pool*
    holds the many minor ones ``u_b`` (a column measured at hundreds of settings): one
    logit for all of them, shared out in proportion to each value's training count
    ``c_b`` times a Gaussian window whose centre and width the network sets in context,
    so that hundreds of peaks cost three network outputs and still follow the context.
    ``min_scale`` bounds every scale, so that no component can collapse onto a point.

    Parameters
    ----------
    n_columns : int
        Number of columns in the group.
    n_components : int, default=5
        Free Gaussians per conditional.
    min_scale : float, default=1e-3
        Smallest component scale, in standardised units.
    atoms : sequence of array-like, optional
        Atom locations of each column (standardised units); empty or None for none.
    pool : sequence of (array-like, array-like), optional
        Per column, the pooled atoms' locations (standardised units) and training counts;
        empty arrays or None for none.
    """

    def __init__(
        self,
        n_columns: int,
        n_components: int = 5,
        min_scale: float = 1e-3,
        atoms: list | None = None,
        pool: list | None = None,
    ) -> None:
        super().__init__(n_columns, min_scale)
        if n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components}.")
        self.n_components = int(n_components)
        empty = (np.empty(0), np.empty(0))
        atoms = [np.asarray(a, dtype=np.float64).ravel() for a in (atoms or [[]] * n_columns)]
        pool = list(pool or [empty] * n_columns)
        if len(atoms) != n_columns or len(pool) != n_columns:
            raise ValueError(
                f"atoms and pool need one entry per column ({n_columns}); got {len(atoms)} "
                f"and {len(pool)}."
            )
        self.n_atoms = max(len(a) for a in atoms)
        self.n_pool = max(len(np.ravel(p[0])) for p in pool)
        loc = torch.zeros(n_columns, self.n_atoms, dtype=torch.float64)
        valid = torch.zeros(n_columns, self.n_atoms, dtype=torch.bool)
        for j, a in enumerate(atoms):
            loc[j, : len(a)] = torch.as_tensor(a)
            valid[j, : len(a)] = True
        self.register_buffer("atom_loc", loc.float())
        self.register_buffer("atom_valid", valid)
        pool_loc = torch.zeros(n_columns, self.n_pool, dtype=torch.float64)
        # Padding slots get a huge negative (finite, so that a column without a pool has
        # no NaN in its softmax) log-count, and are masked to -inf afterwards.
        pool_log_count = torch.full((n_columns, self.n_pool), -1e30, dtype=torch.float64)
        pool_valid = torch.zeros(n_columns, self.n_pool, dtype=torch.bool)
        for j, (values, counts) in enumerate(pool):
            values, counts = np.ravel(values), np.ravel(counts)
            pool_loc[j, : len(values)] = torch.as_tensor(values, dtype=torch.float64)
            pool_log_count[j, : len(values)] = torch.as_tensor(np.log(counts), dtype=torch.float64)
            pool_valid[j, : len(values)] = True
        self.register_buffer("pool_loc", pool_loc.float())
        self.register_buffer("pool_log_count", pool_log_count.float())
        self.register_buffer("pool_valid", pool_valid)
        # The atoms' shared width starts at half the typical gap between a column's atoms:
        # a peak only pays once it is narrower than the gaps, and from a wide start the
        # likelihood is flat in the width (a plateau that training would not leave).
        init = [
            self._initial_atom_scale(np.r_[a, np.ravel(p[0])], min_scale)
            for a, p in zip(atoms, pool, strict=True)
        ]
        width = torch.as_tensor(init, dtype=torch.float64) - min_scale
        inverse_softplus = width + torch.log(-torch.expm1(-width))
        self.register_buffer("atom_scale_offset", inverse_softplus.float())
        has_atoms = self.n_atoms + self.n_pool > 0
        self._init_atom_codes(atoms, pool, init, has_atoms)
        self.n_params = (
            3 * self.n_components + self.n_atoms + 3 * (self.n_pool > 0) + (1 if has_atoms else 0)
        )

    #: Width of the random code that tells the network which atom an input sits on.
    n_atom_code = 16

    def _init_atom_codes(self, atoms, pool, widths, has_atoms: bool) -> None:
        """Buffers of :meth:`encode`: each column's atoms (free and pooled) sorted, padded
        with ``+inf``; a fixed random code per atom; and the codes' kernel widths."""
        if not has_atoms or self.n_atom_code == 0:
            self.n_inputs = 1
            self.atom_table = None
            return
        values = [np.sort(np.r_[a, np.ravel(p[0])]) for a, p in zip(atoms, pool, strict=True)]
        n_values = max(len(v) for v in values)
        table = torch.full((self.n_columns, n_values), math.inf, dtype=torch.float64)
        for j, v in enumerate(values):
            table[j, : len(v)] = torch.as_tensor(v, dtype=torch.float64)
        gen = torch.Generator().manual_seed(0)
        codes = torch.randn(self.n_columns, n_values, self.n_atom_code, generator=gen)
        self.register_buffer("atom_table", table.float())
        self.register_buffer("atom_code", codes)
        self.register_buffer("atom_code_width", torch.as_tensor(widths, dtype=torch.float32))
        self.n_inputs = 1 + self.n_atom_code

    def encode(self, x: Tensor) -> Tensor:
        """The value, and for a column with atoms a code of the atoms it sits on.

        The code is ``sum_b k_b(x) c_b`` over the four atoms ``u_b`` around ``x`` (two on
        each side), with a fixed random vector ``c_b`` per atom and
        ``k_b(x) = exp(-(x - u_b)^2 / 2 tau^2)``, ``tau`` the atoms' initial width: the
        later columns' conditionals can then depend on *which* recorded value a column
        holds (a setting, a period), a function too rough for the network to draw from the
        value alone (power-plant: 0.7 nats per row). The code is a smooth function of ``x``
        at the scale of the atoms' peaks (up to the kernel of atoms two gaps away, which
        enter and leave the window as ``x`` crosses an atom), so values drawn from a peak
        are read as the data on that atom are. The code only shapes the inputs of later
        conditionals, each still a normalised distribution.
        """
        if self.atom_table is None:
            return x.unsqueeze(-1)
        table = self.atom_table.to(x.dtype)
        n_values = table.shape[1]
        xt = x.detach().transpose(0, 1).contiguous()
        right = torch.searchsorted(table, xt)  # (c, n): first atom >= x
        idx = right.unsqueeze(-1) + torch.arange(-2, 2, device=x.device)  # 4 nearest slots
        inside = (idx >= 0) & (idx < n_values)
        idx = idx.clamp(0, n_values - 1)
        loc = table.gather(1, idx.flatten(1)).view(idx.shape)
        z = (x.transpose(0, 1).unsqueeze(-1) - loc) / self.atom_code_width[:, None, None]
        weight = torch.exp(-0.5 * z.clamp(-12.0, 12.0).square())
        weight = torch.where(inside & torch.isfinite(loc), weight, 0.0)
        cols = torch.arange(self.n_columns, device=x.device)[:, None, None]
        code = (weight.unsqueeze(-1) * self.atom_code[cols, idx].to(x.dtype)).sum(dim=2)
        return torch.cat([x.unsqueeze(-1), code.transpose(0, 1)], dim=-1)

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> MixtureSameFamily:
        m = self.n_components
        logits, loc, scale = params[..., : 3 * m].split(m, dim=-1)
        scale = F.softplus(scale) + self.min_scale
        if self.n_atoms + self.n_pool:
            offset = self.atom_scale_offset if columns is None else self.atom_scale_offset[columns]
            atom_scale = F.softplus(params[..., -1:] + offset.unsqueeze(-1)) + self.min_scale
            logits, loc, scale = [logits], [loc], [scale]
            if self.n_atoms:
                atom_loc = self.atom_loc if columns is None else self.atom_loc[columns]
                valid = self.atom_valid if columns is None else self.atom_valid[columns]
                atom_logits = params[..., 3 * m : 3 * m + self.n_atoms]
                logits.append(atom_logits.masked_fill(~valid, -math.inf))
                loc.append(atom_loc.to(params.dtype).expand_as(atom_logits))
                scale.append(atom_scale.expand_as(atom_logits))
            if self.n_pool:
                logits.append(self._pool_logits(params, columns))
                pool_loc = self.pool_loc if columns is None else self.pool_loc[columns]
                loc.append(pool_loc.to(params.dtype).expand_as(logits[-1]))
                scale.append(atom_scale.expand_as(logits[-1]))
            logits, loc, scale = (torch.cat(t, dim=-1) for t in (logits, loc, scale))
        return MixtureSameFamily(
            Categorical(logits=logits, validate_args=False),
            Normal(loc, scale, validate_args=False),
            validate_args=False,
        )

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Log-density of ``x`` ``(n, c)``: the mixture of :meth:`distribution`, computed
        without materialising its components.

        Each component's log-weight plus log-density is formed in place and the mixture
        is one ``logsumexp``; the pool's atoms enter through two ``logsumexp`` over the
        pool (the window's normaliser and the atoms' density at ``x``). The same value as
        ``distribution(params).log_prob(x)`` (a test), for a third of the work.
        """
        m = self.n_components
        x = x.unsqueeze(-1)
        logits, loc, raw_scale = params[..., : 3 * m].split(m, dim=-1)
        scale = F.softplus(raw_scale) + self.min_scale
        weights = [logits]
        terms = [logits - 0.5 * ((x - loc) / scale).square() - torch.log(scale)]
        if self.n_atoms + self.n_pool:
            atom_scale = F.softplus(params[..., -1:] + self.atom_scale_offset.unsqueeze(-1))
            atom_scale = atom_scale + self.min_scale
            log_atom_scale = torch.log(atom_scale)
            if self.n_atoms:
                atom_logits = params[..., 3 * m : 3 * m + self.n_atoms]
                atom_logits = atom_logits.masked_fill(~self.atom_valid, -math.inf)
                weights.append(atom_logits)
                z = (x - self.atom_loc.to(params.dtype)) / atom_scale
                terms.append(atom_logits - 0.5 * z.square() - log_atom_scale)
            if self.n_pool:
                start = 3 * m + self.n_atoms
                logit, centre, raw_width = params[..., start : start + 3].split(1, dim=-1)
                logit = logit.masked_fill(~self.pool_valid.any(-1, keepdim=True), -math.inf)
                pool_loc = self.pool_loc.to(params.dtype)
                window = (pool_loc - centre) / (F.softplus(raw_width) + self.min_scale)
                log_q = self.pool_log_count.to(params.dtype) - 0.5 * window.square()
                z = (x - pool_loc) / atom_scale
                pool = logsumexp(log_q - 0.5 * z.square()) - logsumexp(log_q)
                weights.append(logit)
                terms.append(logit + pool - log_atom_scale)
        terms, weights = torch.cat(terms, dim=-1), torch.cat(weights, dim=-1)
        log_norm = 0.5 * math.log(2.0 * math.pi)
        return (logsumexp(terms) - logsumexp(weights)).squeeze(-1) - log_norm

    @staticmethod
    def _initial_atom_scale(values: np.ndarray, min_scale: float) -> float:
        """Half the median gap between sorted atoms, within ``[2 min_scale, 0.1]``."""
        gaps = np.diff(np.sort(values))
        half_gap = 0.5 * float(np.median(gaps)) if gaps.size else 0.1
        return float(np.clip(half_gap, 2 * min_scale, 0.1))

    def _pool_logits(self, params: Tensor, columns: Tensor | None) -> Tensor:
        """``log pi_pool + log q_b``: the pool's logit shared out over its atoms in
        proportion to their training counts times a Gaussian window set in context."""
        pool_loc = self.pool_loc if columns is None else self.pool_loc[columns]
        log_count = self.pool_log_count if columns is None else self.pool_log_count[columns]
        valid = self.pool_valid if columns is None else self.pool_valid[columns]
        start = 3 * self.n_components + self.n_atoms
        logit, centre, raw_width = params[..., start : start + 3].split(1, dim=-1)
        z = (pool_loc.to(params.dtype) - centre) / (F.softplus(raw_width) + self.min_scale)
        q = torch.log_softmax(log_count.to(params.dtype) - 0.5 * z * z, dim=-1)
        return (logit + q).masked_fill(~valid, -math.inf)


class LaplaceHead(NormalHead):
    """Laplace conditionals on standardised values: ``Laplace(mu, softplus(s) + min_scale)``."""

    def distribution(self, params: Tensor, columns: Tensor | None = None) -> Laplace:
        loc, raw_scale = params.unbind(-1)
        return Laplace(loc, F.softplus(raw_scale) + self.min_scale, validate_args=False)


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
            F.softplus(raw_df) + self.min_df,
            loc,
            F.softplus(raw_scale) + self.min_scale,
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
        return LogNormal(loc, F.softplus(raw_scale) + self.min_scale, validate_args=False)

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
