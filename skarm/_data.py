"""Column typing and encoding: from the user's array to the model's internal units.

Everything that depends on what a column *is* lives here: which family models it
("auto" typing), its support (number of categories), and the affine map of
continuous columns to standardised units together with its log-Jacobian. Estimators
call :class:`ColumnCoder`; torch code only ever sees internal units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skarm.heads import OUT_OF_SUPPORT

__all__ = [
    "ColumnCoder",
    "DISCRETE",
    "CONTINUOUS",
    "AUTO_CONTINUOUS",
    "MAX_AUTO_CATEGORIES",
    "find_atoms",
    "find_pool",
    "TargetCoder",
    "TARGET_FAMILIES",
]

DISCRETE = ("categorical", "bernoulli")
CONTINUOUS = ("normal", "mixture")
#: The family "auto" gives a continuous column.
AUTO_CONTINUOUS = "mixture"
#: "auto" treats an integer column as categorical only up to this many levels.
MAX_AUTO_CATEGORIES = 256
#: A continuous column's value is an atom when it holds at least this share of the
#: training rows (and at least ``MIN_ATOM_COUNT`` of them); at most ``MAX_ATOMS`` per column.
MIN_ATOM_SHARE = 0.01
MIN_ATOM_COUNT = 5
MAX_ATOMS = 32
#: The other values held by at least ``MIN_ATOM_COUNT`` rows form the column's pool of
#: minor atoms (at most ``MAX_POOL``, the most frequent).
MAX_POOL = 128


def find_atoms(col: np.ndarray) -> np.ndarray:
    """Values that ``col`` takes repeatedly: at least 1 % of the rows (and 5 rows), the
    ``MAX_ATOMS`` most frequent, sorted. Empty for a column without ties."""
    values, counts = np.unique(col, return_counts=True)
    frequent = counts >= max(MIN_ATOM_COUNT, MIN_ATOM_SHARE * len(col))
    values, counts = values[frequent], counts[frequent]
    keep = np.argsort(-counts, kind="stable")[:MAX_ATOMS]
    return np.sort(values[keep])


def find_pool(col: np.ndarray, atoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minor atoms of ``col``: values held by at least ``MIN_ATOM_COUNT`` rows that are
    not among ``atoms``, the ``MAX_POOL`` most frequent, sorted; with their counts."""
    values, counts = np.unique(col, return_counts=True)
    minor = (counts >= MIN_ATOM_COUNT) & ~np.isin(values, atoms)
    values, counts = values[minor], counts[minor]
    keep = np.sort(np.argsort(-counts, kind="stable")[:MAX_POOL])
    return values[keep], counts[keep]


def group_by_kind(kinds: list[str]) -> list[tuple[str, list[int]]]:
    """Indices of ``kinds`` grouped by family, in first-appearance order (one head each)."""
    out: dict[str, list[int]] = {}
    for j, kind in enumerate(kinds):
        out.setdefault(kind, []).append(j)
    return list(out.items())


def _is_integer_valued(col: np.ndarray) -> bool:
    return bool(np.all(col >= 0) and np.all(col == np.floor(col)))


