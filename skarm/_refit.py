"""Closed-form refit of the Gaussian conditionals' output layer after training.

Stochastic gradients fit a conditional's mean to a precision of about the step size; a
column that is a smooth function of the earlier ones (a simulator's output, a unit
conversion, a copy) needs far more. With the hidden features fixed (dropout off, as the
fitted model scores), the component means of a Gaussian or Gaussian-mixture conditional
are linear in the output layer's weights, and one EM step fits them exactly: the
E-step gives each training row's responsibility ``r_nm`` for each free component, and
the M-step is the weighted ridge regression

.. math:: \\min_\\theta \\sum_n \\frac{r_{nm}}{2 \\sigma_{nm}^2} (z_n - a_n^\\top \\theta)^2
    + \\frac{\\alpha}{2} \\|\\theta_W\\|^2

over the features ``a_n`` the mask lets the unit see (hidden units and inputs of lower
degree, and the bias, which the prior leaves out): the same MAP objective as training,
with the scales and weights held. The random features' read-out is solved the same way,
and the mixing logits by the multinomial logistic regression of the rows' posteriors
over the categories (:func:`skarm._refit_solve._em_logits`). A scale calibration
follows: the pre-softplus scales of a conditional's free components (and its atoms'
shared scale) are shifted by the amount, on a grid, that scores the training rows best.
Each change is kept only for the (member, column) conditionals whose held-out rows score
better, and the whole refit is undone if the held-out score of the model does not
improve. See the user guide,
"Refitting the output layer".
"""

from __future__ import annotations

import math

import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from skarm._refit_solve import (
    MIN_ROWS,
    _Design,
    _em_features,
    _em_logits,
    _gaussian_groups,
    _mean_targets,
    _responsibilities,
    _units,
    _value_inputs,
    _weighted_ridge,
)
from skarm.nn.arm import AutoregressiveModel
from skarm.nn.made import MADE, MaskedLinear

__all__ = ["can_refit", "refit_output_layer"]

#: Shifts of the pre-softplus scales tried by the calibration (0 keeps the scale).
SCALE_SHIFTS = torch.linspace(-2.0, 1.0, 13)
#: Training rows the calibration scores (a random subset of them when there are more):
#: it chooses one shift per (member, column).
CALIBRATION_ROWS = 1024
#: Training rows the EM step uses at most (a random subset beyond): it holds their
#: hidden features and outputs in memory.
EM_ROWS = 20_000
#: Rows per batch when scoring the held-out rows.
BATCH = 8192
#: Random ReLU features of all the earlier columns offered to each Gaussian column's
#: means (:mod:`skarm.nn.features`); 0 turns the stage off.
RANDOM_FEATURES = 512
#: Products of two Gaussian columns' values offered to the later columns' means
#: (:class:`~skarm.nn.features.QuadraticConnections`), at most (a random subset beyond):
#: every pair of up to 15 such columns; 0 turns them off.
QUADRATIC_PAIRS = 120


def _held_out(module: AutoregressiveModel, x_val: Tensor) -> tuple[float, Tensor]:
    """The model's mean held-out log-likelihood and the members' per-column means
    ``(K, D)``, in row batches."""
    total, per_column = 0.0, 0.0
    for start in range(0, len(x_val), BATCH):
        rows = x_val[start : start + BATCH]
        member = module.member_log_prob(rows)  # (K, n, D)
        per_column = per_column + member.sum(dim=1)
        total += float((torch.logsumexp(member.sum(dim=2), 0) - math.log(len(member))).sum())
    return total / len(x_val), per_column / len(x_val)


def can_refit(module: AutoregressiveModel) -> bool:
    """Whether :func:`refit_output_layer` applies: a masked MLP ("made", "linear") with at
    least one Gaussian or Gaussian-mixture column."""
    return isinstance(module.net, MADE) and bool(_gaussian_groups(module))


