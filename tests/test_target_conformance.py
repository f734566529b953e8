"""Our Target equals qiskit-ibm-runtime's for every shipped snapshot, plus edge cases.

Two paths are compared on all 68 snapshots:

* the fractional path (``use_fractional_gates=True`` on both sides): identical everywhere;
* the default path, what ``QiskitRestProvider.backend(name)`` and
  ``QiskitRuntimeService.backend(name)`` give (``use_fractional_gates=False``), through the real
  local service serving the snapshot files: identical except on the ten legacy devices whose
  basis is ``id u1 u2 u3 cx``. There the official client strips ``u2`` and ``u3`` as
  "fractional", leaving ``u1`` (a phase) as the only single-qubit rotation, so nothing but
  diagonal circuits can be transpiled for them; we keep both, as the README says.
"""

from __future__ import annotations

import copy
import glob
import json
import math
import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.transpiler import Target, TranspilerError

from qiskit_rest_provider.client.provider import QiskitRestProvider
from qiskit_rest_provider.core.target import build_target
from qiskit_rest_provider.errors import BackendDataError

from .service_helpers import running_server

fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
from qiskit_ibm_runtime.utils.backend_converter import convert_to_target  # noqa: E402
from qiskit_ibm_runtime.utils.backend_decoder import (  # noqa: E402
    configuration_from_server_data,
    properties_from_server_data,
)

pytestmark = [pytest.mark.official]

BASE = os.path.join(os.path.dirname(fake_provider.__file__), "backends")


def _snapshots() -> list[tuple[str, str, str | None]]:
    out = []
    for folder in sorted(os.listdir(BASE)):
        confs = glob.glob(os.path.join(BASE, folder, "conf_*.json"))
        props = [p for p in glob.glob(os.path.join(BASE, folder, "props_*.json")) if "alt" not in p]
        if confs:
            out.append((folder, confs[0], props[0] if props else None))
    return out


SNAPSHOTS = _snapshots()

#: Snapshots whose basis is ``id u1 u2 u3 cx``: on the default path (``use_fractional_gates
#: =False``) the official client drops ``u2``/``u3`` and we keep them (see the module docstring).
LEGACY_EULER = frozenset(
    {
        "almaden",
        "boeblingen",
        "burlington",
        "cambridge",
        "essex",
        "johannesburg",
        "london",
        "poughkeepsie",
        "rochester",
        "singapore",
    }
)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def target_differences(ours: Target, ref: Target) -> list[Any]:
    diffs: list[Any] = []
    if ours.num_qubits != ref.num_qubits:
        diffs.append(("num_qubits", ours.num_qubits, ref.num_qubits))
    if not _close(ours.dt, ref.dt):
        diffs.append(("dt", ours.dt, ref.dt))
    for key in ("granularity", "min_length", "pulse_alignment", "acquire_alignment"):
        if getattr(ours, key) != getattr(ref, key):
            diffs.append((key, getattr(ours, key), getattr(ref, key)))
    names_ours, names_ref = set(ours.operation_names), set(ref.operation_names)
    if names_ours != names_ref:
        # Only ours, only theirs; the instructions both have are still compared below.
        diffs.append(("operations", names_ours - names_ref, names_ref - names_ours))
    for name in sorted(names_ours & names_ref):
        a, b = ours.operation_from_name(name), ref.operation_from_name(name)
        if isinstance(a, type) or isinstance(b, type):
            if a != b:
                diffs.append(("class", name))
        elif (type(a), a.num_qubits, a.num_clbits, len(a.params)) != (
            type(b),
            b.num_qubits,
            b.num_clbits,
            len(b.params),
        ):
            diffs.append(("operation", name))
        qa, qb = ours.qargs_for_operation_name(name), ref.qargs_for_operation_name(name)
        if (qa is None) != (qb is None) or (qa is not None and set(qa) != set(qb)):
            diffs.append(("qargs", name))
            continue
        for qargs in qa or ():
            pa, pb = ours[name][qargs], ref[name][qargs]
            if (pa is None) != (pb is None):
                diffs.append(("props", name, qargs))
            elif pa is not None and not (
                _close(pa.error, pb.error) and _close(pa.duration, pb.duration)
            ):
                diffs.append(("values", name, qargs, pa, pb))
    qa_props, qb_props = ours.qubit_properties, ref.qubit_properties
    if (qa_props is None) != (qb_props is None):
        diffs.append(("qubit_properties", qa_props is None))
    elif qa_props is not None:
        for i, (x, y) in enumerate(zip(qa_props, qb_props, strict=True)):
            for field in ("t1", "t2", "frequency"):
                if not _close(getattr(x, field), getattr(y, field)):
                    diffs.append((field, i))
    return diffs


