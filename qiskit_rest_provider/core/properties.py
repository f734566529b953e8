"""Backend calibration data (the ``/properties`` JSON) with values in SI units.

Every measured value on the wire is an Nduv ``{"date", "name", "unit", "value"}``. Values are
converted to SI by their unit (``us`` → ×1e-6, ``ns`` → ×1e-9, ``GHz`` → ×1e9, ``dt`` → ×dt);
dates stay ISO strings until asked for, which keeps building a Target fast.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import BackendDataError
from ..wire.times import parse_iso

__all__ = ["BackendProperties", "parse_datetime", "unit_scale"]

Nduv = tuple[float, str | None]  # (SI value, ISO date)

_PREFIXES = {
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "μ": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
}
_UNPREFIXED = {"", "s", "Hz", "%"}


def unit_scale(unit: str | None, *, dt: float | None = None) -> float:
    """The factor that converts a value in ``unit`` to SI.

    Raises:
        BackendDataError: for a unit this library does not know (or ``dt`` without a known dt).
    """
    if not unit or unit in _UNPREFIXED or len(unit) == 1:
        return 1.0
    if unit == "dt":
        if dt is None:
            raise BackendDataError("a value is given in 'dt' but the backend has no dt")
        return dt
    scale = _PREFIXES.get(unit[0])
    if scale is None:
        raise BackendDataError(f"unknown unit {unit!r}")
    return scale


def parse_datetime(value: str | None) -> _dt.datetime | None:
    """Parse an ISO-8601 timestamp (``Z`` or an offset allowed) into an aware datetime (UTC
    when it states no offset); ``None`` for ``None`` or an empty string.

    Raises:
        BackendDataError: ``value`` is not an ISO-8601 timestamp.
    """
    try:
        return parse_iso(value)
    except ValueError:
        raise BackendDataError(f"invalid timestamp {value!r}") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)


class BackendProperties:
    """Calibration data of a backend, indexed for lookups.

    Args:
        data: The raw ``/properties`` JSON.
        dt: The backend's dt in seconds, for values given in ``dt`` units.
    """

    def __init__(self, data: Mapping[str, Any], *, dt: float | None = None) -> None:
        if not isinstance(data, Mapping):
            raise BackendDataError("properties must be a JSON object")
        self._data = data
        self._dt = dt
        self._qubits: list[dict[str, Nduv]] | None = None
        self._gates: dict[str, dict[tuple[int, ...], dict[str, Nduv]]] | None = None

    def __repr__(self) -> str:
        return (
            f"BackendProperties(backend_name={self.backend_name!r}, "
            f"last_update_date={self._data.get('last_update_date')!r})"
        )

    # Raw fields -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The raw JSON as received."""
        return dict(self._data)

    @property
    def backend_name(self) -> str | None:
        """The backend's name, as the calibration states it; None when absent."""
        return self._data.get("backend_name")

    @property
    def backend_version(self) -> str | None:
        """The backend's version string at this calibration; None when absent."""
        return self._data.get("backend_version")

    @property
    def last_update_date(self) -> _dt.datetime | None:
        """When the calibration was taken, as an aware datetime; None when absent.

        Raises:
            ~qiskit_rest_provider.errors.BackendDataError: the field is not an ISO 8601 timestamp.
        """
        return parse_datetime(self._data.get("last_update_date"))

    @property
    def general(self) -> list[dict[str, Any]]:
        """The device-wide entries (``general``), raw Nduv objects as sent, not converted
        to SI."""
        return list(self._data.get("general") or [])

    # Indices --------------------------------------------------------------------------------

    def _nduvs(self, items: Any, where: str) -> dict[str, Nduv]:
        out: dict[str, Nduv] = {}
        if not isinstance(items, list):
            raise BackendDataError(f"{where}: expected a list of {{name, unit, value}} objects")
        dt = self._dt
        for item in items:
            if not isinstance(item, Mapping):
                raise BackendDataError(f"{where}: expected an object, got {item!r}")
            name = item.get("name")
            value = item.get("value")
            if not isinstance(name, str):
                raise BackendDataError(f"{where}: an entry has no name")
            if name == "operational":
                out[name] = (1.0 if _truthy(value) else 0.0, item.get("date"))
                continue
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BackendDataError(f"{where}: {name} has a non-numeric value {value!r}")
            try:
                scale = unit_scale(item.get("unit"), dt=dt)
            except BackendDataError as exc:
                raise BackendDataError(f"{where}: {name}: {exc}") from None
            out[name] = (value * scale if scale != 1.0 else float(value), item.get("date"))
        return out

    @property
    def qubits(self) -> list[dict[str, Nduv]]:
        """For each qubit, ``{name: (si_value, date)}`` (values in SI units)."""
        if self._qubits is None:
            raw = self._data.get("qubits") or []
            if not isinstance(raw, list):
                raise BackendDataError("properties 'qubits' must be a list")
            self._qubits = [self._nduvs(q, f"qubit {i}") for i, q in enumerate(raw)]
        return self._qubits

    @property
    def gates(self) -> dict[str, dict[tuple[int, ...], dict[str, Nduv]]]:
        """For each gate name and qubit tuple, ``{parameter: (si_value, date)}`` (values in SI
        units)."""
        if self._gates is None:
            gates: dict[str, dict[tuple[int, ...], dict[str, Nduv]]] = {}
            raw = self._data.get("gates") or []
            if not isinstance(raw, list):
                raise BackendDataError("properties 'gates' must be a list")
            for entry in raw:
                if not isinstance(entry, Mapping):
                    raise BackendDataError(f"gate entry {entry!r} is not an object")
                name = entry.get("gate")
                qubits = entry.get("qubits")
                if not isinstance(name, str) or not isinstance(qubits, list):
                    raise BackendDataError(f"gate entry {entry.get('name')!r} lacks gate/qubits")
                try:
                    key = tuple(int(q) for q in qubits)
                except (TypeError, ValueError):
                    raise BackendDataError(f"gate {name}: bad qubits {qubits!r}") from None
                params = self._nduvs(entry.get("parameters") or [], f"gate {name}{list(key)}")
                gates.setdefault(name, {})[key] = params
            self._gates = gates
        return self._gates

    # Queries --------------------------------------------------------------------------------

    def qubit_property(self, qubit: int, name: str | None = None) -> Any:
        """``{name: (value, date)}`` for a qubit, or one ``(value, date)`` with ``name``."""
        qubits = self.qubits
        if not 0 <= qubit < len(qubits) or (name is not None and name not in qubits[qubit]):
            what = f"property {name!r}" if name else "properties"
            raise KeyError(f"no {what} for qubit {qubit}")
        return qubits[qubit] if name is None else qubits[qubit][name]

    def gate_property(
        self, gate: str, qubits: int | Iterable[int] | None = None, name: str | None = None
    ) -> Any:
        """Properties of a gate: all qargs, one qarg, or one parameter of one qarg."""
        entries = self.gates.get(gate)
        if entries is None:
            raise KeyError(f"no properties for gate {gate!r}")
        if qubits is None:
            return entries
        key = (qubits,) if isinstance(qubits, int) else tuple(qubits)
        if key not in entries:
            raise KeyError(f"no properties for gate {gate!r} on qubits {list(key)}")
        if name is None:
            return entries[key]
        if name not in entries[key]:
            raise KeyError(f"no {name!r} for gate {gate!r} on qubits {list(key)}")
        return entries[key][name]

    def _qubit_value(self, qubit: int, name: str) -> float | None:
        qubits = self.qubits
        if 0 <= qubit < len(qubits) and name in qubits[qubit]:
            return qubits[qubit][name][0]
        return None

    def t1(self, qubit: int) -> float | None:
        """T1 in seconds (None if not reported)."""
        return self._qubit_value(qubit, "T1")

    def t2(self, qubit: int) -> float | None:
        """T2 in seconds (None if not reported)."""
        return self._qubit_value(qubit, "T2")

    def frequency(self, qubit: int) -> float | None:
        """Qubit frequency in Hz (None if not reported)."""
        return self._qubit_value(qubit, "frequency")

    def readout_error(self, qubit: int) -> float | None:
        """Readout assignment error of ``qubit``, a probability (None if not reported)."""
        return self._qubit_value(qubit, "readout_error")

    def readout_length(self, qubit: int) -> float | None:
        """Readout duration in seconds."""
        return self._qubit_value(qubit, "readout_length")

    def prob_meas0_prep1(self, qubit: int) -> float | None:
        """Probability of reading 0 after preparing 1 on ``qubit`` (None if not reported)."""
        return self._qubit_value(qubit, "prob_meas0_prep1")

    def prob_meas1_prep0(self, qubit: int) -> float | None:
        """Probability of reading 1 after preparing 0 on ``qubit`` (None if not reported)."""
        return self._qubit_value(qubit, "prob_meas1_prep0")

    def gate_error(self, gate: str, qubits: int | Iterable[int]) -> float | None:
        """Error rate of ``gate`` on ``qubits`` (a qubit or a tuple of qubits), a probability;
        None if that gate reports none.

        Raises:
            KeyError: the calibration has no entry for ``gate`` on ``qubits``.
        """
        value = self.gate_property(gate, qubits).get("gate_error")
        return None if value is None else value[0]

    def gate_length(self, gate: str, qubits: int | Iterable[int]) -> float | None:
        """Gate duration in seconds."""
        value = self.gate_property(gate, qubits).get("gate_length")
        return None if value is None else value[0]

    def is_qubit_operational(self, qubit: int) -> bool:
        """False only when the calibration marks ``qubit`` as not operational; a qubit with
        no ``operational`` entry (or no entry at all) counts as operational."""
        qubits = self.qubits
        if 0 <= qubit < len(qubits) and "operational" in qubits[qubit]:
            return bool(qubits[qubit]["operational"][0])
        return True

    def is_gate_operational(self, gate: str, qubits: int | Iterable[int]) -> bool:
        """False only when the calibration marks ``gate`` on ``qubits`` as not operational;
        a gate without an entry counts as operational."""
        try:
            params = self.gate_property(gate, qubits)
        except KeyError:
            return True
        return bool(params["operational"][0]) if "operational" in params else True

    def faulty_qubits(self) -> list[int]:
        """Qubits whose calibration marks them as not operational."""
        return [q for q, props in enumerate(self.qubits) if not props.get("operational", (1.0,))[0]]

    def faulty_gates(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(gate, qubits)`` pairs marked as not operational."""
        return [
            (name, qargs)
            for name, entries in self.gates.items()
            for qargs, params in entries.items()
            if not params.get("operational", (1.0,))[0]
        ]