class _Features:
    """The training rows' fixed inputs of the output layer, and the outputs they give,
    computed per member and in row chunks (memory: the hidden features only)."""

    #: Rows per chunk of output-layer evaluations.
    chunk = 1024

    def __init__(self, module: AutoregressiveModel, x: Tensor) -> None:
        net = module.net
        self.module, self.x = module, x
        self.inputs = module._net_input(x, None)
        self.hidden = net.hidden(self.inputs.unsqueeze(0).expand(net.n_members, -1, -1))
        # Hidden units that are zero on every row (dead ReLUs: over half of them on
        # naval) carry nothing to regress on: left out of the solve, their weights go
        # to their MAP optimum, zero (the prior alone), at no cost.
        self.alive = (self.hidden != 0).any(dim=1)  # (K, H)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the random features' read-out on these rows, ``shifts``
        ``(K, n, n_blocks)`` (None without them): the features are fixed, so the read-out
        changes only when the refit solves it, and is not recomputed per pass. Also the
        rows' value products, ``products`` ``(n, n_pairs)`` (None without quadratic
        connections)."""
        quadratic = self.module.net.quadratic
        self.products = None if quadratic is None else quadratic.products(self.inputs)
        block = self.module.net.extra
        self.shifts = None
        if block is not None:
            inputs = self.member_inputs()
            self.shifts = torch.cat(
                [
                    block.shifts(inputs[:, s : s + self.chunk])
                    for s in range(0, len(self.x), self.chunk)
                ],
                dim=1,
            )

    def shift_of(self, member: int, unit: int) -> Tensor | None:
        """The read-out added to output ``unit`` of ``member`` on every row (None if none)."""
        if self.shifts is None:
            return None
        b = self.module.net.extra.block_of(member, unit)
        return None if b is None else self.shifts[member, :, b]

    def chunks(self):
        """``(rows, out)`` per row chunk: the output layer's ``(K, n_rows, n_out)``."""
        net = self.module.net
        for start in range(0, len(self.x), self.chunk):
            rows = slice(start, start + self.chunk)
            out = net.output(self.hidden[:, rows])
            inputs = self.inputs[rows].unsqueeze(0).expand(net.n_members, -1, -1)
            if net.direct is not None:
                out = out + net.direct(inputs)
            if self.shifts is not None:
                out = out + torch.bmm(self.shifts[:, rows], net.extra.target)
            if self.products is not None:
                products = self.products[rows].unsqueeze(0).expand(net.n_members, -1, -1)
                out = out + net.quadratic.linear(products)
            yield rows, out

    def member_inputs(self) -> Tensor:
        """The encoded rows, once per member: ``(K, n, n_in)`` (a view)."""
        return self.inputs.unsqueeze(0).expand(self.module.net.n_members, -1, -1)


class _OutputLayer:
    """Copies and per-(member, unit) restores of the output layer and direct weights."""

    def __init__(self, net) -> None:
        self.params = [
            (p, name == "bias")
            for layer in net.output_layers()
            if isinstance(layer, MaskedLinear)
            for name, p in layer.named_parameters()
        ]

    def copy(self) -> list[Tensor]:
        return [p.detach().clone() for p, _ in self.params]

    def restore(self, saved: list[Tensor], member: int | None = None, units=None) -> None:
        for (p, is_bias), s in zip(self.params, saved, strict=True):
            if member is None:
                p.data.copy_(s)
            elif is_bias:  # (K, 1, n_out)
                p.data[member, 0, units] = s[member, 0, units]
            else:  # (K, n_out, n_in)
                p.data[member, units] = s[member, units]


def _keep_better(module, before, x_val, undo) -> Tensor:
    """Undo the change of the (member, column) conditionals whose held-out rows score
    worse now.

    ``before`` is the held-out ``(K, D)`` mean member log-likelihood before the change;
    ``undo(k, j)`` restores member ``k``'s column ``j`` (a no-op where nothing changed).
    Returns the new ``(K, D)`` scores."""
    after = _held_out(module, x_val)[1]
    worse = ~(after > before)
    for k, j in worse.nonzero().tolist():
        undo(k, j)
    return torch.where(worse, before, after)


def _restore_units(layer, saved, units_of):
    """``undo`` for :func:`_keep_better`: put back column ``j``'s output units
    ``units_of[j]`` of member ``k`` from ``saved``."""

    def undo(k: int, j: int) -> None:
        if j in units_of:
            layer.restore(saved, k, units_of[j])

    return undo


