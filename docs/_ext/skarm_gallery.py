"""Helpers for the sphinx-gallery configuration in ``docs/conf.py``.

They live in a module, not in ``conf.py``, so that sphinx-gallery can refer to them by
name (``"skarm_gallery.reset_argv"``) and Sphinx can cache its configuration.
"""

import os
import tempfile

#: The gallery's order: the main demo first, then density, regression, anomalies.
ORDER = [
    "plot_digits_density.py",
    "plot_model_selection.py",
    "plot_two_moons_density.py",
    "plot_forecasting.py",
    "plot_out_of_core.py",
    "plot_heteroscedastic_regression.py",
    "plot_bimodal_regression.py",
    "plot_digits_anomalies.py",
]


def reset_argv(gallery_conf, script_vars):
    """Command-line arguments of an example run by the gallery.

    Every example also writes its figure to the PNG named by ``--output`` (for runs on
    their own); in the gallery that file goes to a temporary folder, not to ``examples/``.
    """
    folder = os.path.join(tempfile.gettempdir(), "skarm_gallery")
    os.makedirs(folder, exist_ok=True)
    name = os.path.splitext(os.path.basename(script_vars["src_file"]))[0]
    return ["--output", os.path.join(folder, name + ".png")]


class ExampleOrder:
    """Sort key of the examples: the position in ``ORDER``, then the file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "ExampleOrder"

    def __call__(self, filename):
        name = os.path.basename(filename)
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)
