"""Build a Qiskit :class:`~qiskit.transpiler.Target` from configuration and properties JSON.

Rules (see the project's backend notes):

* Instructions: ``basis_gates`` ∪ (``supported_instructions`` ∩ {measure, reset, delay}) ∪
  (``supported_instructions`` ∩ control flow) ∪ ``instruction_signatures``. An absent or empty
  ``supported_instructions`` means ``[measure, reset, delay]``. The top-level ``coupling_map``
  is not used; connectivity comes from ``gates[].coupling_map`` and the properties.
* Per-qarg ``InstructionProperties(error=gate_error, duration=gate_length)`` in SI units;
  ``measure`` always comes from the qubits' ``readout_error``/``readout_length``.
* Faulty qubits and gates (``operational`` false) are removed; error-1.0 couplers are kept.
* ``rzz`` carries the angle bound ``[0, π/2]``; a wrapper that folds other angles into it is
  registered with the transpiler (:mod:`qiskit_rest_provider.core.rzz`).
* Malformed data gives :class:`~qiskit_rest_provider.errors.BackendDataError`, never a crash
  deep inside Qiskit. A properties ``qubits`` list shorter than ``n_qubits`` leaves the missing
  qubits without calibration data.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

from qiskit.circuit import Gate, Instruction, Parameter
from qiskit.circuit.controlflow import ForLoopOp, IfElseOp, SwitchCaseOp, WhileLoopOp
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.providers.backend import QubitProperties
from qiskit.transpiler import InstructionProperties, Target

from ..errors import BackendDataError
from .configuration import BackendConfiguration, is_fractional_name
from .properties import BackendProperties

__all__ = ["CONTROL_FLOW_CLASSES", "build_target"]

logger = logging.getLogger(__name__)

#: The control-flow instructions a configuration may list (``if_else``, ``while_loop``, ...),
#: by name: the Target offers them as classes on every qubit.
CONTROL_FLOW_CLASSES: dict[str, type[Instruction]] = {
    "if_else": IfElseOp,
    "while_loop": WhileLoopOp,
    "for_loop": ForLoopOp,
    "switch_case": SwitchCaseOp,
}
_NON_UNITARY = frozenset({"measure", "reset", "delay"})
_CONTROL_FLOW_NAMES = frozenset({*CONTROL_FLOW_CLASSES, "box"})
RZZ_ANGLE_BOUNDS = [(0.0, math.pi / 2)]

_STANDARD: dict[str, Instruction] | None = None


def _standard_gates() -> dict[str, Instruction]:
    global _STANDARD
    if _STANDARD is None:
        _STANDARD = get_standard_gate_name_mapping()
    return _STANDARD


def _int_tuple(qargs: Any, where: str) -> tuple[int, ...]:
    try:
        return tuple(int(q) for q in qargs)
    except (TypeError, ValueError):
        raise BackendDataError(f"{where}: bad qubit list {qargs!r}") from None


def build_target(
    configuration: BackendConfiguration | Mapping[str, Any],
    properties: BackendProperties | Mapping[str, Any] | None = None,
    *,
    include_control_flow: bool = True,
    include_fractional_gates: bool = True,
    filter_faulty: bool = True,
    add_delay: bool = True,
    custom_name_mapping: Mapping[str, Instruction] | None = None,
) -> Target:
    """Build the Target of a backend.

    Args:
        configuration: The ``/configuration`` JSON (or a :class:`BackendConfiguration`).
        properties: The ``/properties`` JSON (or :class:`BackendProperties`); ``None`` or ``{}``
            for a backend without calibration data (every instruction is then ideal).
        include_control_flow: Add the control-flow operations the backend supports.
        include_fractional_gates: Keep fractional gates (``rx``, ``rzz``, ...).
        filter_faulty: Drop qubits and gates whose calibration says they are not operational.
        add_delay: Add ``delay`` when the backend supports it.
        custom_name_mapping: Objects for instruction names Qiskit does not know.

    Raises:
        BackendDataError: the data cannot describe a Target.
    """
    config = (
        configuration
        if isinstance(configuration, BackendConfiguration)
        else BackendConfiguration(configuration)
    )
    num_qubits = config.n_qubits
    calibration = _calibration(properties, config.get("dt"))
    gate_configs = _gate_configs(config)
    # Warnings for unknown instructions point at build_target's caller (two frames up).
    objects = _instruction_objects(
        config, gate_configs, custom_name_mapping, include_control_flow, include_fractional_gates
    )
    props_map = _seeded_qargs(objects, gate_configs)
    qubit_properties: list[QubitProperties] | None = None
    faulty: set[int] = set()
    if calibration is not None:
        if filter_faulty:
            faulty = {q for q in calibration.faulty_qubits() if q < num_qubits}
        qubit_properties = _qubit_properties(calibration, num_qubits)
        _add_gate_properties(props_map, objects, calibration, num_qubits, faulty, filter_faulty)
        measure = _measure_properties(calibration, num_qubits, faulty)
        if "measure" in props_map:
            props_map["measure"] = measure
    # Non-unitary instructions with no calibrated qargs act on every working qubit.
    for name in _NON_UNITARY & set(config.supported_instructions):
        if name in props_map and props_map[name] is None:
            props_map[name] = {(q,): None for q in range(num_qubits) if q not in faulty}
    return _assemble(config, objects, props_map, qubit_properties, add_delay=add_delay)


def _calibration(
    properties: BackendProperties | Mapping[str, Any] | None, dt: Any
) -> BackendProperties | None:
    """The properties to use, or None when there is no calibration data (no qubit and no gate
    rows): every instruction is then ideal."""
    if properties is not None and not isinstance(properties, BackendProperties):
        properties = BackendProperties(properties, dt=dt) if properties else None
    if properties is not None and not (
        properties.to_dict().get("qubits") or properties.to_dict().get("gates")
    ):
        properties = None
    return properties


def _gate_configs(config: BackendConfiguration) -> dict[str, Mapping[str, Any]]:
    """The configuration's ``gates`` entries by name (malformed entries are skipped)."""
    gate_configs: dict[str, Mapping[str, Any]] = {}
    for entry in config.to_dict().get("gates") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            gate_configs[entry["name"]] = entry
    return gate_configs