def _restore_readout(net, layer, saved, saved_block, moved):
    """``undo`` for :func:`_keep_better` after the random features' step: put back
    member ``k``'s read-out block and the mean units it shifted for column ``j``
    (``moved[(k, j)] = (block, units)``)."""

    def undo(k: int, j: int) -> None:
        if (k, j) in moved:
            b, units = moved[(k, j)]
            net.extra.weight.data[k, b] = saved_block[k, b]
            layer.restore(saved, k, units)

    return undo


def _em_means(module, feats: _Features, alpha: float) -> dict[int, Tensor]:
    """One EM step on the free components' means; returns each column's mean units."""
    net = module.net
    groups = _gaussian_groups(module)
    # E-step, per row chunk: each row's weight r / sigma^2 for each free component.
    weights = {g: [] for g in groups}
    for rows, out in feats.chunks():
        params = module._split_params(out)
        for g in groups:
            head, x = module.heads[g], feats.x[rows][:, module._cols(g)]
            resp, scale = _responsibilities(head, params[g], x)  # (K, n, c, m) each
            weights[g].append(torch.stack([resp, resp / scale.square()]).double())
    changed = {}
    for g in groups:
        head, cols = module.heads[g], module._cols(g)
        x = feats.x[:, cols]
        units = _units(module, g, head.mean_slots)  # (c, m)
        resp_all, w_all = torch.cat(weights.pop(g), dim=2)  # (K, n, c, m) each
        for k in range(net.n_members):
            resp, w = resp_all[k], w_all[k]
            for j in range(len(cols)):
                design = _Design(net, feats, k, int(units[j, 0]))
                # The random features' read-out is part of the means: fit the rest.
                shift = feats.shift_of(k, int(units[j, 0]))
                z = x[:, j] if shift is None else x[:, j] - shift
                for i in range(units.shape[1]):
                    # Fewer rows than coefficients: the solve would interpolate them.
                    if float(resp[:, j, i].sum()) < MIN_ROWS:
                        continue
                    theta = _weighted_ridge(design.a, w[:, j, i], z.double(), alpha)
                    if theta is not None:
                        design.write(units[j, i : i + 1], theta[:, None])
                changed[int(cols[j])] = units[j]
    return changed


def _calibrate(module, feats: _Features, slot_name: str) -> dict[int, Tensor]:
    """Shift each (member, column)'s pre-softplus scales at ``slot_name`` by the grid
    value that scores the training rows best; returns each column's shifted units."""
    bias = module.net.output.bias
    units_of = {}
    for g in _gaussian_groups(module):
        head = module.heads[g]
        slots = getattr(head, slot_name)
        if slots is None:
            continue
        for j, row in zip(module._cols(g).tolist(), _units(module, g, slots), strict=True):
            units_of[j] = row
    if not units_of:
        return {}
    columns = torch.as_tensor(sorted(units_of))
    all_units = torch.cat([units_of[j] for j in columns.tolist()])
    base = bias.data[:, 0, all_units].clone()
    # Every shift scores the same outputs but for the shifted units: one output-layer
    # pass per row chunk, then the heads once per shift. The unshifted outputs also give
    # the rows the free components hold (their summed responsibility).
    scores, free = 0.0, torch.zeros(len(base), feats.x.shape[1], dtype=feats.x.dtype)
    for rows, out in feats.chunks():
        params = module._split_params(out)
        for g in _gaussian_groups(module):
            cols = module._cols(g)
            resp = _responsibilities(module.heads[g], params[g], feats.x[rows][:, cols])[0]
            free[:, cols] += resp.sum(dim=(1, 3)).to(free)
        per_shift, unshifted = [], out[..., all_units]
        for shift in SCALE_SHIFTS.tolist():
            out[..., all_units] = unshifted + shift
            params = module._split_params(out)
            per_shift.append(module.member_log_prob_of(params, feats.x[rows]).sum(dim=1))
        scores = scores + torch.stack(per_shift)[:, :, columns]  # (shifts, K, c)
    best = SCALE_SHIFTS.to(base)[scores.argmax(dim=0)]  # (K, c)
    # The rows the shifted scales serve: the free components' share, or the atoms'.
    mass = free[:, columns] if slot_name == "scale_slots" else len(feats.x) - free[:, columns]
    best = torch.where(mass.to(best) < MIN_ROWS, 0.0, best)
    start = 0
    for c, j in enumerate(columns.tolist()):
        n_units = len(units_of[j])
        bias.data[:, 0, units_of[j]] = base[:, start : start + n_units] + best[:, c, None]
        start += n_units
    return units_of


