"""An intersphinx inventory of Qiskit, written from the installed ``qiskit`` at build time.

The documentation builds offline (``sphinx-build -W`` in the test suite and CI, where no site but
the package registries is reachable), so Qiskit's published ``objects.inv`` cannot be fetched.
This module writes an equivalent inventory from the installed package: every public class and
function of Qiskit's public modules, and the public members of those classes, each under its
public name and under the name of the module that defines it (what autodoc writes for type
hints), pointing at the page IBM's Qiskit API documentation gives it.
"""

from __future__ import annotations

import importlib
import inspect
import zlib
from pathlib import Path
from typing import Any

#: Where IBM publishes Qiskit's API reference (one page per public class or function).
QISKIT_DOCS = "https://quantum.cloud.ibm.com/docs/api/qiskit/"

#: The public modules whose names the inventory holds.
PUBLIC_MODULES = (
    "qiskit",
    "qiskit.circuit",
    "qiskit.circuit.library",
    "qiskit.converters",
    "qiskit.primitives",
    "qiskit.primitives.containers",
    "qiskit.providers",
    "qiskit.qasm3",
    "qiskit.qpy",
    "qiskit.quantum_info",
    "qiskit.result",
    "qiskit.transpiler",
    "qiskit.transpiler.passes",
)


def _public_names(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return [str(n) for n in names]


def entries() -> dict[str, tuple[str, str]]:
    """``{name: (role, uri)}`` for every object of :data:`PUBLIC_MODULES`."""
    found: dict[str, tuple[str, str]] = {}
    # The page of an object exported by several modules is the one of the deepest module
    # (QuantumCircuit: qiskit.circuit.QuantumCircuit, not qiskit.QuantumCircuit).
    for module_name in sorted(PUBLIC_MODULES, key=lambda m: -m.count(".")):
        module = importlib.import_module(module_name)
        page = module_name.removeprefix("qiskit.") if module_name != "qiskit" else "qiskit"
        found.setdefault(module_name, ("py:module", page))
        for name in _public_names(module):
            obj = getattr(module, name, None)
            if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                continue
            public = f"{module_name}.{name}"
            role = "py:class" if inspect.isclass(obj) else "py:function"
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                role = "py:exception"
            defined = f"{getattr(obj, '__module__', module_name)}.{obj.__qualname__}"
            for key in (public, defined):
                found.setdefault(key, (role, public))
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if member.startswith("_"):
                        continue
                    kind = "py:property" if isinstance(value, property) else "py:method"
                    if not (callable(value) or isinstance(value, (property, classmethod))):
                        kind = "py:attribute"
                    for key in (f"{public}.{member}", f"{defined}.{member}"):
                        found.setdefault(key, (kind, f"{public}#{member.lower()}"))
    return found


def write(path: Path, version: str) -> Path:
    """Write the inventory (Sphinx's version 2 format) to ``path``."""
    lines = [
        f"{name} {role} 1 {uri} -"
        for name, (role, uri) in sorted(entries().items())
        if " " not in name
    ]
    header = (
        "# Sphinx inventory version 2\n"
        "# Project: Qiskit\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + zlib.compress("\n".join(lines).encode() + b"\n"))
    return path
