"""Deprecated import paths: modules that moved when the package took its layered layout.

``import qiskit_rest_provider.codec.results`` (and every other path in :data:`MOVED`) keeps
working for one release: an import hook finds the module at its new place, returns that very
module object (so classes, caches and monkeypatches are shared) and warns with a
``DeprecationWarning`` that names the new path. The hook is installed by the package root and
answers only for the names below.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED", "install", "new_name"]

_ROOT = "qiskit_rest_provider"

#: Old module (relative to the package) -> its new place. Submodules follow their package.
MOVED: dict[str, str] = {
    "exceptions": "errors",
    "codec": "core.codec",
    "configuration": "core.configuration",
    "properties": "core.properties",
    "target": "core.target",
    "rzz": "core.rzz",
    "isa": "core.isa",
    "execution_span": "core.execution_span",
    "provider": "client.provider",
    "backend": "client.backend",
    "backend_run": "client.backend_run",
    "job": "client.job",
    "session": "client.session",
    "submission": "api.submission",
    "primitives.options": "client.options",
    "primitives.circuit_cache": "client.circuit_cache",
    "primitives": "client.primitives",
    "pytest_plugin": "testing.pytest_plugin",
    "server.faults": "testing.faults",
}

#: The version whose release removes the old paths.
REMOVED_IN = "0.3"


def new_name(fullname: str) -> str | None:
    """The new module name of a deprecated ``qiskit_rest_provider.…`` path, else ``None``."""
    if not fullname.startswith(_ROOT + "."):
        return None
    relative = fullname[len(_ROOT) + 1 :]
    for old in sorted(MOVED, key=len, reverse=True):  # the longest match wins
        if relative == old or relative.startswith(old + "."):
            return f"{_ROOT}.{MOVED[old]}{relative[len(old) :]}"
    return None


class _AliasLoader(importlib.abc.Loader):
    """Hands out the module at its new path under the old name."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self._target}; the old path goes in release {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self._target)
        self._spec = module.__spec__  # the import system overwrites it; exec_module restores
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        moved_to = new_name(fullname)
        if moved_to is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(moved_to))


def install() -> None:
    """Put the hook first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
