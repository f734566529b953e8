"""OpenQASM 3 for ISA circuits: a fast writer (client) and a fast, hostile-input-safe reader.

The writer emits physical qubits (``$n``), one ``input float[64]`` per parameter in the order
of ``circuit.parameters`` (the order of the parameter-values array), classical registers under
their own names, and gate definitions for standard gates outside ``stdgates.inc`` (``ecr``,
``rzz``, ...). Circuits with anything else fall back to ``qiskit.qasm3.dumps``.

The reader understands the same subset (gate calls on ``$n`` qubits with arithmetic parameter
expressions, measure, reset, barrier, delay, ``if``/``else`` on a bit or register), declared
qubits and registers (``qubit[n] q;``, ``qreg``, ``creg``, broadcasting over registers) and
definitions of known standard gates; anything else (loops, custom gates, aliases, complex
conditions) goes to ``qiskit.qasm3.loads``. The declaration order of ``input`` variables is
returned, so parameter values bind by column.

The reader treats every text as hostile: it runs in time linear in the text, never recurses
without bound, and checks every declared width and size before building anything. Its bounds
(:class:`ReaderLimits`, :data:`DEFAULT_MAX_QUBITS`): 4 MiB per program, ``max_qubits`` (else
2048) qubits, 65,536 classical bits, 300,000 instructions, 10,000 ``if``/``else`` blocks
nested at most 16 deep, expressions 64 levels deep and 256 tokens long; NaN and infinite
angles are refused. Programs that need ``qiskit.qasm3.loads`` (an ANTLR parser, about 100x
slower per character) are limited to 8 KiB, 16 nested blocks or brackets, 32 operators per
statement and about 20,000 built instructions, and may not use gate modifiers. Refusals are
:class:`QASM3LimitError`.

The package keeps one concept per module: :mod:`.writer` (:func:`dumps_isa`), :mod:`.reader`
(:func:`loads_isa` and its statement parser), :mod:`.lexer` (the tokenizer),
:mod:`.expressions` (gate-argument arithmetic), :mod:`.fallback` (the pre-scan and
``qiskit.qasm3.loads``), :mod:`.limits` (:class:`ReaderLimits`) and :mod:`.names` (standard
gates and reserved words); its exceptions are in :mod:`qiskit_rest_provider.errors`. Import from the
package, not from its modules.
"""

from __future__ import annotations

from ....errors import QASM3Error, QASM3LimitError
from .limits import DEFAULT_LIMITS, DEFAULT_MAX_QUBITS, ReaderLimits
from .names import STDGATES, is_identifier
from .reader import loads_isa
from .writer import dumps_isa

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_QUBITS",
    "STDGATES",
    "QASM3Error",
    "QASM3LimitError",
    "ReaderLimits",
    "dumps_isa",
    "is_identifier",
    "loads_isa",
]
