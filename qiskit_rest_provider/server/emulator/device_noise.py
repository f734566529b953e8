"""The noise of one device calibration, as quantum channels.

Everything the emulator knows about a device's noise comes from its ``/properties``:

* **Gates.** A calibrated ``gate_error`` is an average gate infidelity (what randomized
  benchmarking measures) and already contains the relaxation the qubits suffer while the gate
  plays. Each gate therefore gets thermal relaxation over its ``gate_length`` (T1, T2 of each of
  its qubits) *composed with* a depolarizing channel whose strength is derived so that the
  composition's average gate infidelity equals the calibrated error exactly, as Aer's device
  noise model does (``qiskit_aer.noise.device.basic_device_gate_errors``). With process
  fidelities, for ``d = 2**n``: ``F_pro(D_p o R) = (1 - p) F_pro(R) + p / d**2`` and
  ``F_avg = (d F_pro + 1) / (d + 1)``, so ``p = (F_pro(R) - F_target) / (F_pro(R) - 1 / d**2)``
  with ``F_target = ((d + 1)(1 - error) - 1) / d``. Where relaxation alone exceeds the calibrated
  error, ``p = 0`` (the calibration is then relaxation-limited).
* **Idle time.** Thermal relaxation with the qubit's T1 and T2 (T2 capped at 2 T1) over every
  idle window and every ``delay`` (see :mod:`.idle_noise`).
* **Static ZZ.** Coupled transmons keep a residual ``|11>`` energy shift ``zeta`` (Hz); with
  qubit frequencies calibrated while the neighbours rest in ``|0>``, idling for ``t`` applies
  ``diag(1, 1, 1, exp(-2 pi i zeta t))``, a controlled phase: no effect next to a qubit in
  ``|0>``, a coherent error next to an excited or superposed one. Strengths are read from the
  calibration's ``general`` entries ``zz_<a>_<b>`` (GHz, as IBM's ``zz_<ab>`` entries); the
  synthetic devices carry seeded values typical of their processor family.
* **Readout.** Per-qubit assignment matrix from ``prob_meas1_prep0`` / ``prob_meas0_prep1``
  (``readout_error`` for both where those are absent), applied to the measured bits.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.quantum_info import average_gate_fidelity

from ...core.properties import BackendProperties

__all__ = ["DeviceNoise", "GateCalibration", "depolarizing_parameter"]

#: ``general`` entry names that carry a static ZZ strength: ``zz_<a>_<b>``.
_ZZ_NAME = re.compile(r"^zz_(\d+)_(\d+)$")
#: Units the ZZ strengths may come in, to Hz.
_FREQUENCY_UNITS = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}


@dataclass(frozen=True)
class GateCalibration:
    """One gate's calibration on one tuple of qubits."""

    error: float
    """Average gate infidelity (0 when not reported)."""
    duration: float
    """Seconds (0 for virtual gates such as ``rz``)."""