@dataclass
class ColumnCoder:
    """Fitted description of the columns, and the map to internal units.

    Attributes
    ----------
    kinds : list of str
        Family of each column: "categorical", "bernoulli", "normal" or "mixture".
    n_categories : ndarray of int
        Support size of each discrete column (0 for continuous ones).
    loc, scale : ndarray of float
        Affine standardisation of continuous columns (0 and 1 for discrete ones).
    dequantized : ndarray of bool
        Integer columns modelled as continuous values ``x + u``, ``u ~ U[0, 1)``.
    atoms : list of ndarray
        Atoms of each "mixture" column (values it takes repeatedly), in user units.
    pool : list of (ndarray, ndarray)
        Minor atoms of each "mixture" column (user units) and their training counts.
    """

    kinds: list[str]
    n_categories: np.ndarray
    loc: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    dequantized: np.ndarray = field(repr=False, default=None)
    atoms: list = field(repr=False, default=None)
    pool: list = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if self.dequantized is None:
            self.dequantized = np.zeros(len(self.kinds), dtype=bool)
        if self.atoms is None:
            self.atoms = [np.empty(0) for _ in self.kinds]
        if self.pool is None:
            self.pool = [(np.empty(0), np.empty(0)) for _ in self.kinds]

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        distribution,
        n_categories="auto",
        dequantize: bool = False,
        atoms: bool = False,
        atom_rows=None,
    ) -> ColumnCoder:
        """Type the columns of ``X`` and learn their supports and scales.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated, finite training data.
        distribution : str or sequence of str
            "auto", a family name, or one family name per column.
        n_categories : "auto", int or sequence of int
            Support size of categorical columns. "auto" gives every categorical column
            the shared alphabet ``{0, ..., m}`` with ``m`` the largest value seen in any
            categorical column, so that pixels or tokens share one alphabet.
        dequantize : bool, default=False
            Model the columns typed discrete as continuous ("mixture") values ``x + u``
            with ``u ~ U[0, 1)`` (uniform dequantization).
        atoms : bool, default=False
            Find the atoms (repeated values, :func:`find_atoms` and :func:`find_pool`) of
            the "mixture" columns that are not dequantized.
        atom_rows : array-like of int, optional
            The rows the atoms are found on (the training rows, without those held out
            for early stopping); None for all.
        """
        n_features = X.shape[1]
        if isinstance(distribution, str):
            kinds = [distribution] * n_features
        else:
            kinds = list(distribution)
            if len(kinds) != n_features:
                raise ValueError(
                    f"distribution has {len(kinds)} entries but X has {n_features} features."
                )
        known = {"auto", *DISCRETE, *CONTINUOUS}
        for kind in kinds:
            if kind not in known:
                raise ValueError(f"Unknown distribution {kind!r}; expected one of {sorted(known)}.")
        for j, kind in enumerate(kinds):
            if kind == "auto":
                col = X[:, j]
                integer = _is_integer_valued(col)
                kinds[j] = (
                    "categorical"
                    if integer and col.max() < MAX_AUTO_CATEGORIES
                    else AUTO_CONTINUOUS
                )
            elif kind in DISCRETE and not _is_integer_valued(X[:, j]):
                raise ValueError(
                    f"Column {j} is modelled as {kind} but holds negative or non-integer "
                    "values; discrete columns must hold integer codes 0, 1, 2, ..."
                )
            if kinds[j] == "bernoulli" and X[:, j].max() > 1:
                raise ValueError(f"Column {j} is modelled as bernoulli but holds values above 1.")
        dequantized = np.array([dequantize and k in DISCRETE for k in kinds], dtype=bool)
        for j in np.flatnonzero(dequantized):
            kinds[j] = AUTO_CONTINUOUS
        is_cat = np.array([k == "categorical" for k in kinds])
        counts = np.zeros(n_features, dtype=np.int64)
        counts[[k == "bernoulli" for k in kinds]] = 2
        if is_cat.any():
            observed = X[:, is_cat].max(axis=0).astype(np.int64) + 1
            if isinstance(n_categories, str):
                counts[is_cat] = max(int(observed.max()), 2)
            else:
                given = np.broadcast_to(np.asarray(n_categories, dtype=np.int64), (n_features,))
                counts[is_cat] = given[is_cat]
                too_many = observed > counts[is_cat]
                if too_many.any():
                    j = int(np.flatnonzero(is_cat)[np.argmax(too_many)])
                    raise ValueError(
                        f"Column {j} holds the value {int(X[:, j].max())}, outside the "
                        f"{int(counts[j])} categories given by n_categories."
                    )
        loc = np.zeros(n_features)
        scale = np.ones(n_features)
        cont = np.array([k in CONTINUOUS for k in kinds])
        if cont.any():
            # A dequantized column holds x + u: its mean is shifted by 1/2, its variance
            # grows by 1/12 (the uniform's), so it is never constant.
            loc[cont] = X[:, cont].mean(axis=0) + 0.5 * dequantized[cont]
            std = np.sqrt(X[:, cont].var(axis=0) + dequantized[cont] / 12.0)
            if np.any(std == 0):
                j = int(np.flatnonzero(cont)[np.argmax(std == 0)])
                raise ValueError(
                    f"Column {j} is continuous but constant, so it has no density. Drop it "
                    "or model it as a discrete column."
                )
            scale[cont] = std
        with_atoms = [
            atoms and k == "mixture" and not d for k, d in zip(kinds, dequantized, strict=True)
        ]
        A = X if atom_rows is None else X[np.asarray(atom_rows)]
        found = [find_atoms(A[:, j]) if a else np.empty(0) for j, a in enumerate(with_atoms)]
        pool = [
            find_pool(A[:, j], found[j]) if a else (np.empty(0), np.empty(0))
            for j, a in enumerate(with_atoms)
        ]
        return cls(kinds, counts, loc, scale, dequantized, found, pool)

    def internal_atoms(self, columns) -> list[np.ndarray]:
        """Atoms of ``columns`` in internal (standardised) units."""
        return [(self.atoms[j] - self.loc[j]) / self.scale[j] for j in columns]

    def internal_pool(self, columns) -> list[tuple[np.ndarray, np.ndarray]]:
        """Pooled minor atoms of ``columns`` (internal units) with their training counts."""
        return [((self.pool[j][0] - self.loc[j]) / self.scale[j], self.pool[j][1]) for j in columns]

    @property
    def n_features(self) -> int:
        return len(self.kinds)

    @property
    def continuous(self) -> np.ndarray:
        """Boolean mask of the continuous columns."""
        return np.array([k in CONTINUOUS for k in self.kinds])

    @property
    def log_jacobian(self) -> float:
        """``log |d z / d x|`` of the standardisation, added to every row's log-density."""
        return float(-np.log(self.scale[self.continuous]).sum())

    def groups(self) -> list[tuple[str, list[int]]]:
        """Columns grouped by family, in first-appearance order."""
        return group_by_kind(self.kinds)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map validated ``X`` to internal units (float32).

        Discrete values outside the fitted support become ``OUT_OF_SUPPORT``
        (they will score ``-inf``); continuous columns are standardised.
        """
        Z = np.asarray((X - self.loc) / self.scale, dtype=np.float32)
        disc = ~self.continuous
        if disc.any():
            D = X[:, disc]
            bad = (D < 0) | (D >= self.n_categories[disc]) | (D != np.floor(D))
            if bad.any():
                Zd = Z[:, disc]
                Zd[bad] = OUT_OF_SUPPORT
                Z[:, disc] = Zd
        return Z

    @property
    def noise_scale(self) -> np.ndarray:
        """Width of the dequantization noise in internal units (0 for other columns):
        the model sees ``transform(x) + u * noise_scale``, ``u ~ U[0, 1)``."""
        return np.where(self.dequantized, 1.0 / self.scale, 0.0)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Map internal units back to the user's units (float64); dequantized columns
        return to integers (``floor``, the inverse of adding ``u ~ U[0, 1)``)."""
        X = np.asarray(Z, dtype=np.float64) * self.scale + self.loc
        if self.dequantized.any():
            X[:, self.dequantized] = np.floor(X[:, self.dequantized])
        return X


