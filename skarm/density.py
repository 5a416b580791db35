"""AutoregressiveDensityEstimator: p(x) = prod_d p(x_d | x_<d) with neural conditionals."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import DensityMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from skarm._base import (
    TRAINING_CONSTRAINTS,
    TorchEstimatorMixin,
)
from skarm._density_fit import DensityTraining
from skarm._density_queries import DensityQueries

__all__ = ["AutoregressiveDensityEstimator"]


class AutoregressiveDensityEstimator(
    DensityQueries, DensityTraining, DensityMixin, TorchEstimatorMixin
):
    r"""Deep autoregressive density estimator trained by maximum likelihood.

    Models ``log p(x) = sum_d log p(x_d | x_<d)`` in a variable order, each conditional
    a distribution (categorical, Bernoulli or Gaussian) whose parameters a masked
    network computes from the preceding columns. Trained with Adam on mini-batches
    of the mean negative log-likelihood plus a MAP prior, with early stopping on
    held-out log-likelihood.

    Parameters
    ----------
    distribution : str or list of str, default="auto"
        Family of each column's conditional: "categorical", "bernoulli", "normal" (one
        Gaussian), "mixture" (``n_components`` Gaussians, as in MADE-MoG / RNADE), or
        "auto", which treats a column as categorical when all its training values are
        non-negative integers below 256, otherwise as continuous ("mixture"). A list
        gives one entry per column; each column is conditioned on all preceding
        columns, whatever their families.
    n_categories : "auto", int or array-like of int, default="auto"
        Support size of categorical columns: a column with ``K`` categories takes the
        values ``0, ..., K - 1``. "auto" gives all categorical columns the shared
        alphabet ``{0, ..., m}``, ``m`` being the largest value seen in any categorical
        column at fit (right for pixels and tokens). Values outside the support score
        ``-inf``.
    n_components : int, default=5
        Gaussians per conditional of "mixture" columns.
    categorical_encoding : {"ordinal", "onehot"}, default="ordinal"
        How a categorical code enters the network as input: its level scaled to
        ``[0, 1]`` ("ordinal", for ordered levels such as pixel intensities) or a one-hot
        vector ("onehot", for unordered levels). Outputs are always full categoricals.
    architecture : {"made", "linear", "pixelcnn", "conv", "transformer"}, default="made"
        "linear": a fully visible belief network, each conditional a softmax
        regression on the preceding columns. "made": a masked MLP (Germain et al.,
        2015) with direct input-to-output connections. "pixelcnn": a gated PixelCNN
        without blind spot (van den Oord et al., 2016) that reads each row as an image
        of shape ``image_shape`` in raster order (``order`` must be None); on images it
        is much stronger than "made" (digits: 78.6 against 87.9 nats per image).
        "conv": dilated causal 1-D convolutions over the variable order (WaveNet-style,
        gated residual blocks with dilations 1, 2, 4, ...) plus a direct linear path (a
        causal linear convolution over the receptive field, like MADE's direct
        connections, so that a linear autoregression shared across positions is a
        special case), for sequences and time-series windows. "transformer": a small
        causal transformer over the variables with learned positional embeddings. Both
        share weights across positions; neither takes ``order="ensemble"``. Every
        architecture samples with a cache (one network step per drawn variable, not a
        full pass); "made" and "linear" with ``order="ensemble"`` use full passes.
    hidden_layer_sizes : tuple of int or None, default=None
        Hidden widths: of the masked layers for "made" (None: ``(512,)``), of the gated
        convolutional layers (channels) for "pixelcnn" (None: ``(64,) * 6``), of the
        residual blocks for "conv" (None: ``(64,) * 6``, a receptive field of 65
        variables), the width of each block for "transformer" (one repeated value;
        None: ``(64,) * 3``). Ignored by "linear".
    image_shape : tuple of (int, int) or None, default=None
        ``(height, width)`` of the image each row holds, for "pixelcnn";
        ``height * width`` must equal the number of features. None reads a square image
        when the number of features is a square, otherwise one row of pixels (a causal
        1-D convolution over the columns).
    dropout : float or "auto", default="auto"
        Dropout on hidden units ("made"), gated activations ("pixelcnn", "conv") or the
        blocks' residual branches ("transformer") during training. "auto" uses 0.5 when
        ``fit`` gets fewer than 5,000 rows and 0.25 from 5,000 rows on (the first chunk's
        rows for ``partial_fit``): large tables need less regularisation, and train in
        fewer epochs with less (power-plant, 8,611 rows: −2.86 against −2.91 nats per row
        over 5 splits, in a fifth fewer epochs; digits, 1,350 rows, is better with 0.5).
        The rate used is ``dropout_``.
    ensemble_size : int, default=4
        Number of networks (same order unless ``order="ensemble"``, different
        initialisations and hidden-unit connectivities) trained side by side, each by
        maximum likelihood. The model is their mixture ``p(x) = (1/K) sum_k p_k(x)``:
        still normalised, with exact conditionals in a shared order, and better held-out
        likelihood on small data (digits: 87.8 nats per image against 88.1 for one
        network), for about ``K`` times the arithmetic (one batched pass). Use 1 for the
        fastest fit.
    order : None, "random", "auto", "ensemble" or array-like of int, default=None
        Variable order: None keeps the column order, "random" draws one from
        ``random_state``, an array gives the permutation (``order[p]`` is the column
        modelled at position ``p``). "auto" orders the columns by their number of
        distinct values in the rows passed to ``fit``, fewest first (ties in column order): the
        discrete and few-level columns become the context of the finely recorded ones,
        as a mixture's latent class is of its components. "ensemble" gives each of the
        ``ensemble_size`` members its own order (the first the column order, the others
        random): an order-agnostic ensemble whose score is the log of the members'
        average probability, still normalised. Such a mixture has no single chain of
        conditionals, so ``conditional_log_likelihood`` raises a ``ValueError``.
    dequantize : bool, default=False
        Model integer columns (those "auto" or ``distribution`` types as discrete) as
        continuous "mixture" columns of ``x + u``, ``u ~ U[0, 1)`` drawn afresh for every
        training batch (uniform dequantization). ``score_samples`` then returns
        ``E_u[log p(x + u)]`` (averaged over 16 fixed quasi-random draws of ``u``), a
        lower bound on the discrete log-likelihood ``log P(x) = log E_u[p(x + u)]``
        (Jensen), and ``sample`` returns ``floor(x + u)``: integers again.
    atoms : "auto" or None, default="auto"
        "auto" finds the atoms of each "mixture" column, the values it takes repeatedly,
        and adds to its conditional narrow Gaussians centred on them, sharing one learned
        width: tabular columns are often discrete-valued, zero-inflated or recorded at a
        few hundred settings, and a mixture density can then put a peak on each value
        without having to learn where it is. Values held by at least 1 % of the training
        rows (and 5 rows; the 32 most frequent) get one logit each; the other values held
        by at least 5 rows (the 128 most frequent) form a pool that shares one logit, in
        proportion to their counts times a Gaussian window set in context. None uses the
        free components only.
    alpha : float, default=5.0
        Prior strength on the weights (not biases). The objective is
        ``-(1/n) [sum_i log p(x_i) + log p(theta)]`` with
        ``log p(theta) = -alpha ((1 - l1_ratio) ||W||^2 / 2 + l1_ratio ||W||_1)``.
    l1_ratio : float, default=0.0
        Mix between a Gaussian (0, precision ``alpha``) and a Laplace (1, scale
        ``1 / alpha``) prior.
    batch_size : int, default=128
        Rows per mini-batch.
    learning_rate_init : float, default=5e-3
        Adam's step size.
    learning_rate : {"constant", "adaptive"}, default="adaptive"
        Step-size schedule. "constant" keeps ``learning_rate_init``; "adaptive" halves the
        step size each time ``n_iter_no_change // 4`` epochs pass without an improvement of
        ``tol`` (of the held-out score with early stopping, else of the training loss):
        it reaches in fewer epochs the optimum a constant step size creeps towards.
    max_iter : int, default=500
        Maximum number of epochs.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training rows, stop when their mean
        log-likelihood stops improving and restore the best weights.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    n_iter_no_change : int, default=20
        Epochs without an improvement of ``tol`` before stopping.
    tol : float, default=1e-4
        Minimal improvement (nats per row) that resets the patience.
    max_grad_norm : float or None, default=10.0
        Clip the gradient's global norm to this value; None disables clipping.
    eval_batch_size : int, default=2048
        Rows per batch when scoring, predicting or sampling after the fit: bounds the
        memory those calls take whatever the number of rows. Scores do not depend on it
        (float64 on CPU); the rows ``sample`` draws for a given ``random_state`` do.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where to train and evaluate; "auto" picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split, the random order, initialisation, shuffling and
        dropout. Results repeat exactly on CPU for a fixed value.
    verbose : int, default=0
        Show a progress bar with the training loss and validation log-likelihood.
    warm_start : bool, default=False
        Continue training the fitted model on the next call to ``fit``.
    trainable_layers : {"all", "output"}, default="all"
        What continued training (``fit`` with ``warm_start=True`` on a fitted model, and
        ``partial_fit`` after the first call) updates: every weight, or only the output
        layers and the heads, the lower layers frozen: fine-tuning a fitted model on new
        data (transfer learning), which keeps the features it learned and, with few new
        rows, overfits less than training everything. The output layers are MADE's
        output and direct connections (all of "linear"), the 1x1 head of "pixelcnn" and
        "conv", the final norm and read-out of "transformer". Adam restarts for the
        trainable weights; the prior applies to them. A fresh fit trains all layers.
    subsample_dimensions : float in (0, 1] or None, default=None
        Estimate each training step's log-likelihood from a random subset ``S`` of
        ``ceil(subsample_dimensions * n_features)`` columns (drawn afresh each step),
        scaled by ``n_features / |S|``: an unbiased estimate of the log-likelihood and
        of its gradient (the dimension-subsampled objective, for very high
        ``n_features``). Only the heads of ``S`` are evaluated, and "made" computes only
        their output units, the bulk of its work when the columns have many categories;
        the other networks still run in full. The price is noisier gradients: on digits
        (D = 64, and upsampled to D = 784) steps were 1.3 to 3.9 times cheaper, but the
        full objective still reached a better held-out likelihood in the same time; use
        it when a full step is out of reach. Early stopping scores every column. None
        uses all columns.
    refit_rounds : int, default=10
        Rounds of a closed-form refit of the continuous columns' output layer after
        training (user guide, "Refitting the output layer"): with the hidden features
        fixed, one EM step solves the means of every Gaussian component exactly (a
        weighted ridge regression, the same MAP objective), a second one solves the
        read-out of 512 fixed random ReLU features of all the earlier columns per
        column (attached by the first refit; ``skarm.nn.features``), a third the
        mixing logits of the free components, atoms and pool (a multinomial logistic
        regression of the rows' posteriors, by L-BFGS), then the components' and the
        atoms' scales are recalibrated; each change is kept only
        for the conditionals whose held-out rows score better, and the refit is undone
        if the model's held-out score does not improve. Rounds stop once one gains less
        than 0.01 nats per held-out row (small tables after 3 to 9, power-plant after 2);
        naval's finely fitted columns use all 10 (split 3: test 71.5 after 3 rounds,
        74.3 after 10). Stochastic gradients leave the means about a
        step size away from their optimum; on the UCI tables the refit gained 0.05 to 4.1
        nats per row (mean of 5 splits; naval 63.5 → 67.1) for a fraction of the
        training time (power-plant: 8 s against 24 s; naval's 10 rounds: about 40 % of
        it). It needs early
        stopping's held-out rows and applies to "made" and "linear" with
        ``distribution`` "normal" or "mixture" columns, ``l1_ratio=0`` and no
        dequantization; 0 turns it off.

    Attributes
    ----------
    module_ : skarm.nn.AutoregressiveModel
        The fitted torch model (internal units).
    coder_ : skarm._data.ColumnCoder
        Column families, supports and scalings learned at fit.
    distributions_ : list of str
        The family chosen for each column.
    order_ : ndarray of int, shape (n_features,) or (ensemble_size, n_features)
        The variable order used (one row per member with ``order="ensemble"``).
    dropout_ : float
        The dropout rate of the network (``dropout`` with "auto" resolved at the first fit).
    device_ : torch.device
        The device the model lives on.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training objective per epoch, in nats per row (user units).
    validation_scores_ : list of float or None
        Held-out mean log-likelihood per epoch (None without early stopping).
    best_validation_score_ : float or None
        Held-out score of the fitted model: the best epoch's, whose weights were
        restored, or higher after the output refit (``refit_rounds``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : a mixture density with a closed-form EM fit.
    sklearn.neighbors.KernelDensity : a non-parametric density.

    Notes
    -----
    ``score_samples`` is in nats, in the units of the data passed: discrete columns
    contribute log-probabilities, continuous ones log-densities including the
    log-Jacobian of the internal standardisation, so ``score`` compares directly with
    ``GaussianMixture.score``.

    Examples
    --------
    >>> import numpy as np
    >>> from skarm import AutoregressiveDensityEstimator
    >>> X = np.random.RandomState(0).randint(0, 3, size=(200, 4))
    >>> est = AutoregressiveDensityEstimator(max_iter=5, random_state=0).fit(X)
    >>> est.score_samples(X[:2]).shape
    (2,)
    >>> est.sample(3, random_state=0).shape
    (3, 4)
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        "distribution": [
            StrOptions({"auto", "categorical", "bernoulli", "normal", "mixture"}),
            list,
            tuple,
        ],
        "n_categories": [
            StrOptions({"auto"}),
            Interval(Integral, 2, None, closed="left"),
            "array-like",
        ],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "categorical_encoding": [StrOptions({"ordinal", "onehot"})],
        "architecture": [StrOptions({"made", "linear", "pixelcnn", "conv", "transformer"})],
        "hidden_layer_sizes": [tuple, list, None],
        "image_shape": [tuple, list, None],
        "dropout": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "dequantize": ["boolean"],
        "atoms": [StrOptions({"auto"}), None],
        "order": [None, StrOptions({"random", "ensemble", "auto"}), "array-like"],
        "trainable_layers": [StrOptions({"all", "output"})],
        "subsample_dimensions": [Interval(Real, 0, 1, closed="right"), None],
        "refit_rounds": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        distribution="auto",
        n_categories="auto",
        n_components=5,
        categorical_encoding="ordinal",
        architecture="made",
        hidden_layer_sizes=None,
        image_shape=None,
        dropout="auto",
        ensemble_size=4,
        order=None,
        dequantize=False,
        atoms="auto",
        alpha=5.0,
        l1_ratio=0.0,
        batch_size=128,
        learning_rate_init=5e-3,
        learning_rate="adaptive",
        max_iter=500,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=1e-4,
        max_grad_norm=10.0,
        eval_batch_size=2048,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        trainable_layers="all",
        subsample_dimensions=None,
        refit_rounds=10,
    ):
        self.distribution = distribution
        self.n_categories = n_categories
        self.n_components = n_components
        self.categorical_encoding = categorical_encoding
        self.architecture = architecture
        self.hidden_layer_sizes = hidden_layer_sizes
        self.image_shape = image_shape
        self.dropout = dropout
        self.ensemble_size = ensemble_size
        self.order = order
        self.dequantize = dequantize
        self.atoms = atoms
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.max_grad_norm = max_grad_norm
        self.eval_batch_size = eval_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.trainable_layers = trainable_layers
        self.subsample_dimensions = subsample_dimensions
        self.refit_rounds = refit_rounds

    # ------------------------------------------------------------------ fitting
    def _validate(self, X, reset: bool) -> np.ndarray:
        return validate_data(self, X, dtype=np.float64, reset=reset, ensure_min_samples=1)

    #: Noise draws averaged by ``score_samples`` for dequantized columns.
    _n_dequantization_points = 16

    def _to_tensor(self, Z: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(Z, dtype=self._inference_dtype(self.device_), device=self.device_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to ``X`` by maximum likelihood (MAP with the prior).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; discrete columns hold integer codes.
        y : None
            Ignored, present for API consistency.

        Returns
        -------
        self : AutoregressiveDensityEstimator
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveDensityEstimator
        >>> X = np.random.RandomState(0).randint(0, 3, size=(100, 4))  # 4 columns of codes 0..2
        >>> est = AutoregressiveDensityEstimator(max_iter=3, random_state=0)
        >>> est.fit(X)
        AutoregressiveDensityEstimator(max_iter=3, random_state=0)
        >>> est.distributions_
        ['categorical', 'categorical', 'categorical', 'categorical']
        >>> est.n_iter_, len(est.loss_curve_)
        (3, 3)
        """
        with self._restore_on_failure():
            return self._fit(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Run one epoch of training on ``X``, creating the model on the first call.

        No data are held out and early stopping does not apply. The first call fixes the
        column families and supports: pass ``n_categories`` if later chunks may hold
        larger codes. The prior is weighed against the rows of each call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored.

        Returns
        -------
        self : AutoregressiveDensityEstimator
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skarm import AutoregressiveDensityEstimator
        >>> X = np.random.RandomState(0).randint(0, 3, size=(300, 4))
        >>> est = AutoregressiveDensityEstimator(n_categories=3, random_state=0)
        >>> for chunk in np.array_split(X, 3):  # e.g. chunks read from disk
        ...     est = est.partial_fit(chunk)
        >>> est.n_iter_  # one epoch per call
        3
        """
        with self._restore_on_failure():
            return self._partial_fit(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
