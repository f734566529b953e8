"""Names shared by the OpenQASM 3 writer and reader: standard gates, aliases, reserved words."""

from __future__ import annotations

import functools
import re
from typing import Any

from qiskit.circuit.library import get_standard_gate_name_mapping

__all__ = [
    "ALIASES",
    "IDENT_RE",
    "RESERVED",
    "SIMPLE_NON_GATES",
    "STDGATES",
    "is_identifier",
    "standard_gates",
]

#: The gates ``stdgates.inc`` declares (the writer needs no definition for them).
STDGATES = frozenset(
    [
        "p",
        "x",
        "y",
        "z",
        "h",
        "s",
        "sdg",
        "t",
        "tdg",
        "sx",
        "rx",
        "ry",
        "rz",
        "cx",
        "cy",
        "cz",
        "cp",
        "crx",
        "cry",
        "crz",
        "ch",
        "swap",
        "ccx",
        "cswap",
        "cu",
        "CX",
        "phase",
        "cphase",
        "id",
        "u1",
        "u2",
        "u3",
    ]
)
#: Spellings of standard gates that Qiskit names otherwise.
ALIASES = {"CX": "cx", "phase": "p", "cphase": "cp", "U": "u"}
#: Standard-gate-mapping entries that are not gates (never read as gate calls).
SIMPLE_NON_GATES = frozenset({"measure", "reset", "barrier", "delay"})


@functools.lru_cache(maxsize=1)
def standard_gates() -> dict[str, Any]:
    """Qiskit's standard gates by name (built once: the mapping is costly to create)."""
    return dict(get_standard_gate_name_mapping())


#: A plain identifier; :data:`RESERVED` words are refused on top of it.
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = frozenset(
    [
        "pi",
        "tau",
        "euler",
        "π",
        "τ",
        "input",
        "output",
        "bit",
        "qubit",
        "float",
        "int",
        "uint",
        "angle",
        "bool",
        "gate",
        "measure",
        "reset",
        "barrier",
        "delay",
        "if",
        "else",
        "for",
        "while",
        "in",
        "def",
        "return",
        "box",
        "let",
        "const",
        "OPENQASM",
        "include",
    ]
)


def is_identifier(name: str) -> bool:
    """Whether ``name`` can be used unchanged as an OpenQASM 3 identifier."""
    return bool(IDENT_RE.match(name)) and name not in RESERVED