@torch.no_grad()
def refit_output_layer(
    module: AutoregressiveModel,
    x_train: Tensor,
    x_val: Tensor,
    alpha: float,
    n_rounds: int,
    tol: float = 0.01,
    random_features: int | None = None,
) -> tuple[float, float]:
    """Refit the Gaussian conditionals' output layer in place (see the module docstring).

    Runs up to ``n_rounds`` rounds of the EM step on the means, the EM step on the
    read-out of ``random_features`` random features per position (default
    :data:`RANDOM_FEATURES`; attached on the first refit; :mod:`skarm.nn.features`), the
    EM step on the mixing logits and the two scale calibrations, each change kept per
    (member, column) only where the held-out rows ``x_val`` score better; stops when a
    round gains less than ``tol`` nats per row (a round costs a few seconds to minutes:
    the last one is not worth repeating), and undoes everything if the model's held-out
    score did not improve. Returns the model's held-out mean log-likelihood (internal
    units) before and after.
    """
    # On one torch thread the ridge solves' Gram matrices go through scipy's BLAS
    # (``_gram``): keep it to one thread too (a job of a parallel search, say).
    with threadpool_limits(torch.get_num_threads(), user_api="blas"):
        return _refit(module, x_train, x_val, alpha, n_rounds, tol, random_features)


def _refit(module, x_train, x_val, alpha, n_rounds, tol, random_features):
    """The body of :func:`refit_output_layer`."""
    was_training = module.training
    module.eval()
    net = module.net
    score_before, per_column = _held_out(module, x_val)
    # The training rows come shuffled (fit's split), so the first ones are a random subset.
    feats = _Features(module, x_train[:EM_ROWS])
    few = feats
    if len(x_train) > CALIBRATION_ROWS:
        few = _Features(module, x_train[:CALIBRATION_ROWS])
    if random_features is None:
        random_features = RANDOM_FEATURES
    attached = random_features > 0 and net.extra is None
    if attached:  # its read-out starts at zero: the model is unchanged
        net.attach_random_features(_mean_targets(module), feats.inputs, random_features)
    # The quadratic connections, likewise at zero, are solved with the means.
    quadratic = QUADRATIC_PAIRS > 0 and net.quadratic is None
    if quadratic:
        net.attach_quadratic(_mean_targets(module), _value_inputs(module), QUADRATIC_PAIRS)
    # After the attachments, so that undoing a change restores the quadratic weights too.
    layer = _OutputLayer(net)
    start = layer.copy()
    row_sets = list({id(f): f for f in (feats, few)}.values())
    for f in row_sets:
        f.refresh()
    block_start = None if net.extra is None else net.extra.weight.detach().clone()
    score = score_before
    for _ in range(n_rounds):
        saved = layer.copy()
        changed = _em_means(module, feats, alpha)
        per_column = _keep_better(module, per_column, x_val, _restore_units(layer, saved, changed))
        if net.extra is not None:
            saved, saved_block = layer.copy(), net.extra.weight.detach().clone()
            moved = _em_features(module, feats, alpha)
            undo = _restore_readout(net, layer, saved, saved_block, moved)
            per_column = _keep_better(module, per_column, x_val, undo)
            for f in row_sets:
                f.refresh()
        saved = layer.copy()
        changed = _em_logits(module, feats, alpha)
        per_column = _keep_better(module, per_column, x_val, _restore_units(layer, saved, changed))
        for slot_name in ("scale_slots", "atom_scale_slot"):
            saved = layer.copy()
            changed = _calibrate(module, few, slot_name)
            per_column = _keep_better(
                module, per_column, x_val, _restore_units(layer, saved, changed)
            )
        new_score = _held_out(module, x_val)[0]
        gain, score = new_score - score, new_score
        if not gain > tol:
            break
    if not score > score_before or not math.isfinite(score):
        layer.restore(start)
        if block_start is not None:
            net.extra.weight.data.copy_(block_start)
        score = score_before
    if attached and not bool(net.extra.weight.any()):
        net.random_features = None  # nothing kept: no cost at inference
    if quadratic and net.quadratic is not None and not bool(net.quadratic.linear.weight.any()):
        net.quadratic_connections = None
    module.train(was_training)
    return score_before, score
