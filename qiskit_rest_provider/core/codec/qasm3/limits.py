"""The bounds the OpenQASM 3 reader enforces on hostile text, checked before anything is built."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "DEFAULT_MAX_QUBITS", "ReaderLimits", "width_words"]

#: Width bound when the caller names no backend: larger than any IBM Quantum device.
DEFAULT_MAX_QUBITS = 2048


@dataclass(frozen=True)
class ReaderLimits:
    """The bounds :func:`loads_isa` enforces. A program beyond any of them raises
    :class:`QASM3LimitError`, before anything of the size it asks for is built.

    Attributes:
        max_chars: Characters per program (4 MiB; a transpiled 156-qubit 4-layer ansatz is
            about 60 KB).
        max_clbits: Classical bits declared in total.
        max_instructions: Instructions built (each statement on ``$n`` builds one, a register
            operand broadcasts, a barrier counts its qubits), blocks included: 300,000 hold
            about 60-90 MB (120 MB at the peak of reading them).
        max_blocks: ``if`` and ``else`` blocks (Qiskit's control-flow builder costs about
            0.1-0.3 ms and a few KB for each, more when they nest deeply).
        max_block_depth: Nesting of ``if``/``else`` blocks (a block 32 deep costs Qiskit's
            builder about 2.5 times one at depth 1; 64 deep, 4 times).
        max_expression_depth: Nesting of parentheses, function calls and ``**`` in one
            expression.
        max_expression_tokens: Tokens in one gate argument (symbolic arithmetic on parameter
            expressions costs more than linear time in their size).
        reference_max_chars: Characters of a program that needs the reference importer
            (``qiskit.qasm3.loads``: loops, custom gates, aliases, complex conditions).
        reference_max_block_depth: Nesting of blocks and control-flow statements there.
        reference_max_bracket_depth: Nesting of parentheses and brackets there.
        reference_max_operators: Operators in one statement there (each nests the parse tree).
        reference_max_work: Instructions the reference importer may build (broadcasts over
            registers and copies of custom-gate bodies included).
    """

    max_chars: int = 4 * 1024 * 1024
    max_clbits: int = 65_536
    max_instructions: int = 300_000
    max_blocks: int = 10_000
    max_block_depth: int = 16
    max_expression_depth: int = 64
    max_expression_tokens: int = 256
    reference_max_chars: int = 8 * 1024
    reference_max_block_depth: int = 16
    reference_max_bracket_depth: int = 16
    reference_max_operators: int = 32
    reference_max_work: int = 20_000


DEFAULT_LIMITS = ReaderLimits()


def width_words(max_qubits: int | None) -> tuple[int, str]:
    """The qubit bound for ``max_qubits`` (None: :data:`DEFAULT_MAX_QUBITS`) and the words
    that explain it in a refusal."""
    if max_qubits is None:
        return DEFAULT_MAX_QUBITS, f"the reader's limit is {DEFAULT_MAX_QUBITS} qubits"
    return max_qubits, f"the backend has {max_qubits} qubits"
