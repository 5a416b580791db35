"""Sphinx configuration of skarm's documentation.

Build it with (from the repository root)::

    pip install -e ".[docs]"
    SKARM_QUICK=1 sphinx-build -W -b html docs docs/_build/html

``SKARM_QUICK=1`` makes every example of the gallery train for a few epochs only; without
it the gallery runs the examples in full (tens of minutes on a laptop CPU).
"""

import os
import re
import sys
import warnings
from pathlib import Path

from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

import skarm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

# -- Project -------------------------------------------------------------------------
project = "skarm"
author = "the skarm developers"
copyright = "the skarm developers"  # noqa: A001 (Sphinx's name)
release = skarm.__version__
version = release

# -- General -------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_ext", "_templates", "**.ipynb_checkpoints"]
default_role = "literal"

# -- MyST (the Markdown pages: user guide, benchmarks, scaling) -----------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # GitHub-style anchors, so links like user_guide.md#4-... work

# -- API reference: autosummary + numpydoc -------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Every public class, method and function must have a numpydoc docstring with its
# parameters (PR01, PR02), what it returns (RT01, RT03) and an example (EX01); the
# summary line must be well formed (SS01-SS06) and every section known (GL06, GL07).
# Left out on purpose: a "See Also" on every method (SA01), an extended summary
# (ES01) and the exact docstring layout (GL01, GL02).
numpydoc_validation_checks = {
    "GL06",
    "GL07",
    "GL08",
    "SS01",
    "SS02",
    "SS03",
    "SS04",
    "SS06",
    "PR01",
    "PR02",
    "PR03",
    "PR04",
    "PR06",
    "PR07",
    "PR08",
    "PR09",
    "PR10",
    "RT01",
    "RT03",
    "EX01",
}
# Methods scikit-learn's base classes and mixins give every estimator (documented by
# scikit-learn, shown here for completeness): not skarm's docstrings to check.
numpydoc_validation_exclude = {
    r"\.get_params$",
    r"\.set_params$",
    r"\.set_\w+_request$",
    r"\.get_metadata_routing$",
    r"\.fit_predict$",
}


def _skip_member(app, what, name, obj, skip, options):
    """Leave out of the API pages what is not skarm's interface.

    scikit-learn's metadata-routing plumbing (``set_*_request``, ``get_metadata_routing``)
    refers to scikit-learn's own glossary; and a method that an estimator hides with
    ``available_if`` (the detector has no ``partial_fit``) is not there to call.
    """
    if re.fullmatch(r"set_\w+_request|get_metadata_routing", name):
        return True
    owner_name, _, _ = getattr(obj, "__qualname__", "").rpartition(".")
    owner = getattr(sys.modules.get(getattr(obj, "__module__", ""), None), owner_name, None)
    if isinstance(owner, type) and issubclass(owner, BaseEstimator):
        if not hasattr(owner(), name):
            return True
    return None  # Sphinx's default


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)


# -- Gallery -------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py is executed
    "within_subsection_order": "skarm_gallery.ExampleOrder",
    "reset_argv": "skarm_gallery.reset_argv",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    # "Examples using ..." on each API page (included by _templates/autosummary).
    "doc_module": ("skarm",),
    "backreferences_dir": "generated",
}

# -- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skarm {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_static_path = []
html_show_sourcelink = True

# CI builds the gallery in quick mode (SKARM_QUICK=1), where every fit stops after a few
# epochs by design; scikit-learn's ConvergenceWarning would say so at each of them.
if os.environ.get("SKARM_QUICK") == "1":
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
