"""The sampler on the emulator: twirled, decoupled, noisy shots as IBM's SamplerV2 returns them.

Per pub: the circuit is reduced to the qubits it uses, twirled into its randomizations
(:mod:`.twirling`, ``twirling`` options), each randomization prepared with the device's noise
and decoupling (:mod:`.engine`), and all randomizations times all parameter bindings run in
one simulator call with ``shots_per_randomization`` shots each. Readout error is then applied
to the true bits with the calibrated assignment probabilities and the measurement frames are
undone. With ``meas_type`` ``"kerneled"`` / ``"avg_kerneled"`` the true bits are turned into IQ
points instead (:mod:`.iq`), whose discrimination reproduces the same assignment errors.

``num_randomizations x shots_per_randomization`` shots run per binding (randomization after
randomization); the data hold the pub's ``shots`` of them (the first ones), and the execution
span is a ``TwirledSliceSpanV2`` that says so, as IBM returns them.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers import SamplerPub

from ...core.execution_span import DoubleSliceSpan, ExecutionSpans, TwirledSliceSpanV2
from .circuits import active_qubits, clbit_qubits, compact
from .engine import RUN_SHOT_LIMIT, DeviceEmulator, Prepared
from .iq import IQModel, kerneled_data
from .methods import requested_method
from .plan import (
    MAX_SIMULATED_SHOTS,
    decoupling_metadata,
    decoupling_plan,
    twirling_metadata,
    twirling_plan,
)
from .twirling import TwirledCircuits, twirl_circuits

__all__ = ["RANDOMIZATION_CHUNK", "bindings", "run_sampler"]

#: Randomizations prepared and simulated together (one simulator call each chunk).
RANDOMIZATION_CHUNK = 64


def bindings(
    pub_parameters: Any, circuit: Any
) -> tuple[dict[Any, npt.NDArray[np.float64]] | None, int]:
    """A pub's parameter values as ``{parameter: values}`` over its flattened bindings (None
    when the circuit has no parameters), and the number of bindings."""
    count = max(1, math.prod(pub_parameters.shape))
    if not circuit.parameters:
        return None, count
    parameters = list(circuit.parameters)
    values = np.asarray(pub_parameters.as_array(parameters), dtype=float).reshape(
        count, len(parameters)
    )
    return {p: values[:, j] for j, p in enumerate(parameters)}, count


def run_sampler(
    pubs: Sequence[SamplerPub],
    emulator: DeviceEmulator,
    options: Mapping[str, Any],
    seed: int | None,
    started: _dt.datetime,
) -> PrimitiveResult[SamplerPubResult]:
    """Run sampler pubs on ``emulator`` under the job's ``options``."""
    rng = np.random.default_rng(seed)
    execution = options.get("execution") if isinstance(options.get("execution"), Mapping) else {}
    meas_type = str((execution or {}).get("meas_type") or "classified")
    decoupling = decoupling_plan(options)
    method = requested_method(options)
    results = []
    slices: dict[int, Any] = {}
    twirled_slices: dict[int, Any] = {}
    plans = []
    for i, pub in enumerate(pubs):
        plan = twirling_plan(options, pub.shots)
        plans.append(plan)
        # qubits that are only measured rest in |0>: their bits are filled in, not simulated
        keep = sorted(active_qubits(pub.circuit, delays_idle=True, measures_idle=True)) or [0]
        circuit = compact(pub.circuit, keep)
        if plan.enabled:
            twirled = twirl_circuits(
                circuit,
                plan.num_randomizations,
                rng,
                gates=plan.enable_gates,
                # a measured IQ point cannot be flipped back: kerneled data are not twirled
                measure=plan.enable_measure and meas_type == "classified",
                strategy=plan.strategy,
            )
        else:
            twirled = TwirledCircuits.untwirled(circuit)
        binds, count = bindings(pub.parameter_values, circuit)
        per = plan.shots_per_randomization
        simulated = count * len(twirled) * per
        if simulated > MAX_SIMULATED_SHOTS:
            raise ValueError(
                f"pub {i}: {count} parameter sets x {len(twirled)} randomizations x {per} shots "
                f"= {simulated} simulated shots, more than the emulator runs for one pub "
                f"({MAX_SIMULATED_SHOTS}); split the pub"
            )
        # a circuit without parameters still runs each parameter set's shots: in one run
        run_shots = per if binds is not None else per * count
        blocks: list[npt.NDArray[np.uint8]] = []
        summary: list[Prepared] = []
        # all randomizations as one parameterized circuit where they can be
        template, template_prepared = emulator.prepare_template(
            twirled, keep, decoupling=decoupling, shots=per, method=method
        )
        step = RANDOMIZATION_CHUNK
        if template is not None:
            step = max(1, min(step, RUN_SHOT_LIMIT // max(1, count * per)))
        # randomizations in chunks: a pub may ask for thousands of circuits
        for start in range(0, len(twirled), step):
            size = min(step, len(twirled) - start)
            seed = int(rng.integers(2**31))
            if template is not None and template_prepared is not None:
                run_binds = template.bindings(start, start + size, binds, count)
                [block] = emulator.run(
                    [template_prepared], [run_binds], per, seed, where=f"pub {i}"
                )
                blocks.extend(block.reshape(size, count, per, -1))
                pulses = template_prepared.decoupling_pulses * size
                summary.append(replace(template_prepared, decoupling_pulses=pulses))
                continue
            prepared = [
                emulator.prepare(c, keep, decoupling=decoupling, shots=per, method=method)
                for c in twirled[start : start + size]
            ]
            runs = emulator.run(
                prepared,
                None if binds is None else [binds] * len(prepared),
                run_shots,
                seed,
                where=f"pub {i}",
            )
            blocks.extend(block.reshape(count, per, -1) for block in runs)
            pulses = sum(p.decoupling_pulses for p in prepared)
            summary.append(replace(prepared[0], decoupling_pulses=pulses))
        # (bindings, randomizations, shots per randomization, clbits)
        true = np.stack(blocks, axis=1)
        clbit_qubit = clbit_qubits(pub.circuit)  # device qubits
        data = _pub_data(
            pub, circuit, true, twirled.measure_flips, clbit_qubit, emulator, rng, meas_type
        )
        metadata: dict[str, Any] = {"circuit_metadata": dict(pub.circuit.metadata or {})}
        if plan.enabled:
            metadata["num_randomizations"] = plan.num_randomizations
        metadata["emulator"] = _emulator_metadata(summary, emulator)
        results.append(SamplerPubResult(data, metadata=metadata))
        if plan.enabled:
            # IBM's layout: a randomization axis before the shots, cut to the pub's shots
            twirled_slices[i] = (
                (*pub.shape, plan.num_randomizations, plan.shots_per_randomization),
                False,
                slice(0, count * plan.num_randomizations),
                slice(0, plan.shots_per_randomization),
                min(pub.shots, plan.shots),
            )
        else:
            slices[i] = ((*pub.shape, pub.shots), slice(0, count), slice(0, pub.shots))
    stopped = _dt.datetime.now(_dt.timezone.utc)
    span_list: list[Any] = []
    if slices:
        span_list.append(DoubleSliceSpan(started, stopped, slices))
    if twirled_slices:
        span_list.append(TwirledSliceSpanV2(started, stopped, twirled_slices))
    spans = ExecutionSpans(span_list)
    meta: dict[str, Any] = {"execution": {"execution_spans": spans}, "version": 2}
    if plans:
        meta["twirling"] = twirling_metadata(options, plans[0])
        meta["dynamical_decoupling"] = decoupling_metadata(options)
    return PrimitiveResult(results, metadata=meta)


def _emulator_metadata(prepared: Sequence[Prepared], emulator: DeviceEmulator) -> dict[str, Any]:
    """What the emulator did to a pub (not an IBM field; documented in local_service.md)."""
    return {
        "noise": emulator.noise is not None,
        "scheduled": all(p.scheduled for p in prepared) and emulator.noise is not None,
        "idle_noise": emulator.idle_noise and all(p.scheduled for p in prepared),
        "static_zz": bool(emulator.noise is not None and emulator.noise.zz),
        "decoupling_pulses": sum(p.decoupling_pulses for p in prepared),
        "method": prepared[0].method if prepared else "automatic",
        "approximation": prepared[0].approximation if prepared else "noiseless",
        "pauli_twirled_noise": any(p.method == "stabilizer" for p in prepared),
    }


def _pub_data(
    pub: SamplerPub,
    circuit: Any,
    true: npt.NDArray[np.uint8],
    flips: npt.NDArray[np.uint8],
    clbit_qubit: Sequence[int | None],
    emulator: DeviceEmulator,
    rng: np.random.Generator,
    meas_type: str,
) -> DataBin:
    count, randomizations, per, num_clbits = true.shape
    # as IBM: randomizations x shots per randomization are run, the pub's shots returned
    true = true.reshape(count, randomizations * per, num_clbits)[:, : pub.shots]
    run_flips = np.repeat(flips, per, axis=0)[: pub.shots]
    shots = true.shape[1]
    measured = [j for j, q in enumerate(clbit_qubit) if q is not None]
    physical = [q for q in clbit_qubit if q is not None]
    noise = emulator.noise
    shape = (*pub.shape, shots)
    fields: dict[str, Any] = {}
    if meas_type != "classified":
        average = meas_type == "avg_kerneled"
        model = _iq_model(emulator, clbit_qubit)
        flat = true.reshape(*shape, num_clbits)
        out_shape = (*pub.shape, num_clbits) if average else (*shape, num_clbits)
        points = np.zeros(out_shape, dtype=np.complex128)
        if measured:
            points[..., measured] = kerneled_data(flat[..., measured], model, rng, average=average)
        for creg in circuit.cregs:
            cols = [circuit.find_bit(b).index for b in creg]
            fields[creg.name] = points[..., cols]
        return DataBin(**fields, shape=pub.shape)
    bits = true.copy()
    if noise is not None and measured:
        bits[..., measured] = noise.apply_readout(true[..., measured], physical, rng)
    bits ^= run_flips[None, :, :]
    bits = bits.reshape(*shape, num_clbits)
    for creg in circuit.cregs:
        cols = [circuit.find_bit(b).index for b in creg]
        fields[creg.name] = BitArray.from_bool_array(bits[..., cols], order="little")
    return DataBin(**fields, shape=pub.shape)


def _iq_model(emulator: DeviceEmulator, clbit_qubit: Sequence[int | None]) -> Any:
    """The IQ clouds of the measured clbits, from their qubits' assignment errors."""
    noise = emulator.noise
    physical = [q for q in clbit_qubit if q is not None]
    index = np.asarray(physical, dtype=np.intp)
    if noise is None:
        p01 = p10 = np.zeros(len(physical))
    else:
        p01, p10 = noise.p01[index], noise.p10[index]
    return IQModel.from_assignment_errors(p01, p10, qubits=physical)
