"""OpenQASM 3 serialization of ISA circuits: our writer's text loads back, through our reader and
through ``qiskit.qasm3.loads``, to an equivalent circuit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm3
from qiskit.circuit import Parameter
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import Operator
from qiskit.transpiler import CouplingMap, generate_preset_pass_manager

from qiskit_rest_provider.core.codec.qasm3 import QASM3Error, dumps_isa, loads_isa


def _signature(circuit: QuantumCircuit) -> list[Any]:
    """Operations with physical qubit indices, clbit indices, parameters and nested blocks, with
    parameters bound positionally (names may differ; order may not)."""
    if circuit.parameters:
        circuit = circuit.assign_parameters(np.linspace(0.1, 0.9, circuit.num_parameters))
    out: list[Any] = []
    for inst in circuit.data:
        op = inst.operation
        qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
        clbits = tuple(circuit.find_bit(c).index for c in inst.clbits)
        params: list[Any] = []
        for p in op.params:
            if isinstance(p, QuantumCircuit):
                params.append(_signature(p))
            elif hasattr(p, "parameters") and p.parameters:
                params.append(str(p))
            else:
                try:
                    params.append(round(float(p), 9))
                except TypeError:
                    params.append(str(p))
        condition = getattr(op, "condition", None)
        cond: Any = None
        if condition is not None:
            target, value = condition
            bits = (
                [target]
                if not hasattr(target, "name") or not hasattr(target, "size")
                else list(target)
            )
            cond = (tuple(circuit.find_bit(b).index for b in bits), value)
        out.append((op.name, qubits, clbits, params, cond))
    return out


def _registers(circuit: QuantumCircuit) -> list[tuple[str, int]]:
    return [(r.name, r.size) for r in circuit.cregs]


def corpus() -> dict[str, QuantumCircuit]:
    cases: dict[str, QuantumCircuit] = {}
    theta, phi = Parameter("theta"), Parameter("phi")

    qc = QuantumCircuit(3, 2)
    qc.sx(0)
    qc.rz(theta, 1)
    qc.rz(2 * theta + phi / 3 - 0.5, 2)
    qc.cz(0, 1)
    qc.barrier()
    qc.delay(160, 2, unit="dt")
    qc.measure(0, 0)
    qc.reset(0)
    qc.x(0)
    qc.measure([1, 2], [0, 1])
    cases["params_mid_measure_reset_delay"] = qc

    q = QuantumRegister(3, "q")
    a, b = ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    qc = QuantumCircuit(q, a, b)
    qc.x(0)
    qc.measure(0, a[0])
    with qc.if_test((a[0], 1)) as else_:
        qc.x(1)
    with else_:
        qc.sx(1)
        qc.rz(0.25, 1)
    with qc.if_test((a, 1)):
        qc.cz(1, 2)
    qc.measure(1, a[1])
    qc.measure(2, b[0])
    cases["control_flow_registers"] = qc

    qc = QuantumCircuit(2, 2)
    qc.ecr(0, 1)
    qc.rzz(0.3, 0, 1)
    qc.rx(theta, 0)
    qc.measure([0, 1], [0, 1])
    with qc.if_test((qc.clbits[1], 0)):
        qc.reset(1)
    cases["fractional_and_ecr"] = qc

    ansatz = efficient_su2(5, reps=2, entanglement="linear")
    ansatz.measure_all()
    pm = generate_preset_pass_manager(
        optimization_level=1,
        basis_gates=["rz", "sx", "x", "cz"],
        coupling_map=CouplingMap.from_line(6),
        seed_transpiler=3,
    )
    cases["transpiled_ansatz"] = pm.run(ansatz)
    return cases


@pytest.mark.parametrize("name", sorted(corpus()))
def test_round_trip_through_both_readers(name: str) -> None:
    circuit = corpus()[name]
    text = dumps_isa(circuit)
    ours, order = loads_isa(text)
    assert len(order) == circuit.num_parameters
    reference = qasm3.loads(text)
    for loaded in (ours, reference):
        assert _registers(loaded) == _registers(circuit)
        assert loaded.num_qubits >= max(
            (circuit.find_bit(q).index + 1 for inst in circuit.data for q in inst.qubits), default=0
        )
    assert _signature(ours) == _signature(circuit)
    # Readers that order parameters by name (qiskit.qasm3.loads) agree with the input order,
    # which is the column order of the parameter-values array.
    assert [p.name for p in reference.parameters] == order
    assert _signature(reference) == _signature(circuit)


def test_unitary_part_is_equivalent_for_bound_parameters() -> None:
    circuit = corpus()["transpiled_ansatz"].remove_final_measurements(inplace=False)
    values = np.linspace(0.1, 1.0, circuit.num_parameters)
    bound = circuit.assign_parameters(values)
    loaded, order = loads_isa(dumps_isa(circuit))
    assert len(order) == circuit.num_parameters
    reloaded = QuantumCircuit(circuit.num_qubits).compose(
        loaded.assign_parameters(values), qubits=range(loaded.num_qubits)
    )
    assert Operator(reloaded).equiv(Operator(bound))


GATES_1Q = ["x", "sx", "rz", "rx", "h", "s", "t", "u"]
GATES_2Q = ["cz", "cx", "ecr", "rzz"]


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_isa_circuits_round_trip_to_the_same_operator(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 4))
    qc = QuantumCircuit(n)
    for _ in range(data.draw(st.integers(0, 20))):
        if n > 1 and data.draw(st.booleans()):
            name = data.draw(st.sampled_from(GATES_2Q))
            a, b = data.draw(st.permutations(range(n)))[:2]
            if name == "rzz":
                qc.rzz(data.draw(st.floats(0, 1.5)), a, b)
            else:
                getattr(qc, name)(a, b)
        else:
            name = data.draw(st.sampled_from(GATES_1Q))
            q = data.draw(st.integers(0, n - 1))
            if name in ("rz", "rx"):
                getattr(qc, name)(data.draw(st.floats(-7, 7)), q)
            elif name == "u":
                qc.u(*data.draw(st.tuples(*[st.floats(-3, 3)] * 3)), q)
            else:
                getattr(qc, name)(q)
    text = dumps_isa(qc)
    expected = Operator(qc)
    for loaded in (loads_isa(text)[0], qasm3.loads(text)):
        padded = QuantumCircuit(n).compose(loaded, qubits=range(loaded.num_qubits))
        assert Operator(padded).equiv(expected)


@pytest.mark.parametrize(
    "text, message",
    [
        ('OPENQASM 3.0; include "stdgates.inc"; h $0 $1;', r"h acts on 1 qubit\(s\), got 2"),
        ('OPENQASM 3.0; include "stdgates.inc"; nosuchgate $0;', "'nosuchgate' is not defined"),
        ('OPENQASM 3.0; include "stdgates.inc"; h $500;', r"qubit \$500 does not exist"),
        ('OPENQASM 3.0; include "stdgates.inc"; input float[64] a; rz(a*) $0;', "end of expr"),
    ],
)
def test_bad_text_gives_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(QASM3Error, match=message):
        loads_isa(text, max_qubits=156)
