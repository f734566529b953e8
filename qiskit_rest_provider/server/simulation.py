"""Run sampler, estimator and executor jobs on the device emulator (:mod:`.emulator`).

Each job runs on a :class:`~.emulator.engine.DeviceEmulator` built from the device's
calibration (cached per calibration and emulator settings in each worker process): circuits
are reduced to the qubits they use, scheduled with the calibrated durations, and simulated on
Aer with every gate's, idle window's and readout's calibrated noise, static ZZ on the
synthetic devices, and the twirling, dynamical decoupling and error mitigation the job's
options ask for. The simulator device (no calibration) is noiseless.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.codec.pubs import decode_pubs
from ..core.codec.results import encode_result
from ..core.properties import BackendProperties
from ..wire.constants import DEFAULT_PRECISION, DEFAULT_SHOTS, EXECUTOR_PROGRAM
from ..wire.options import DEFAULT_RESILIENCE_LEVEL
from .emulator.device_noise import DeviceNoise
from .emulator.engine import DeviceEmulator
from .emulator.estimator import run_estimator
from .emulator.sampler import run_sampler

__all__ = ["EmulatorSettings", "emulator_for", "execute_job"]


@dataclass(frozen=True)
class EmulatorSettings:
    """Switches of the device emulation (the service's, not a job's)."""

    static_zz: bool = True
    """Coherent ZZ between coupled idle qubits, from the calibration's ``zz_<a>_<b>``."""
    idle_noise: bool = True
    """Relaxation (and ZZ) during idle windows and delays."""
    max_job_memory_bytes: int | None = None
    """Bytes one job's simulation may hold (None: :func:`.emulator.methods.default_job_memory`
    for one worker)."""


#: Emulators of the calibrations seen by this process, by (key, settings).
_EMULATORS: dict[tuple[str, EmulatorSettings], DeviceEmulator] = {}


def emulator_for(
    configuration: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    calibration_key: str | None = None,
    settings: EmulatorSettings | None = None,
) -> DeviceEmulator:
    """The emulator of a device calibration (cached by ``calibration_key``)."""
    settings = settings or EmulatorSettings()
    if not properties:
        return DeviceEmulator(None, None, memory_budget=settings.max_job_memory_bytes)
    key = (
        calibration_key
        or "sha256/" + hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()
    )
    emulator = _EMULATORS.get((key, settings))
    if emulator is None:
        if len(_EMULATORS) >= 32:
            _EMULATORS.clear()
        noise = DeviceNoise(BackendProperties(properties), static_zz=settings.static_zz)
        dt_ns = configuration.get("dt")
        coupling = [tuple(pair) for pair in configuration.get("coupling_map") or []]
        emulator = DeviceEmulator(
            noise,
            float(dt_ns) * 1e-9 if dt_ns else None,
            [(int(a), int(b)) for a, b in coupling],
            idle_noise=settings.idle_noise,
            memory_budget=settings.max_job_memory_bytes,
        )
        _EMULATORS[(key, settings)] = emulator
    return emulator


def execute_job(
    program: str,
    params: Mapping[str, Any],
    configuration: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    calibration_key: str | None = None,
    settings: EmulatorSettings | None = None,
) -> tuple[str, dict[str, Any]]:
    """Run a job. Returns ``(result_text, metrics)``. Raises ``ValueError`` for bad input.

    ``calibration_key`` names ``properties`` uniquely (device/calibration id) so this process
    parses each calibration and builds its emulator once.
    """
    options = dict(params.get("options") or {})
    sim = dict(options.get("simulator") or {})
    emulator = emulator_for(configuration, properties, calibration_key, settings)
    num_qubits = int(configuration["n_qubits"])
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    result: Any
    if program == EXECUTOR_PROGRAM:
        from .executor.run import run_program

        text = run_program(params, emulator)
        elapsed = time.perf_counter() - t0
        return text, {"circuits_execution_time_ns": int(elapsed * 1e9)}
    if program == "sampler":
        default_shots = params.get("shots") or options.get("default_shots") or DEFAULT_SHOTS
        pubs = decode_pubs(
            program, params["pubs"], num_qubits=num_qubits, default_shots=int(default_shots)
        )
        result = run_sampler(pubs, emulator, options, sim.get("seed_simulator"), started)
    else:
        precision = params.get("precision") or options.get("default_precision") or DEFAULT_PRECISION
        pubs = decode_pubs(
            program, params["pubs"], num_qubits=num_qubits, default_precision=float(precision)
        )
        seed = options.get("seed_estimator", sim.get("seed_simulator"))
        level = params.get("resilience_level")
        level = DEFAULT_RESILIENCE_LEVEL if level is None else int(level)
        max_shots = int(configuration.get("max_shots") or 1_000_000)
        result = run_estimator(
            pubs, emulator, options, level, seed, options.get("default_shots"), max_shots
        )
    elapsed = time.perf_counter() - t0
    return encode_result(result), {"circuits_execution_time_ns": int(elapsed * 1e9)}