def _instruction_objects(
    config: BackendConfiguration,
    gate_configs: Mapping[str, Mapping[str, Any]],
    custom_name_mapping: Mapping[str, Instruction] | None,
    include_control_flow: bool,
    include_fractional_gates: bool,
) -> dict[str, Instruction | type[Instruction]]:
    """The Target's instructions by name, in the order they are added: the basis, the
    supported non-unitary and control-flow instructions (sorted), then the instruction
    signatures."""
    name_map: dict[str, Instruction] = _standard_gates()
    if custom_name_mapping:
        name_map = {**name_map, **custom_name_mapping}
    supported = set(config.supported_instructions)
    names = set(config.basis_gates) | (supported & _NON_UNITARY) | (supported & _CONTROL_FLOW_NAMES)
    objects: dict[str, Instruction | type[Instruction]] = {}
    for name in sorted(names):
        if name in CONTROL_FLOW_CLASSES:
            if include_control_flow:
                objects[name] = CONTROL_FLOW_CLASSES[name]
            continue
        if name in name_map:
            if not include_fractional_gates and is_fractional_name(name):
                continue
            objects[name] = name_map[name]
        elif name in gate_configs:
            entry = gate_configs[name]
            cmap = entry.get("coupling_map") or []
            params = [Parameter(str(p)) for p in entry.get("parameters") or []]
            width = len(cmap[0]) if cmap else 0
            objects[name] = Gate(name=name, num_qubits=width, params=params)
        else:
            warnings.warn(
                f"Backend {config.backend_name}: no definition for instruction {name!r}; "
                "it is left out of the Target (pass custom_name_mapping to provide one).",
                RuntimeWarning,
                stacklevel=3,  # build_target's caller
            )
    for signature in config.to_dict().get("instruction_signatures") or []:
        if not isinstance(signature, Mapping) or not isinstance(signature.get("name"), str):
            raise BackendDataError(f"malformed instruction signature {signature!r}")
        try:
            objects[signature["name"]] = Instruction(
                name=signature["name"],
                num_qubits=int(signature.get("num_qubits", 0)),
                num_clbits=int(signature.get("num_clbits", 0)),
                params=[Parameter(str(p)) for p in signature.get("parameters") or []],
            )
        except (TypeError, ValueError) as exc:
            raise BackendDataError(f"instruction signature {signature['name']}: {exc}") from None
    return objects


_PropsMap = dict[str, dict[tuple[int, ...], InstructionProperties | None] | None]


