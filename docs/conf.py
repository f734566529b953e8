"""Sphinx configuration for the qiskit-rest-provider documentation."""

from __future__ import annotations

import importlib.metadata

project = "qiskit-rest-provider"
author = "qiskit-rest-provider developers"
copyright = "2026, qiskit-rest-provider developers"
release = importlib.metadata.version("qiskit-rest-provider")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

html_theme = "qiskit-ecosystem"
html_title = f"{project} {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Inherited Qiskit docstrings use Qiskit's own roles and references.
autodoc_inherit_docstrings = False
suppress_warnings = ["myst.header"]