def _reference(
    conf: dict[str, Any],
    props: dict[str, Any] | None,
    *,
    use_fractional_gates: bool = True,
    **kwargs: Any,
) -> Target:
    """The official client's Target, decoded as ``QiskitRuntimeService.backend()`` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = configuration_from_server_data(
            copy.deepcopy(conf), use_fractional_gates=use_fractional_gates
        )
        properties = (
            properties_from_server_data(
                copy.deepcopy(props), use_fractional_gates=use_fractional_gates
            )
            if props
            else None
        )
        return convert_to_target(config, properties, **kwargs)


def _read(conf_path: str, props_path: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    with open(conf_path) as handle:
        conf = json.load(handle)
    props = None
    if props_path:
        with open(props_path) as handle:
            props = json.load(handle)
    return conf, props


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "conf_path", "props_path"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS]
)
def test_target_matches_reference(name: str, conf_path: str, props_path: str | None) -> None:
    """The fractional path: ``use_fractional_gates=True`` on both sides."""
    conf, props = _read(conf_path, props_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = build_target(conf, props)
    assert target_differences(ours, _reference(conf, props)) == []


@pytest.mark.slow
def test_snapshot_inventory_is_complete() -> None:
    assert len(SNAPSHOTS) == 68
    legacy = set()
    for name, conf_path, props_path in SNAPSHOTS:
        conf, _ = _read(conf_path, props_path)
        if {"u2", "u3"} & set(conf["basis_gates"]):
            legacy.add(name)
    assert legacy == LEGACY_EULER and len(legacy) == 10


@pytest.fixture(scope="module")
def snapshot_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QiskitRestProvider]:
    """A provider connected to a local service that serves every snapshot file."""
    folder = tmp_path_factory.mktemp("snapshots")
    for name, conf_path, props_path in SNAPSHOTS:
        (folder / f"conf_{name}.json").symlink_to(conf_path)
        if props_path:
            (folder / f"props_{name}.json").symlink_to(props_path)
    with running_server(backends_dir=folder, workers=0) as server:
        provider = server.provider()
        try:
            yield provider
        finally:
            provider.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "conf_path", "props_path"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS]
)
def test_default_path_matches_reference_but_keeps_legacy_euler_gates(
    snapshot_provider: QiskitRestProvider, name: str, conf_path: str, props_path: str | None
) -> None:
    """``provider.backend(name).target`` over HTTP vs ``QiskitRuntimeService.backend(name)``'s
    decoding, both with ``use_fractional_gates=False``: the only difference anywhere is the
    ``u2``/``u3`` we keep on the ten legacy devices."""
    conf, props = _read(conf_path, props_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = snapshot_provider.backend(conf["backend_name"])
        assert not backend.use_fractional_gates  # the default
        ours = backend.target
    ref = _reference(conf, props, use_fractional_gates=False)
    expected = [("operations", {"u2", "u3"}, set())] if name in LEGACY_EULER else []
    assert target_differences(ours, ref) == expected


def test_legacy_euler_device_stays_universal_on_the_default_path(
    snapshot_provider: QiskitRestProvider,
) -> None:
    """Why we keep ``u2``/``u3``: without them a Hadamard cannot be expressed at all."""
    conf, props = _load("almaden")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = snapshot_provider.backend(conf["backend_name"]).target
        out = transpile(qc, target=ours, optimization_level=1, seed_transpiler=1)
        assert set(out.count_ops()) <= {"u1", "u2", "u3", "cx", "id"}
        ref = _reference(conf, props, use_fractional_gates=False)
        assert {"u2", "u3"}.isdisjoint(ref.operation_names)
        with pytest.raises(TranspilerError):
            transpile(qc, target=ref, optimization_level=1, seed_transpiler=1)


def _load(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = os.path.join(BASE, name)
    with open(glob.glob(os.path.join(folder, "conf_*.json"))[0]) as handle:
        conf = json.load(handle)
    with open(glob.glob(os.path.join(folder, "props_*.json"))[0]) as handle:
        props = json.load(handle)
    return conf, props


def test_fractional_gates_dropped_when_not_included() -> None:
    conf, props = _load("fractional")
    ours = build_target(conf, props, include_fractional_gates=False)
    ref = _reference(conf, props, include_fractional_gates=False)
    assert "rzz" not in ours.operation_names and "rx" not in ours.operation_names
    assert target_differences(ours, ref) == []


def test_rzz_transpiles_without_official_wrapper_registry() -> None:
    conf, props = _load("fractional")
    target = build_target(conf, props)
    qc = QuantumCircuit(2)
    qc.rzz(2.5, 0, 1)
    out = transpile(qc, target=target, optimization_level=1, seed_transpiler=3)
    for inst in out.data:
        if inst.operation.name == "rzz":
            assert 0 <= float(inst.operation.params[0]) <= math.pi / 2 + 1e-9


def test_faulty_qubit_and_gate_are_filtered() -> None:
    conf, props = _load("lagos")
    props = copy.deepcopy(props)
    props["qubits"][1].append(
        {"date": "2024-01-01T00:00:00Z", "name": "operational", "unit": "", "value": 0}
    )
    gate = next(g for g in props["gates"] if g["gate"] == "cx" and g["qubits"] == [3, 5])
    gate["parameters"].append(
        {"date": "2024-01-01T00:00:00Z", "name": "operational", "unit": "", "value": 0}
    )
    ours = build_target(conf, props)
    assert target_differences(ours, _reference(conf, props)) == []
    assert (1,) not in ours["measure"] and (3, 5) not in ours["cx"]
    assert ours.qubit_properties[1] is not None


def test_short_qubit_list_gives_missing_calibration_not_a_crash() -> None:
    conf, props = _load("lagos")
    props = copy.deepcopy(props)
    props["qubits"] = props["qubits"][:5]
    target = build_target(conf, props)
    assert target.num_qubits == 7
    assert target.qubit_properties[6].t1 is None
    assert target["measure"][(6,)].error is None


def test_dt_unit_is_converted_and_unknown_unit_is_a_clear_error() -> None:
    conf, props = _load("lagos")
    props = copy.deepcopy(props)
    entry = next(g for g in props["gates"] if g["gate"] == "sx" and g["qubits"] == [0])
    length = next(p for p in entry["parameters"] if p["name"] == "gate_length")
    length.update(unit="dt", value=160)
    target = build_target(conf, props)
    assert math.isclose(target["sx"][(0,)].duration, 160 * conf["dt"] * 1e-9)
    length.update(unit="bogus")
    with pytest.raises(BackendDataError, match="bogus"):
        build_target(conf, props)


def test_box_and_unknown_names_are_dropped_with_a_warning() -> None:
    conf, props = _load("lagos")
    conf = copy.deepcopy(conf)
    conf["supported_instructions"].append("box")
    conf["basis_gates"].append("mystery")
    with pytest.warns(RuntimeWarning, match="mystery"):
        target = build_target(conf, props)
    assert "box" not in target.operation_names and "mystery" not in target.operation_names


def test_no_coupling_map_and_no_properties_gives_global_gates() -> None:
    conf, _ = _load("lagos")
    conf = copy.deepcopy(conf)
    for gate in conf["gates"]:
        gate.pop("coupling_map", None)
    target = build_target(conf, None)
    assert target.build_coupling_map() is None
    assert target.qubit_properties is None


@pytest.mark.parametrize(
    "bad", [{"n_qubits": 2}, {"backend_name": "x", "n_qubits": -1, "basis_gates": []}, []]
)
def test_malformed_configuration_is_a_clear_error(bad: Any) -> None:
    with pytest.raises(BackendDataError):
        build_target(bad, None)
