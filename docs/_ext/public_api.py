"""``.. public-api:: module``: a module's reference, generated from the package itself.

The members documented are the module's ``__all__``, each at exactly one place (its *home*), so
a name re-exported elsewhere is never described twice and every cross-reference has one target:

1. an exception defined in :mod:`qiskit_rest_provider.errors` lives there;
2. else a name the package root exports (``from qiskit_rest_provider import X``) lives at the
   root, as users import it;
3. else the module that defines it, if that module is documented;
4. else the shortest documented module that exports it (a package that re-exports its
   submodules' names).

Classes are documented with their public members; functions and data by themselves. The list
of documented modules is the set of ``public-api`` directives in the sources (collected before
reading, so homes do not depend on the order of the pages).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

ROOT = "qiskit_rest_provider"
ERRORS = f"{ROOT}.errors"
_DIRECTIVE = re.compile(r"^\.\. public-api:: (\S+)\s*$", re.MULTILINE)


def _documented(srcdir: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(srcdir.rglob("*.md")):
        if "_build" in path.parts or "jupyter_execute" in path.parts:
            continue
        found.extend(_DIRECTIVE.findall(path.read_text(encoding="utf-8")))
    return found


def _exports(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        raise ValueError(f"{module.__name__} has no __all__: its public names are not declared")
    return list(names)


def home(name: str, obj: Any, documented: list[str]) -> str | None:
    """The documented module whose page describes ``obj`` (``None``: no documented home)."""
    defined_in = getattr(obj, "__module__", None) if hasattr(obj, "__qualname__") else None
    if defined_in is None:  # data: documented where it is listed
        return None
    if defined_in == ERRORS:
        return ERRORS
    root = importlib.import_module(ROOT)
    if ROOT in documented and name in _exports(root) and getattr(root, name) is obj:
        return ROOT
    if defined_in in documented:
        return defined_in
    listers = [
        candidate
        for candidate in documented
        if name in _exports(importlib.import_module(candidate))
        and getattr(importlib.import_module(candidate), name) is obj
    ]
    return min(listers, key=len) if listers else None


class PublicApi(SphinxDirective):
    """Document a module's docstring and the members of its ``__all__`` that live there."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        documented: list[str] = self.env.app.config.public_api_modules
        lines = [f".. automodule:: {module_name}", ""]
        for name in _exports(module):
            obj = getattr(module, name)
            where = home(name, obj, documented)
            if where is not None and where != module_name:
                continue
            full = f"{module_name}.{name}"
            if isinstance(obj, type) and issubclass(obj, BaseException):
                lines += [f".. autoexception:: {full}", "   :members:", "   :show-inheritance:"]
            elif isinstance(obj, type):
                lines += [f".. autoclass:: {full}", "   :members:", "   :show-inheritance:"]
            elif callable(obj) and hasattr(obj, "__qualname__"):
                lines += [f".. autofunction:: {full}"]
            else:
                lines += [f".. autodata:: {full}", "   :no-value:"]
            lines.append("")
        return self.parse_text_to_nodes("\n".join(lines))


def _collect(app: Sphinx) -> None:
    app.config.public_api_modules = _documented(Path(app.srcdir))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive and collect the documented modules before reading."""
    app.add_config_value("public_api_modules", [], "env")
    app.connect("builder-inited", _collect)
    app.add_directive("public-api", PublicApi)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