def depolarizing_parameter(error: float, relaxation_fidelity: float, num_qubits: int) -> float:
    """The depolarizing parameter ``p`` (Aer's ``depolarizing_error(p, n)``) that, composed with
    a channel of process fidelity ``relaxation_fidelity``, gives average gate infidelity
    ``error`` (0 when relaxation alone exceeds it; at most the fully depolarizing value)."""
    d = 2**num_qubits
    target = ((d + 1) * (1 - error) - 1) / d
    denominator = relaxation_fidelity - 1 / d**2
    if denominator <= 0:
        return 0.0
    p = (relaxation_fidelity - target) / denominator
    return float(min(max(p, 0.0), d**2 / (d**2 - 1)))


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class DeviceNoise:
    """The calibrated noise of one device, for the emulator (SI units throughout).

    Args:
        properties: The calibration.
        static_zz: Use the calibration's static ZZ strengths (False: none).
    """

    def __init__(self, properties: BackendProperties, *, static_zz: bool = True) -> None:
        self._props = properties
        num_qubits = len(properties.qubits)
        self.num_qubits = num_qubits
        """Qubits the calibration describes."""
        t1 = np.array([properties.t1(q) or np.nan for q in range(num_qubits)], dtype=float)
        t2 = np.array([properties.t2(q) or np.nan for q in range(num_qubits)], dtype=float)
        self.t1: npt.NDArray[np.float64] = t1
        """T1 per qubit, seconds (NaN when not reported: no relaxation)."""
        self.t2: npt.NDArray[np.float64] = np.minimum(t2, 2 * t1)
        """T2 per qubit, seconds, capped at 2 T1 (NaN when not reported)."""
        p01 = np.zeros(num_qubits)
        p10 = np.zeros(num_qubits)
        for q in range(num_qubits):
            a, b = properties.prob_meas0_prep1(q), properties.prob_meas1_prep0(q)
            if a is None or b is None:
                a = b = properties.readout_error(q) or 0.0
            p01[q], p10[q] = min(max(a, 0.0), 0.5), min(max(b, 0.0), 0.5)
        self.p01: npt.NDArray[np.float64] = p01
        """P(read 0 | prepared 1) per qubit."""
        self.p10: npt.NDArray[np.float64] = p10
        """P(read 1 | prepared 0) per qubit."""
        self.readout_length: npt.NDArray[np.float64] = np.array(
            [properties.readout_length(q) or 0.0 for q in range(num_qubits)], dtype=float
        )
        """Measurement duration per qubit, seconds."""
        self.zz: dict[tuple[int, int], float] = self._read_zz() if static_zz else {}
        """Static ZZ strength (Hz) per coupled pair ``(a, b)`` with ``a < b``."""

    def _read_zz(self) -> dict[tuple[int, int], float]:
        out: dict[tuple[int, int], float] = {}
        for entry in self._props.general:
            match = _ZZ_NAME.match(str(entry.get("name", "")))
            value = _float(entry.get("value"))
            if match is None or value is None:
                continue
            scale = _FREQUENCY_UNITS.get(str(entry.get("unit", "GHz")).lower())
            a, b = int(match.group(1)), int(match.group(2))
            if scale is None or a == b or max(a, b) >= self.num_qubits:
                continue
            out[(min(a, b), max(a, b))] = value * scale
        return out

    # -- gates ---------------------------------------------------------------------------------

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one DeviceNoise per calibration, cached
    def gate(self, name: str, qubits: tuple[int, ...]) -> GateCalibration | None:
        """The calibration of ``name`` on ``qubits`` (None: the device reports none)."""
        try:
            params = self._props.gate_property(name, qubits)
        except KeyError:
            return None
        error = params.get("gate_error")
        length = params.get("gate_length")
        return GateCalibration(
            error=min(max(_float(error[0]) or 0.0, 0.0), 1.0) if error else 0.0,
            duration=max(_float(length[0]) or 0.0, 0.0) if length else 0.0,
        )

    def relaxes(self, qubit: int) -> bool:
        """Whether ``qubit`` has T1 and T2 to relax with."""
        return bool(np.isfinite(self.t1[qubit]) and np.isfinite(self.t2[qubit]))

    def relaxation(self, qubit: int, duration: float) -> Any:
        """Thermal relaxation of ``qubit`` over ``duration`` seconds (None: nothing to apply)."""
        from qiskit_aer.noise import thermal_relaxation_error

        if duration <= 0 or not self.relaxes(qubit):
            return None
        return thermal_relaxation_error(float(self.t1[qubit]), float(self.t2[qubit]), duration)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one DeviceNoise per calibration, cached
    def gate_channel(self, name: str, qubits: tuple[int, ...]) -> Any:
        """The error channel that follows an ideal ``name`` on ``qubits`` (an Aer
        ``QuantumError`` on ``len(qubits)`` qubits, or None for an error-free gate): relaxation
        over the gate's length composed with the depolarizing part that makes the total
        average infidelity the calibrated one."""
        from qiskit_aer.noise import depolarizing_error

        cal = self.gate(name, qubits)
        if cal is None or (cal.error <= 0 and cal.duration <= 0):
            return None
        relax = None
        if cal.duration > 0 and all(self.relaxes(q) for q in qubits):
            parts = [self.relaxation(q, cal.duration) for q in qubits]
            relax = parts[0]
            for part in parts[1:]:
                relax = part.tensor(relax)  # qubit 0 of the gate is the least significant
        n = len(qubits)
        d = 2**n
        relax_fidelity = 1.0
        if relax is not None:
            relax_fidelity = ((d + 1) * average_gate_fidelity(relax.to_quantumchannel()) - 1) / d
        p = depolarizing_parameter(cal.error, relax_fidelity, n) if cal.error > 0 else 0.0
        if p <= 0:
            return relax
        depolarizing = depolarizing_error(p, n)
        return depolarizing if relax is None else relax.compose(depolarizing)

    # -- readout -------------------------------------------------------------------------------

    def apply_readout(
        self,
        bits: npt.NDArray[np.uint8],
        qubits: Iterable[int],
        rng: np.random.Generator,
    ) -> npt.NDArray[np.uint8]:
        """``bits`` (..., len(qubits)) as read out: each 0 flips with P(1|0) and each 1 with
        P(0|1) of the qubit it was measured on."""
        index = np.asarray(list(qubits), dtype=np.intp)
        flip_probability = np.where(bits == 1, self.p01[index], self.p10[index])
        flips = rng.random(bits.shape) < flip_probability
        return np.asarray(bits ^ flips, dtype=np.uint8)

    def zz_on(self, qubits: Iterable[int]) -> Mapping[tuple[int, int], float]:
        """The static ZZ strengths (Hz) between the given qubits."""
        chosen = set(qubits)
        return {pair: zeta for pair, zeta in self.zz.items() if set(pair) <= chosen}
