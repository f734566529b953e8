"""Sphinx configuration for the qiskit-rest-provider documentation."""

from __future__ import annotations

import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path

project = "qiskit-rest-provider"
author = "qiskit-rest-provider developers"
copyright = "2026, qiskit-rest-provider developers"
release = importlib.metadata.version("qiskit-rest-provider")
version = release

DOCS = Path(__file__).resolve().parent


def _sync_tutorials(source: Path, target: Path) -> None:
    """Mirror the tutorial notebooks (``tutorials/*.ipynb``) into the documentation sources.

    Sphinx reads only files under the source directory, and the notebooks live at the top of the
    repository, where the tutorial tests execute them. The copies are git-ignored (so linters
    do not see them twice); a copy is rewritten only when its content changed, so incremental
    builds stay incremental, and atomically, so concurrent builds never read a torn file.
    """
    target.mkdir(exist_ok=True)
    wanted = {path.name: path for path in source.glob("*.ipynb")}
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink(missing_ok=True)
    for name, path in wanted.items():
        data = path.read_bytes()
        copy = target / name
        if copy.exists() and copy.read_bytes() == data:
            continue
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".sync-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, copy)


_sync_tutorials(DOCS.parent / "tutorials", DOCS / "tutorials")
sys.path.insert(0, str(DOCS / "_ext"))

import qiskit  # noqa: E402  (for the inventory below)
import qiskit_inventory  # noqa: E402

# Links to Qiskit's API reference, from an inventory written from the installed Qiskit (the
# build runs offline; see _ext/qiskit_inventory.py). Written under _build, never committed.
_QISKIT_INVENTORY = qiskit_inventory.write(
    DOCS / "_build" / "inventories" / "qiskit.inv", qiskit.__version__
)
intersphinx_mapping = {"qiskit": (qiskit_inventory.QISKIT_DOCS, str(_QISKIT_INVENTORY))}

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    # ``.. public-api:: module``: the API reference generated from each module's __all__.
    "public_api",
    # myst-nb brings myst-parser with it and renders the tutorial notebooks.
    "myst_nb",
    # The theme's own extension must be listed: it is what links furo's base stylesheet
    # (styles/furo.css). Selecting the theme by name alone loads it too late for that, and every
    # page then renders unstyled although the build passes.
    "qiskit_sphinx_theme",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**/.ipynb_checkpoints"]
myst_heading_anchors = 3

# The notebooks are committed with their outputs, and tests/test_tutorials.py executes them;
# the documentation renders the committed outputs as they are.
nb_execution_mode = "off"

html_theme = "qiskit-ecosystem"
html_title = f"{project} {release}"
templates_path = ["_templates"]
html_static_path = ["_static"]
# IBM Plex served locally (see _static/ibm-plex.css): the site must work offline.
html_css_files = ["ibm-plex.css"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
# Members are chosen by the public-api directive (docs/_ext/public_api.py), from __all__.
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Inherited Qiskit docstrings use Qiskit's own roles and references.
autodoc_inherit_docstrings = False
suppress_warnings = ["myst.header"]
