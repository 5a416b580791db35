"""scikit-learn's estimator checks on every skarm estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skarm import AutoregressiveDensityEstimator

# Small, fast configurations: the checks are about the API contract, not model quality.
# Nothing is skipped by us. pytest reports one skip per configuration, from scikit-learn
# itself: its array-API check runs only when SCIPY_ARRAY_API is set, and skarm takes NumPy
# input (it converts to torch tensors itself), so it does not apply.
ESTIMATORS = [
    AutoregressiveDensityEstimator(max_iter=3, hidden_layer_sizes=(16,), random_state=0),
    AutoregressiveDensityEstimator(architecture="linear", max_iter=3, random_state=0),
    AutoregressiveDensityEstimator(
        ensemble_size=1,
        categorical_encoding="onehot",
        order="random",
        max_iter=3,
        hidden_layer_sizes=(16,),
        random_state=0,
    ),
    AutoregressiveDensityEstimator(
        architecture="pixelcnn", hidden_layer_sizes=(8, 8), max_iter=3, random_state=0
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