def _seeded_qargs(
    objects: Mapping[str, Instruction | type[Instruction]],
    gate_configs: Mapping[str, Mapping[str, Any]],
) -> _PropsMap:
    """Qargs → properties per instruction, seeded (without properties) from the gate
    configuration's coupling maps; None where no coupling map is given (all qubits)."""
    props_map: _PropsMap = {}
    for name in objects:
        cmap = gate_configs.get(name, {}).get("coupling_map")
        props_map[name] = {_int_tuple(q, f"gate {name}"): None for q in cmap} if cmap else None
    return props_map


def _qubit_properties(properties: BackendProperties, num_qubits: int) -> list[QubitProperties]:
    """T1, T2 and frequency per qubit (None where the properties have no row or value)."""
    qubit_rows = properties.qubits
    qubit_properties = []
    none3: tuple[None, None] = (None, None)
    for q in range(num_qubits):
        p = qubit_rows[q] if q < len(qubit_rows) else {}
        qubit_properties.append(
            QubitProperties(
                t1=p.get("T1", none3)[0],
                t2=p.get("T2", none3)[0],
                frequency=p.get("frequency", none3)[0],
            )
        )
    return qubit_properties


def _add_gate_properties(
    props_map: _PropsMap,
    objects: Mapping[str, Instruction | type[Instruction]],
    properties: BackendProperties,
    num_qubits: int,
    faulty: set[int],
    filter_faulty: bool,
) -> None:
    """Fill ``props_map`` with each gate's calibrated error and duration per qargs, dropping
    (when ``filter_faulty``) qargs on faulty qubits and non-operational gates."""
    gates = properties.gates
    for name in objects:
        entries = gates.get(name)
        if not entries or name in CONTROL_FLOW_CLASSES:
            continue
        current = props_map[name]
        if current is None:
            current = props_map[name] = {}
        for qargs, values in entries.items():
            if filter_faulty and (
                (faulty and not faulty.isdisjoint(qargs))
                or ("operational" in values and not values["operational"][0])
            ):
                current.pop(qargs, None)
                continue
            if any(q >= num_qubits or q < 0 for q in qargs):
                raise BackendDataError(
                    f"properties of gate {name} name qubits {list(qargs)} "
                    f"outside 0..{num_qubits - 1}"
                )
            error = values.get("gate_error")
            length = values.get("gate_length")
            current[qargs] = InstructionProperties(
                error=None if error is None else error[0],
                duration=None if length is None else length[0],
            )


def _measure_properties(
    properties: BackendProperties, num_qubits: int, faulty: set[int]
) -> dict[tuple[int, ...], InstructionProperties | None]:
    """``measure`` per working qubit, from the qubits' ``readout_error``/``readout_length``."""
    qubit_rows = properties.qubits
    measure: dict[tuple[int, ...], InstructionProperties | None] = {}
    for q in range(num_qubits):
        if q in faulty:
            continue
        p = qubit_rows[q] if q < len(qubit_rows) else {}
        error = p.get("readout_error")
        length = p.get("readout_length")
        measure[(q,)] = InstructionProperties(
            error=None if error is None else error[0],
            duration=None if length is None else length[0],
        )
    return measure


def _assemble(
    config: BackendConfiguration,
    objects: Mapping[str, Instruction | type[Instruction]],
    props_map: _PropsMap,
    qubit_properties: list[QubitProperties] | None,
    *,
    add_delay: bool,
) -> Target:
    """The Target itself: width, ``dt``, timing constraints, qubit properties, then every
    instruction with its properties (Qiskit's own refusals become BackendDataError)."""
    target_kwargs: dict[str, Any] = {"num_qubits": config.n_qubits}
    dt = config.get("dt")
    if dt is not None:
        target_kwargs["dt"] = dt
    for key, value in config.timing_constraints.items():
        if key in ("granularity", "min_length", "pulse_alignment", "acquire_alignment"):
            target_kwargs[key] = int(value)
    if qubit_properties is not None:
        target_kwargs["qubit_properties"] = qubit_properties
    try:
        target = Target(**target_kwargs)
        for name, obj in objects.items():
            if name == "delay" and not add_delay:
                continue
            if isinstance(obj, type):
                target.add_instruction(obj, name=name)
            else:
                target.add_instruction(
                    obj,
                    properties=props_map.get(name),
                    name=name,
                    angle_bounds=RZZ_ANGLE_BOUNDS if name == "rzz" else None,
                )
    except (TypeError, ValueError, AttributeError) as exc:  # Qiskit rejected the data
        raise BackendDataError(f"backend {config.backend_name}: {exc}") from exc
    if "rzz" in objects:
        from .rzz import register_rzz_wrapper

        register_rzz_wrapper()
    return target
