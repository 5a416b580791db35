"""The closed-form pieces of the output refit (:mod:`skarm._refit`).

Each Gaussian (or Gaussian-mixture) conditional's free components are regressed by EM:
the E-step gives each training row's responsibility for each component, the M-step is a
weighted ridge regression (:func:`_weighted_ridge`), the training MAP objective with the
other parameters held. This module holds what the steps share (the responsibilities, the
output units of a column's parameters, the features an output unit may read), the step on
the random features' read-out (:func:`_em_features`) and the step on the mixing logits
(:func:`_em_logits`); :mod:`skarm._refit` runs the rounds and keeps what the held-out rows
confirm.
"""

from __future__ import annotations

import torch
from scipy.linalg import blas
from torch import Tensor
from torch.distributions import Normal

from skarm._head_base import NormalHead
from skarm._mixture import MixtureHead
from skarm.nn.arm import AutoregressiveModel

#: L-BFGS iterations of the logits' M-step per (member, column), at most: the problem is
#: convex and starts at the trained weights; on naval, 50 iterations gain within 0.02
#: nats per row of 300.
LOGIT_ITERATIONS = 50

#: ... and it stops earlier once an iteration changes the objective (nats per training
#: row) or a weight by less than this: on power-plant, a third of the time of running
#: the 50 iterations, for the same held-out score within 2e-4 nats per row.
LOGIT_TOLERANCE = 1e-5

#: Least responsibility (in training rows) a free component, or a conditional's free
#: components or atoms together, must hold for the refit to change it: below it, a
#: change rests on too few rows (a column whose rows sit almost all on atoms, say).
MIN_ROWS = 50


def _gaussian_groups(module: AutoregressiveModel) -> list[int]:
    """Groups whose head is Gaussian (one or a mixture): their means are least squares."""
    return [i for i, h in enumerate(module.heads) if type(h) in (NormalHead, MixtureHead)]


