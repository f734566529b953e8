"""Hostile OpenQASM 3 (issue 11: items 1, 2 and 7 for OpenQASM, item 14 for ``RuntimeJob.inputs``).

Each attack here once stalled the reader for seconds to days (backtracking regular expressions,
quadratic comment stripping), crashed it (RecursionError) or made it allocate by declared size
before checking it (``qubit[40000000] q;``); each now parses, if valid, or raises
``QASM3Error`` quickly. ``pytest-timeout`` is the stall guard (no wall-clock assertions; the
measured times are in the issue report and ``benchmarks/``). The service and the client are
attacked over real loopback HTTP: the local service, and a scripted stand-in server for the
client.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm3

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.api.errors import BadRequestError
from qiskit_rest_provider.core.codec.qasm3 import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_QUBITS,
    QASM3Error,
    QASM3LimitError,
    ReaderLimits,
    loads_isa,
)
from qiskit_rest_provider.errors import ResultDecodeError
from qiskit_rest_provider.server import LocalRuntimeServer

from .scripted_server import ScriptedServer
from .service_helpers import ResponsivenessProbe, auth_headers
from .test_codec_qasm3 import _registers, _signature

HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
FOR = "for int i in [0:1] { x q[0]; }\n"  # a construct only the reference importer reads
VIRTUAL = HEADER + "qubit[4] q;\nbit[4] c;\n"


def _operands(n: int) -> str:
    return HEADER + "x " + "  ".join(["$0"] * n) + " !;\n"


# The attacks of the issue: (text, expected error class, message pattern) ------------------------

ATTACKS: dict[str, tuple[str, type[QASM3Error], str]] = {
    "gate call with 12 operands and a stray character": (
        _operands(12),
        QASM3Error,
        "unexpected '!' in the operands of x",
    ),
    "gate call with 5000 operands and a stray character": (
        _operands(5000),
        QASM3Error,
        "unexpected '!'",
    ),
    "16000 unterminated comments": (HEADER + "/* " * 16000, QASM3Error, "unterminated"),
    "30000 spaces in a bit declaration": (
        HEADER + "bit" + " " * 30000 + "c!;\n",
        QASM3Error,
        "expected ';' after bit c",
    ),
    "30000 spaces in an if condition": (
        HEADER + "bit[1] c;\nif (" + " " * 30000 + "c!) { x $0; }\n",
        QASM3LimitError,
        "8,192 characters",
    ),
    "20000 unary minus": (
        HEADER + "rz(" + "-" * 20000 + "1) $0;\n",
        QASM3LimitError,
        "more than 256 tokens",
    ),
    "20000 nested parentheses": (
        HEADER + "rz(" + "(" * 20000 + "1" + ")" * 20000 + ") $0;\n",
        QASM3LimitError,
        "nested deeper than 64",
    ),
    "3000 nested ifs": (
        HEADER + "bit[1] c;\n" + "if (c) { " * 3000 + "x $0;" + " }" * 3000 + "\n",
        QASM3LimitError,
        "blocks nest deeper than 16",
    ),
    "NaN angle 1e999-1e999": (HEADER + "rz(1e999-1e999) $0;\n", QASM3Error, "out of range"),
    "overflowing angle": (HEADER + "rz(1e308*10) $0;\n", QASM3Error, "not a finite number"),
    "complex angle": (HEADER + "rz((-1)**0.5) $0;\n", QASM3Error, "not a real number"),
    "division by zero": (HEADER + "rz(1/0) $0;\n", QASM3Error, "cannot evaluate"),
    "exp overflow": (HEADER + "rz(exp(1000)) $0;\n", QASM3Error, "cannot evaluate"),
    "infinite delay": (HEADER + "delay[1e999ns] $0;\n", QASM3Error, "out of range"),
    "gate modifiers": (HEADER + "ctrl(40) @ x $0, $1;\n", QASM3Error, "modifiers"),
    "lone surrogate": (HEADER + "input float[64] \ud800;\n", QASM3Error, "not valid Unicode"),
    "program over the size cap": (
        HEADER + "x $0;\n" * (DEFAULT_LIMITS.max_chars // 6 + 1),
        QASM3LimitError,
        "the limit is 4,194,304",
    ),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_refused_quickly(name: str) -> None:
    text, error, message = ATTACKS[name]
    with pytest.raises(error, match=message):
        loads_isa(text, max_qubits=156)


# Pathological whitespace and nesting in otherwise valid programs still parse ---------------------


@pytest.mark.timeout(10)
def test_valid_programs_with_pathological_whitespace_parse() -> None:
    spaces = " " * 30000
    text = (
        HEADER
        + f"bit[{spaces}2{spaces}]{spaces}c;\n"
        + f"x{spaces}$0{spaces};\n"
        + f"if ({spaces}c[1]{spaces}) {{ sx $1; }}\n"
        + "/* */" * 16000
        + "\n// "
        + "/*" * 1000
        + "\n"
        + f"c[0]{spaces}={spaces}measure{spaces}$0;\n"
    )
    circuit, order = loads_isa(text, max_qubits=2)
    assert order == [] and _registers(circuit) == [("c", 2)]
    assert [inst.operation.name for inst in circuit.data] == ["x", "if_else", "measure"]


@pytest.mark.timeout(10)
def test_nesting_up_to_the_limits_parses() -> None:
    depth = DEFAULT_LIMITS.max_block_depth
    text = HEADER + "bit[1] c;\n" + "if (c) { " * depth + "x $0;" + " }" * depth + "\n"
    circuit, _ = loads_isa(text, max_qubits=1)
    for _ in range(depth):
        (inst,) = circuit.data
        assert inst.operation.name == "if_else"
        circuit = inst.operation.params[0]
    assert circuit.data[0].operation.name == "x"
    parens = DEFAULT_LIMITS.max_expression_depth - 1  # and one more inside
    text = HEADER + "rz(" + "(" * parens + "-(0.25)*2" + ")" * parens + "**3) $0;\n"
    circuit, _ = loads_isa(text, max_qubits=1)
    assert circuit.data[0].operation.params == [pytest.approx(-0.125)]
    with pytest.raises(QASM3LimitError, match="blocks nest deeper than 16"):
        loads_isa(HEADER + "bit[1] c;\n" + "if (c) { " * 17 + " }" * 17, max_qubits=1)


# Declared widths are checked before anything is built ---------------------------------------------

WIDTH_ATTACKS = {
    "qubit": "qubit[40000000] q;\nx q[0];\n",
    "qreg": "qreg q[40000000];\n",
    "bit": "bit[40000000] c;\n",
    "creg": "creg c[40000000];\n",
    "physical": "x $99999999;\n",
    "physical, many digits": "x $" + "9" * 5000 + ";\n",
    "qubit, reference importer": "qubit[40000000] q;\n" + FOR,
    "bit, reference importer": "qubit[2] q;\nbit[40000000] c;\n" + FOR,
    "physical, reference importer": "for int i in [0:1] { x $99999999; }\n",
    "for range, reference importer": "qubit[1] q;\nfor int i in [0:100000000] { x q[0]; }\n",
}

_WIDTH_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from qiskit_rest_provider.core.codec.qasm3 import loads_isa
    cases = json.loads(sys.stdin.read())
    with open("/proc/self/status") as status:
        size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
    # Address space for the parser's own needs only: building 40,000,000 qubits (~7 GB)
    # or 10**8 would fail here instead of growing the test runner.
    resource.setrlimit(resource.RLIMIT_AS, (size + 768 * 2**20, resource.RLIM_INFINITY))
    out = {}
    for name, (text, max_qubits) in cases.items():
        try:
            loads_isa(text, max_qubits=max_qubits)
            out[name] = "parsed"
        except Exception as exc:
            out[name] = type(exc).__name__ + ": " + str(exc)[:200]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)  # one child process that imports Qiskit, then one refusal per case
def test_declared_widths_are_refused_before_allocation() -> None:
    cases = {
        f"{name} (max_qubits={mq})": (HEADER + text, mq)
        for name, text in WIDTH_ATTACKS.items()
        for mq in (156, None)
    }
    child = subprocess.run(
        [sys.executable, "-c", _WIDTH_CHILD],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    results = json.loads(child.stdout)
    assert set(results) == set(cases)
    for name, outcome in results.items():
        assert outcome.startswith("QASM3LimitError: "), (name, outcome)
        assert "too large" in outcome or "does not exist" in outcome, (name, outcome)


@pytest.mark.timeout(10)
def test_width_bound_without_a_backend_is_the_documented_default() -> None:
    last = DEFAULT_MAX_QUBITS - 1
    circuit, _ = loads_isa(HEADER + f"x ${last};\n")
    assert circuit.num_qubits == DEFAULT_MAX_QUBITS
    with pytest.raises(QASM3LimitError, match=f"limit is {DEFAULT_MAX_QUBITS} qubits"):
        loads_isa(HEADER + f"x ${last + 1};\n")
    with pytest.raises(QASM3LimitError, match="the backend has 7 qubits"):
        loads_isa(HEADER + "qubit[4] q;\nqubit[4] r;\n", max_qubits=7)


# Every other limit, with small limits so that the tests stay cheap -------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "limits, text, message",
    [
        (ReaderLimits(max_chars=100), HEADER + "x $0;\n" * 20, "the limit is 100"),
        (ReaderLimits(max_instructions=50), HEADER + "x $0;\n" * 51, "more than 50 instructions"),
        (ReaderLimits(max_instructions=50), VIRTUAL + "x q;\n" * 13, "more than 50 instructions"),
        (ReaderLimits(max_instructions=50), HEADER + "barrier $0, $1;\n" * 26, "more than 50"),
        (ReaderLimits(max_blocks=3), VIRTUAL + "if (c[0]) { } else { }\n" * 2, "3 if/else"),
        (ReaderLimits(max_clbits=10), HEADER + "bit[6] a;\nbit[5] b;\n", "10 classical bits"),
        (ReaderLimits(max_expression_tokens=5), HEADER + "rz(1+1+1+1) $0;\n", "more than 5"),
        (ReaderLimits(max_expression_depth=3), HEADER + "rz(sin((((1))))) $0;\n", "deeper than 3"),
        (ReaderLimits(max_expression_depth=2), HEADER + "rz(2**2**2**2) $0;\n", "deeper than 2"),
    ],
)
def test_each_limit_is_enforced(limits: ReaderLimits, text: str, message: str) -> None:
    with pytest.raises(QASM3LimitError, match=message):
        loads_isa(text, max_qubits=4, limits=limits)


# The reference importer only sees bounded input ---------------------------------------------------

REFERENCE_REFUSALS = {
    "size": (VIRTUAL + FOR + "x q[0];\n" * 1400, "8,192 characters"),
    "nested loops": (VIRTUAL + "for int i in [0:1] { " * 17 + " }" * 17, "deeper than 16"),
    "else-if chain": (
        VIRTUAL + "if (c[0]) { }" + " else if (c[1]) { }" * 17 + "\n",
        "deeper than 16",
    ),
    "braceless ifs": (VIRTUAL + "if (c[0]) " * 17 + "x q[0];\n", "deeper than 16"),
    "operators": (VIRTUAL + FOR + "rz(" + "+".join(["1"] * 34) + ") q[0];\n", "33 operators"),
    "brackets": (VIRTUAL + FOR + "rz(" + "(" * 17 + "1" + ")" * 17 + ") q[0];\n", "deeper than 16"),
    "broadcast work": (
        HEADER + "qubit[156] q;\nlet a = q;\n" + "x a;\n" * 200,
        "20,000",
    ),
    "custom gate copies": (
        HEADER + "gate g a {" + " x a;" * 500 + " }\nqubit[1] q;\n" + "g q[0];\n" * 100,
        "20,000",
    ),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(REFERENCE_REFUSALS))
def test_reference_importer_input_is_bounded(name: str) -> None:
    text, message = REFERENCE_REFUSALS[name]
    with pytest.raises(QASM3LimitError, match=message):
        loads_isa(text, max_qubits=156)


@pytest.mark.timeout(30)
def test_reference_importer_refuses_what_would_run_badly() -> None:
    with pytest.raises(QASM3Error, match="modifiers"):
        loads_isa(VIRTUAL + "for int i in [0:1] { ctrl(2) @ x q[0], q[1], q[2]; }", max_qubits=4)
    with pytest.raises(QASM3Error, match="non-finite"):
        loads_isa(VIRTUAL + "for int i in [0:1] { rz(1e999-1e999) q[0]; }", max_qubits=4)
    with pytest.raises(QASM3Error, match="integer literal"):
        loads_isa(HEADER + "qubit[1] q;\n" + FOR + "qubit[2*3] r;\n", max_qubits=8)
    with pytest.raises(QASM3Error, match="integer literal"):
        loads_isa(HEADER + "qubit[2*3] r;\n", max_qubits=8)


def _deep_stack(depth: int, call: Callable[[], Any]) -> Any:
    return call() if depth == 0 else _deep_stack(depth - 1, call)


@pytest.mark.timeout(60)
def test_reference_importer_at_its_nesting_limits_does_not_recurse_too_deep() -> None:
    """The deepest program the pre-scan admits, read 200 frames deep in a worker thread (as a
    request handler would be), parses without a RecursionError."""
    inner = "rz(" + "(" * 14 + "+".join(["1"] * 32) + ")" * 14 + ") q[0];"
    text = VIRTUAL + "for int i in [0:1] { " * 15 + inner + " }" * 15 + "\n"
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(_deep_stack(200, lambda: loads_isa(text, max_qubits=4)))
        except Exception as exc:  # reported below
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    (result,) = outcome
    assert not isinstance(result, BaseException), result
    circuit, _ = result
    assert circuit.data[-1].operation.name == "for_loop"


REFERENCE_PROGRAMS = {
    "for loop": VIRTUAL + "for int i in [0:3] { x q[0]; }\nc = measure q;\n",
    "custom gate": HEADER + "gate g(t) a, b { rz(t) a; cx a, b; }\nqubit[2] q;\ng(0.5) q[0], q[1];",
    "alias": HEADER + "qubit[3] q;\nlet a = q[0:1];\nx a;\n",
    "else if": VIRTUAL + "c = measure q;\nif (c[0]) { x q[0]; } else if (c[1]) { x q[1]; }\n",
    "while": VIRTUAL + "c[0] = measure q[0];\nwhile (c[0]) { x q[0]; c[0] = measure q[0]; }\n",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(REFERENCE_PROGRAMS))
def test_programs_for_the_reference_importer_still_parse(name: str) -> None:
    text = REFERENCE_PROGRAMS[name]
    ours, _ = loads_isa(text, max_qubits=156)

    def normalized(circuit: QuantumCircuit) -> str:  # loop variables get numbered names
        return re.sub(r"_loop_i_\d+", "_loop_i", repr(_signature(circuit)))

    assert normalized(ours) == normalized(qasm3.loads(text))


# Declared qubits are read by the fast reader, like qiskit.qasm3.loads reads them ------------------


def _virtual_circuits() -> dict[str, QuantumCircuit]:
    q, r = QuantumRegister(3, "q"), QuantumRegister(2, "r")
    c, d = ClassicalRegister(3, "c"), ClassicalRegister(2, "d")
    qc = QuantumCircuit(q, r, c, d)
    qc.h(q)
    qc.cx(q[0], r[1])
    qc.rz(0.25, r)
    qc.measure(q, c)
    qc.measure(r, d)
    with qc.if_test((c, 5)):
        qc.x(r[0])
    with qc.if_test((d[1], 0)) as else_:
        qc.rz(0.3, q[2])
    with else_:
        qc.sx(q[1])
    qc.barrier(q)
    qc.reset(r[0])
    qc.delay(100, q[0], unit="ns")
    bell = QuantumCircuit(2, 2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    return {"registers": qc, "bell": bell}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(_virtual_circuits()))
def test_declared_qubits_read_like_the_reference(name: str) -> None:
    text = qasm3.dumps(_virtual_circuits()[name])
    ours, _ = loads_isa(text, max_qubits=156)
    reference = qasm3.loads(text)
    assert _registers(ours) == _registers(reference)
    assert [(r.name, r.size) for r in ours.qregs] == [(r.name, r.size) for r in reference.qregs]
    assert _signature(ours) == _signature(reference)


@pytest.mark.timeout(10)
def test_broadcast_over_registers() -> None:
    text = VIRTUAL + "qubit w;\nh q;\ncx w, q;\nrz(pi/4) q;\nc = measure q;\nreset q;\nbarrier;\n"
    ours, _ = loads_isa(text, max_qubits=5)
    assert _signature(ours) == _signature(qasm3.loads(text))
    params = [inst.operation.params for inst in ours.data if inst.operation.name == "rz"]
    params[0][0] = 1.0  # one operation per instruction: no aliasing between them
    assert [p[0] for p in params[1:]] == [pytest.approx(0.7853981633974483)] * 3
    for bad, message in [
        ("cx q, w2;", "unknown qubit"),
        ("qubit[2] r;\ncx q, r;", "differ in size"),
        ("c = measure w;", "needs an index"),
        ("x $0;", "cannot be mixed"),
    ]:
        with pytest.raises(QASM3Error, match=message):
            loads_isa(VIRTUAL + "qubit w;\n" + bad, max_qubits=8)


# Fuzzing: pathological shapes only ever give QASM3Error -------------------------------------------

_WORDS = [
    "x", "rz", "cx", "ecr", "measure", "reset", "barrier", "delay", "if", "else", "gate", "for",
    "let", "qubit", "bit", "creg", "qreg", "input", "float", "OPENQASM", "include", "ctrl", "@",
    "=", "->", ";", ",", "{", "}", "(", ")", "[", "]", "!", "==", "**", "-", "+", "*", "/",
    "pi", "1e999", "0.5", "3", "c", "q", '"stdgates.inc"', "$0", "$1", "$", "/*", "*/", "//",
    "\n", "10ns", "dt", "#", "π", "\x00", "é",
]  # fmt: skip


@st.composite
def _pathological(draw: st.DrawFn) -> str:
    parts = [draw(st.sampled_from([HEADER, "", VIRTUAL, HEADER + "bit[4] c;\n"]))]
    for _ in range(draw(st.integers(1, 10))):
        n = draw(st.integers(0, 4000))
        kind = draw(st.integers(0, 9))
        if kind == 0:  # whitespace runs
            parts.append(draw(st.sampled_from([" ", "\n", "\t", "\r\n"])) * n)
        elif kind == 1:  # comment fragments
            parts.append(draw(st.sampled_from(["/* ", "*/", "// ", "/* x */", "/"])) * (n // 4))
        elif kind == 2:  # operand lists
            sep = draw(st.sampled_from([" ", ",", ", ", "  ", ",,"]))
            tail = draw(st.sampled_from([";", " !;", "", ")", " -> c[0];"]))
            parts.append(draw(st.sampled_from(["x ", "cx ", "barrier ", "reset "])))
            parts.append(sep.join(["$0"] * (n // 8)) + tail)
        elif kind == 3:  # nesting
            opener = draw(st.sampled_from(["if (c[0]) { ", "(", "-", "for int i in [0:1] { "]))
            closer = draw(st.sampled_from([" }", ")", "", "}"]))
            k = n // 16
            parts.append(opener * k + draw(st.sampled_from(["x $0;", "1", ""])) + closer * k)
        elif kind == 4:  # declared widths
            width = draw(st.sampled_from([0, 1, 4, 156, 157, 2048, 65537, 40_000_000, 10**30]))
            form = draw(
                st.sampled_from(
                    ["qubit[{}] q;", "bit[{}] c;", "creg c[{}];", "qreg q[{}];", "x ${};"]
                )
            )
            parts.append(form.format(width) + "\n")
        elif kind == 5:  # expressions
            ops = draw(st.lists(st.sampled_from(["+", "-", "*", "/", "**"]), max_size=n // 40))
            parts.append("rz(" + "".join(f"0.5{op}" for op in ops) + "pi) $0;\n")
        else:  # token soup
            words = draw(st.lists(st.sampled_from(_WORDS), max_size=n // 20))
            parts.append(" ".join(words))
    return "".join(parts)


def _check_result(text: str, max_qubits: int) -> None:
    try:
        circuit, order = loads_isa(text, max_qubits=max_qubits)
    except QASM3Error:
        return
    assert circuit.num_qubits <= max_qubits
    assert circuit.num_clbits <= DEFAULT_LIMITS.max_clbits
    assert len(order) == len(set(order))


@pytest.mark.slow
@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None)
@given(_pathological())
def test_fuzz_pathological_shapes_only_give_qasm3_error(text: str) -> None:
    _check_result(text, 156)


@pytest.mark.slow
@pytest.mark.timeout(120)
@settings(max_examples=60, deadline=None)
@given(_pathological())
def test_fuzz_pathological_shapes_through_the_reference_importer(text: str) -> None:
    """The same shapes after a ``for`` loop, which sends the program to qiskit.qasm3.loads
    (kept short: that importer is slow)."""
    _check_result(VIRTUAL + FOR + text[:3000], 156)


# The service refuses hostile programs with 400 and stays responsive -------------------------------


SERVICE_ATTACKS = [
    "gate call with 5000 operands and a stray character",
    "16000 unterminated comments",
    "30000 spaces in an if condition",
    "20000 unary minus",
    "20000 nested parentheses",
    "3000 nested ifs",
    "NaN angle 1e999-1e999",
]


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.timeout(120)
def test_service_refuses_hostile_programs_and_stays_responsive(
    server: LocalRuntimeServer,
) -> None:
    headers = auth_headers(server)
    programs = [ATTACKS[name][0] for name in SERVICE_ATTACKS]
    programs += [HEADER + text for text in WIDTH_ATTACKS.values()]
    with ResponsivenessProbe(server.url):
        for program in programs:
            body = {
                "program_id": "sampler",
                "backend": "local_falcon",
                "params": {"pubs": [[program, None, 10]], "version": 2},
            }
            response = requests.post(
                f"{server.url}/api/v1/jobs", json=body, headers=headers, timeout=60
            )
            assert response.status_code == 400, (response.status_code, response.text[:300])
            payload = response.json()
            error = payload["errors"][0]
            assert error["code"] and error["more_info"] and payload["trace"]
            assert "OpenQASM 3" in error["message"], error["message"]


@pytest.mark.service
@pytest.mark.timeout(60)
def test_client_submission_of_a_hostile_program_is_a_typed_400(
    provider: QiskitRestProvider,
) -> None:
    body = {
        "program_id": "sampler",
        "backend": "local_falcon",
        "params": {"pubs": [[HEADER + "qubit[40000000] q;\n", None, 10]], "version": 2},
    }
    with pytest.raises(BadRequestError, match="qubit size 40000000 is too large"):
        provider.client.create_job(body)


# The client reads server-returned OpenQASM within the same limits (item 14) -----------------------

CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def::"


@pytest.fixture()
def stand_in() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _job_document(program: str, backend: str = "stand_in_backend") -> bytes:
    return json.dumps(
        {
            "id": "job-1",
            "program": {"id": "sampler"},
            "backend": backend,
            "status": "Completed",
            "state": {"status": "Completed"},
            "params": {"pubs": [[program, None, 10]], "version": 2},
        }
    ).encode()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "program, listing_qubits, message",
    [
        ("qubit[10000000] q;\n", None, f"the reader's limit is {DEFAULT_MAX_QUBITS} qubits"),
        ("x $99999999;\n", None, "does not exist"),
        ("x $7;\n", 5, "the backend has 5 qubits"),
        ("bit[10000000] c;\n", None, "classical bits"),
        ("x $0;\n" * (DEFAULT_LIMITS.max_chars // 6 + 1), None, "4,194,304"),
    ],
)
def test_job_inputs_from_a_hostile_server_are_bounded(
    stand_in: ScriptedServer, program: str, listing_qubits: int | None, message: str
) -> None:
    document = _job_document(HEADER + program)
    stand_in.script("GET", "/api/v1/jobs/job-1", (200, {}, document), (200, {}, document))
    listing = {"devices": [{"name": "stand_in_backend", "qubits": listing_qubits}]}
    stand_in.script("GET", "/api/v1/backends", (200, {}, json.dumps(listing).encode()))
    with QiskitRestProvider(bearer_token="tok", instance=CRN, url=stand_in.url) as provider:
        if listing_qubits is not None:
            provider.backends()  # the listing makes the backend's width known
        job = provider.job("job-1")
        with pytest.raises(ResultDecodeError, match=message):
            job.inputs  # noqa: B018 - the property does the work


@pytest.mark.timeout(30)
def test_job_inputs_within_the_limits_decode(stand_in: ScriptedServer) -> None:
    document = _job_document(HEADER + "bit[1] c;\nx $3;\nc[0] = measure $3;\n")
    stand_in.script("GET", "/api/v1/jobs/job-1", (200, {}, document), (200, {}, document))
    listing = {"devices": [{"name": "stand_in_backend", "qubits": 5}]}
    stand_in.script("GET", "/api/v1/backends", (200, {}, json.dumps(listing).encode()))
    with QiskitRestProvider(bearer_token="tok", instance=CRN, url=stand_in.url) as provider:
        provider.backends()
        circuit = provider.job("job-1").inputs["pubs"][0][0]
    assert isinstance(circuit, QuantumCircuit) and circuit.num_qubits == 5
    assert [inst.operation.name for inst in circuit.data] == ["x", "measure"]