def _check_target_support(kind: str, y: np.ndarray, where: str) -> None:
    """Counts for "poisson", positive values for "lognormal"; a clear error otherwise."""
    if kind == "poisson" and (np.any(y < 0) or np.any(y != np.floor(y))):
        bad = y[(y < 0) | (y != np.floor(y))][0]
        raise ValueError(
            f"distribution='poisson' needs counts (non-negative integers); {where} holds {bad!r}."
        )
    if kind == "lognormal" and np.any(y <= 0):
        raise ValueError(
            f"distribution='lognormal' needs positive values; {where} holds {y[y <= 0][0]!r}."
        )


#: Output families of :class:`skarm.ConditionalNLLRegressor`.
TARGET_FAMILIES = ("normal", "laplace", "student_t", "lognormal", "poisson", "mixture")


@dataclass
class TargetCoder:
    """Fitted families and scalings of a regressor's outputs ``y`` (one column each).

    Real-valued families are standardised (``(y - mean) / std``); "lognormal" is only
    divided by the geometric mean, so values stay positive; "poisson" counts are left as
    they are (a pmf has no Jacobian). ``log_jacobian`` is the log-determinant of the map.

    Attributes
    ----------
    kinds : list of str
        Family of each output.
    loc, scale : ndarray of float
        The affine map ``z = (y - loc) / scale`` of each output.
    log_rate : ndarray of float
        Log of the training mean of each "poisson" output (0 for the others).
    """

    kinds: list[str]
    loc: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    log_rate: np.ndarray = field(repr=False)

    @classmethod
    def fit(cls, Y: np.ndarray, distribution) -> TargetCoder:
        """Check that each column of ``Y`` (n, K) fits its family; learn its scaling."""
        n_outputs = Y.shape[1]
        kinds = [distribution] * n_outputs if isinstance(distribution, str) else list(distribution)
        if len(kinds) != n_outputs:
            raise ValueError(
                f"distribution has {len(kinds)} entries but y has {n_outputs} outputs."
            )
        loc, scale, log_rate = np.zeros(n_outputs), np.ones(n_outputs), np.zeros(n_outputs)
        for k, kind in enumerate(kinds):
            y = Y[:, k]
            where = f"y[:, {k}]" if n_outputs > 1 else "y"
            if kind not in TARGET_FAMILIES:
                raise ValueError(
                    f"Unknown distribution {kind!r}; expected one of {list(TARGET_FAMILIES)}."
                )
            _check_target_support(kind, y, where)
            if kind == "poisson":
                log_rate[k] = np.log(max(y.mean(), 1e-3))
            elif kind == "lognormal":
                scale[k] = np.exp(np.log(y).mean())
            else:
                std = y.std()
                if std == 0:
                    raise ValueError(
                        f"{where} is constant, so it has no {kind} density; a probabilistic "
                        "regressor needs a target that varies."
                    )
                loc[k], scale[k] = y.mean(), std
        return cls(kinds, loc, scale, log_rate)

    def check(self, Y: np.ndarray) -> None:
        """Raise a ``ValueError`` if a column of ``Y`` leaves its family's support."""
        for k, kind in enumerate(self.kinds):
            _check_target_support(kind, Y[:, k], f"y[:, {k}]" if self.n_outputs > 1 else "y")

    @property
    def n_outputs(self) -> int:
        return len(self.kinds)

    @property
    def log_jacobian(self) -> float:
        """``log |dz/dy|``, added to every row's log-likelihood (0 for counts)."""
        real = np.array([k != "poisson" for k in self.kinds])
        return float(-np.log(self.scale[real]).sum())

    def groups(self) -> list[tuple[str, list[int]]]:
        """Outputs grouped by family, in first-appearance order."""
        return group_by_kind(self.kinds)

    def transform(self, Y: np.ndarray) -> np.ndarray:
        """Internal units (float64; values outside a family's support stay outside)."""
        return (Y - self.loc) / self.scale

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Back to the user's units."""
        return np.asarray(Z, dtype=np.float64) * self.scale + self.loc