def _responsibilities(head, params: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """Posterior probability of each free component given the value, and the
    components' scales: each ``(K, n, c, m)``."""
    log_w, loc, scale = head.free_gaussians(params)
    log_p = head.log_prob(params, x).unsqueeze(-1)
    resp = torch.exp(log_w + Normal(loc, scale).log_prob(x.unsqueeze(-1)) - log_p)
    return torch.nan_to_num(resp, nan=0.0), scale


def _units(module: AutoregressiveModel, group: int, slots: slice | int | None) -> Tensor:
    """Output units ``(c, s)`` of the group's columns at the given parameter slots."""
    head = module.heads[group]
    cols, offset, _ = module._groups[group]
    slot = torch.arange(head.n_params)[slots]
    return offset + torch.arange(len(cols))[:, None] * head.n_params + slot.reshape(1, -1)


def _value_inputs(module: AutoregressiveModel) -> Tensor:
    """The input units ``(n_in,)`` that carry a Gaussian column's (standardised) value:
    the first of the units each such column is encoded into."""
    probe = next(module.parameters()).new_zeros(1, module.n_features)
    values = [torch.zeros(module.n_context, dtype=torch.bool)]
    gaussian = set(_gaussian_groups(module))
    for g, head in enumerate(module.heads):
        units = head.encode(probe[:, module._cols(g)]).shape[-1]  # per column
        mask = torch.zeros(len(module._cols(g)), units, dtype=torch.bool)
        mask[:, 0] = g in gaussian
        values.append(mask.flatten())
    return torch.cat(values)


def _mean_targets(module) -> Tensor:
    """The output units ``(n_out,)`` the random features may shift: every Gaussian
    column's (free components') means."""
    targets = torch.zeros(module.net.output.weight.shape[1], dtype=torch.bool)
    for g in _gaussian_groups(module):
        targets[_units(module, g, module.heads[g].mean_slots).flatten()] = True
    return targets


def _em_features(module, feats, alpha: float) -> dict[tuple[int, int], Tensor]:
    """One EM step on the random features' read-out (one shift shared by a column's
    free components, and their common bias); returns the changed units per
    ``(member, column)``.

    With the other parameters held, the components' weighted least squares in the shift
    collapse to one: row ``n`` weighs ``W_n = sum_m r_nm / sigma_nm^2`` and targets the
    weighted mean of ``z_n - mu_nm`` over the components (the means without the shift).
    """
    net, block = module.net, module.net.extra
    groups = _gaussian_groups(module)
    old = feats.shifts  # (K, n, n_blocks)
    sums = {g: [] for g in groups}
    for rows, out in feats.chunks():
        params = module._split_params(out)
        for g in groups:
            head, x = module.heads[g], feats.x[rows][:, module._cols(g)]
            resp, scale = _responsibilities(head, params[g], x)  # (K, n, c, m)
            loc = head.free_gaussians(params[g])[1]
            w = (resp / scale.square()).double()
            residual = (w * (x.unsqueeze(-1) - loc)).sum(-1)
            sums[g].append(torch.stack([resp.sum(-1).double(), w.sum(-1), residual]))
    changed, bias = {}, net.output.bias
    for g in groups:
        cols = module._cols(g)
        units = _units(module, g, module.heads[g].mean_slots)  # (c, m)
        resp, w, wr = torch.cat(sums.pop(g), dim=2)  # (K, n, c) each
        for k in range(net.n_members):
            for i, j in enumerate(cols.tolist()):
                b = block.block_of(k, int(units[i, 0]))
                if b is None or float(resp[k, :, i].sum()) < MIN_ROWS:
                    continue
                # Targets with the present shift added back: the shift is what is fitted.
                target = wr[k, :, i] / w[k, :, i].clamp_min(1e-300) + old[k, :, b].double()
                f = block.member_features(feats.inputs, k, b)
                a = torch.cat([f, torch.ones_like(f[:, :1])], dim=1).double()
                theta = _weighted_ridge(a, w[k, :, i], target, alpha)
                if theta is None:
                    continue
                theta = theta.to(block.weight.dtype)
                # The constant is relative to the means without the shift: it moves
                # into their biases (the read-out has none).
                block.weight.data[k, b] = theta[:-1]
                bias.data[k, 0, units[i]] += theta[-1]
                changed[(k, j)] = (b, units[i])
    return changed


def _gram(a: Tensor, w: Tensor) -> Tensor:
    """``a.T @ diag(w) @ a`` for weights ``w >= 0``.

    In float64 on one CPU thread by BLAS's symmetric rank-k update (``dsyrk`` on
    ``sqrt(w) * a``): it computes one triangle, half the products of the general matrix
    product, the same sums to rounding (power-plant's refit 34.5 -> 20.2 s on one
    thread).
    Elsewhere the general product: beside torch's own OpenMP threads, which spin
    between parallel regions, scipy's BLAS threads lose what the triangle saves.
    """
    if a.device.type != "cpu" or a.dtype != torch.float64 or torch.get_num_threads() > 1:
        return a.T @ (a * w[:, None])
    b = (a * w.clamp_min(0.0).sqrt()[:, None]).numpy()
    # b.T is b's memory read as a Fortran-ordered (p, n) matrix: syrk forms b.T @ b
    # without a copy, into the upper triangle.
    upper = torch.from_numpy(blas.dsyrk(1.0, b.T, trans=0, lower=0)).triu()
    return upper + upper.triu(1).T


def _weighted_ridge(a: Tensor, w: Tensor, z: Tensor, alpha: float) -> Tensor | None:
    """``argmin_theta sum_n w_n (z_n - a_n theta)^2 / 2 + alpha ||theta_W||^2 / 2``, the
    last column of ``a`` being the (unpenalised) bias; None if the system is singular."""
    ridge = torch.full((a.shape[1],), float(alpha), dtype=a.dtype, device=a.device)
    ridge[-1] = 0.0
    gram = _gram(a, w) + torch.diag(ridge)
    # A relative jitter: features no row activates (dead units) with alpha = 0.
    gram += torch.eye(len(gram), dtype=a.dtype, device=a.device) * (
        1e-10 * float(gram.diagonal().mean())
    )
    try:
        theta = torch.linalg.solve(gram, a.T @ (w * z))
    except torch.linalg.LinAlgError:
        return None
    return theta if bool(torch.isfinite(theta).all()) else None


class _Design:
    """What output unit ``first`` of ``member`` may read, on the training rows ``feats``:
    the live hidden units its mask allows, the inputs of lower degree (direct
    connections) and a constant, as the columns of :attr:`a` ``(n, n_features + 1)``
    in ``dtype``; :meth:`write` stores a solution for some units that share the mask."""

    def __init__(
        self, net, feats, member: int, first: int, dtype: torch.dtype = torch.float64
    ) -> None:
        self.net, self.member, self.dtype = net, member, dtype
        self.h_allowed = net.output.mask[member, first].bool()
        self.h_mask = self.h_allowed & feats.alive[member]
        parts = [feats.hidden[member][:, self.h_mask]]
        self.d_mask = None
        if net.direct is not None:
            self.d_mask = net.direct.mask[member, first].bool()
            parts.append(feats.inputs[:, self.d_mask])
        self.q_mask = None
        if net.quadratic is not None:
            self.q_mask = net.quadratic.linear.mask[member, first].bool()
            parts.append(feats.products[:, self.q_mask])
        ones = torch.ones_like(feats.inputs[:, :1])
        self.a = torch.cat([*parts, ones], dim=1).to(dtype)
        self.n_hidden = int(self.h_mask.sum())
        self.n_direct = 0 if self.d_mask is None else int(self.d_mask.sum())

    def current(self, units: Tensor) -> Tensor:
        """The present weights of ``units`` as a solution ``(n_features + 1, len(units))``."""
        net, k = self.net, self.member
        parts = [net.output.weight[k][units][:, self.h_mask].T]
        if self.d_mask is not None:
            parts.append(net.direct.weight[k][units][:, self.d_mask].T)
        if self.q_mask is not None:
            parts.append(net.quadratic.linear.weight[k][units][:, self.q_mask].T)
        return torch.cat([*parts, net.output.bias[k, 0, units][None]]).to(self.dtype)

    def write(self, units: Tensor, theta: Tensor) -> None:
        """Store ``theta`` ``(n_features + 1, len(units))`` as the units' weights (dead
        hidden units get zero, their MAP weight) and bias."""
        net, k = self.net, self.member
        theta = theta.to(net.output.weight.dtype)
        rows = units[:, None]
        net.output.weight.data[k][rows, self.h_allowed.nonzero()[:, 0]] = 0.0
        net.output.weight.data[k][rows, self.h_mask.nonzero()[:, 0]] = theta[: self.n_hidden].T
        start = self.n_hidden
        if self.d_mask is not None:
            direct = theta[start : start + self.n_direct].T
            net.direct.weight.data[k][rows, self.d_mask.nonzero()[:, 0]] = direct
            start += self.n_direct
        if self.q_mask is not None:
            quadratic = theta[start:-1].T
            net.quadratic.linear.weight.data[k][rows, self.q_mask.nonzero()[:, 0]] = quadratic
        net.output.bias.data[k, 0, units] = theta[-1]


def _em_logits(module, feats, alpha: float) -> dict[int, Tensor]:
    """One EM step on the mixing logits of the Gaussian-mixture columns; returns each
    changed column's logit units.

    The E-step gives each training row's posterior ``r_nc`` over the categories (free
    components, atoms, the pool); with the components held, the M-step is the
    multinomial logistic regression ``max sum_nc r_nc log softmax(a_n theta)_c -
    alpha ||theta_W||^2 / 2`` over the features the logits may read, convex, solved by
    L-BFGS from the trained weights. Stochastic gradients with dropout leave the logits
    short of it: on naval's recorded values (which atom a row sits on is a function of
    the earlier columns) the step gains a nat per row.
    """
    net = module.net
    groups = [g for g in _gaussian_groups(module) if isinstance(module.heads[g], MixtureHead)]
    posterior = {g: [] for g in groups}
    for rows, out in feats.chunks():
        params = module._split_params(out)
        for g in groups:
            x = feats.x[rows][:, module._cols(g)]
            weights, terms = module.heads[g].category_terms(params[g], x)
            posterior[g].append(torch.nan_to_num(torch.softmax(terms, dim=-1), nan=0.0))
    changed = {}
    for g in groups:
        head, cols = module.heads[g], module._cols(g)
        units = _units(module, g, head.logit_slots)  # (c, C)
        resp_all = torch.cat(posterior.pop(g), dim=1)  # (K, n, c, C)
        valid = head.categories  # (c, C): the padding atoms and a missing pool are not
        for k in range(net.n_members):
            for j in range(len(cols)):
                u = units[j][valid[j]]
                if len(u) < 2:  # one category: its weight is 1 whatever the logit
                    continue
                # In float32 whatever the model's precision (float64 on CPU): the
                # logits need no more, and it cuts the solve's time by a third.
                design = _Design(net, feats, k, int(u[0]), dtype=torch.float32)
                r = resp_all[k, :, j][:, valid[j]].to(torch.float32)
                theta = _multinomial_map(design.a, r, alpha, design.current(u))
                if theta is not None:
                    design.write(u, theta)
                    changed[int(cols[j])] = u
    return changed


def _multinomial_map(a: Tensor, r: Tensor, alpha: float, theta: Tensor) -> Tensor | None:
    """``argmax_theta sum_nc r_nc log softmax(a_n theta)_c - alpha ||theta_W||^2 / 2``
    (the last row of ``theta``, the bias, unpenalised) by L-BFGS from ``theta``; None if
    it ends non-finite."""
    n = len(a)
    # Solved transposed, ``(C, n_features + 1)``: ``linear`` then takes the gradient as
    # ``(C, n) @ (n, F)``, three times faster on CPU than the ``(F, n) @ (n, C)`` of
    # ``a @ theta``'s backward pass (a thin output over a long reduction).
    theta_t = theta.detach().T.contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [theta_t],
        max_iter=LOGIT_ITERATIONS,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=LOGIT_TOLERANCE,
    )

    def closure() -> Tensor:
        opt.zero_grad()
        log_lik = (r * torch.log_softmax(torch.nn.functional.linear(a, theta_t), dim=-1)).sum()
        loss = (0.5 * alpha * theta_t[:, :-1].square().sum() - log_lik) / n
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    theta = theta_t.detach().T
    return theta if bool(torch.isfinite(theta).all()) else None
