"""A backend's ``/configuration`` JSON, with every field reachable as an attribute.

Times and frequencies are converted to SI as Qiskit's models do: ``dt``/``dtm`` ns → s,
``rep_delay_range``/``default_rep_delay``/``rep_times`` µs → s, ``qubit_lo_range``/
``meas_lo_range`` GHz → Hz. Everything else is returned as sent. ``to_dict()`` gives the raw JSON.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Mapping
from typing import Any

from ..errors import BackendDataError
from .properties import parse_datetime

__all__ = ["BackendConfiguration", "is_fractional_name"]

_NS = 1e-9
_US = 1e-6
_GHZ = 1e9
_SCALED_SCALARS = {"dt": _NS, "dtm": _NS, "default_rep_delay": _US}
_SCALED_LISTS = {"rep_delay_range": _US, "rep_times": _US}
_SCALED_RANGES = {"qubit_lo_range": _GHZ, "meas_lo_range": _GHZ}
REQUIRED_FIELDS = ("backend_name", "n_qubits", "basis_gates")

#: Parametrised gates that are virtual or universal legacy bases, hence never "fractional".
#: Unlike ``qiskit_ibm_runtime`` we do not count Euler bases (``u1/u2/u3/u``) as fractional:
#: removing them from a ``u1 u2 u3 cx`` device would leave it without a universal basis.
NON_FRACTIONAL_PARAMETRISED = frozenset({"rz", "p", "u1", "u", "u2", "u3", "delay", "global_phase"})


@functools.lru_cache(maxsize=1)
def _fractional_names() -> frozenset[str]:
    from qiskit.circuit.library import get_standard_gate_name_mapping

    return frozenset(
        name
        for name, op in get_standard_gate_name_mapping().items()
        if op.params and name not in NON_FRACTIONAL_PARAMETRISED
    )


def is_fractional_name(name: str) -> bool:
    """True for fractional gates (``rx``, ``rzz``, ...): continuously parametrised, non-virtual."""
    return name in _fractional_names()


class BackendConfiguration:
    """A backend configuration. Unknown fields are reachable as attributes too."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise BackendDataError("configuration must be a JSON object")
        missing = [f for f in REQUIRED_FIELDS if f not in data]
        if missing:
            raise BackendDataError(f"configuration lacks required field(s): {', '.join(missing)}")
        if not isinstance(data["n_qubits"], int) or data["n_qubits"] < 0:
            raise BackendDataError(f"n_qubits must be a non-negative integer: {data['n_qubits']!r}")
        if not isinstance(data["basis_gates"], list):
            raise BackendDataError("basis_gates must be a list of names")
        self._data = data

    def __repr__(self) -> str:
        return f"BackendConfiguration(backend_name={self.backend_name!r}, n_qubits={self.n_qubits})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        data = self.__dict__.get("_data")
        if data is None or name not in data:
            raise AttributeError(f"'{type(self).__name__}' has no field {name!r}")
        value = data[name]
        if value is None:
            return None
        if name in _SCALED_SCALARS:
            return float(value) * _SCALED_SCALARS[name]
        if name in _SCALED_LISTS:
            return [float(v) * _SCALED_LISTS[name] for v in value]
        if name in _SCALED_RANGES:
            return [[float(a) * _GHZ, float(b) * _GHZ] for a, b in value]
        return value

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def get(self, name: str, default: Any = None) -> Any:
        """A field in SI units, or ``default`` if it is absent."""
        try:
            return getattr(self, name)
        except AttributeError:
            return default

    def to_dict(self) -> dict[str, Any]:
        """The raw JSON as received."""
        return dict(self._data)

    @property
    def backend_name(self) -> str:
        """The backend's name, e.g. ``ibm_torino``."""
        return str(self._data["backend_name"])

    @property
    def n_qubits(self) -> int:
        """The number of qubits (also available as ``num_qubits``)."""
        return int(self._data["n_qubits"])

    num_qubits = n_qubits

    @property
    def basis_gates(self) -> list[str]:
        """The names of the native gates (a copy), e.g. ``["cz", "id", "rz", "sx", "x"]``."""
        return list(self._data["basis_gates"])

    @property
    def simulator(self) -> bool:
        """Whether the backend is a simulator; False when the field is absent."""
        return bool(self._data.get("simulator", False))

    @property
    def supported_instructions(self) -> list[str]:
        """The instruction names the backend accepts, beyond ``basis_gates`` (``measure``,
        ``delay``, ``if_else``, …); ``["measure", "reset", "delay"]`` when the field is absent
        or empty."""
        value = self._data.get("supported_instructions")
        return list(value) if value else ["measure", "reset", "delay"]

    @property
    def supported_features(self) -> list[str]:
        """Feature flags such as ``"qobj"`` or ``"dynamic_circuits"``; empty when absent.

        A list of single characters is joined back into one name: one device snapshot sends
        ``"qobj"`` split into letters.
        """
        value = self._data.get("supported_features") or []
        if value and all(isinstance(v, str) and len(v) == 1 for v in value):
            return ["".join(value)]  # one snapshot splits "qobj" into characters
        return list(value)

    @property
    def online_date(self) -> _dt.datetime | None:
        """When the backend came online, as an aware datetime (UTC when the text states no
        offset); None when absent.

        Raises:
            ~qiskit_rest_provider.errors.BackendDataError: the field is not an ISO 8601 timestamp.
        """
        raw = self._data.get("online_date")
        return parse_datetime(raw) if isinstance(raw, str) else None

    @property
    def max_shots(self) -> int | None:
        """The most shots one circuit may run; None when the backend does not say."""
        value = self._data.get("max_shots")
        return int(value) if value is not None else None

    @property
    def max_experiments(self) -> int | None:
        """The most circuits one job may hold; None when the backend does not say."""
        value = self._data.get("max_experiments")
        return int(value) if value is not None else None

    @property
    def timing_constraints(self) -> dict[str, int]:
        """Pulse timing constraints as sent (``granularity``, ``min_length``,
        ``pulse_alignment``, ``acquire_alignment``; in units of ``dt``, not converted); empty
        when absent."""
        value = self._data.get("timing_constraints") or {}
        return dict(value) if isinstance(value, Mapping) else {}

    @property
    def supports_dynamic_circuits(self) -> bool:
        """Whether ``supported_features`` lists ``dynamic_circuits`` (mid-circuit measurement
        with classical control flow)."""
        return "dynamic_circuits" in self.supported_features

    def without_fractional_gates(self) -> BackendConfiguration:
        """A copy without fractional gates in ``basis_gates``, ``gates`` and instructions."""
        data = dict(self._data)
        data["basis_gates"] = [g for g in self.basis_gates if not is_fractional_name(g)]
        if isinstance(data.get("gates"), list):
            data["gates"] = [
                g
                for g in data["gates"]
                if not (isinstance(g, Mapping) and is_fractional_name(str(g.get("name"))))
            ]
        if isinstance(data.get("supported_instructions"), list):
            data["supported_instructions"] = [
                i for i in data["supported_instructions"] if not is_fractional_name(str(i))
            ]
        return BackendConfiguration(data)

    def has_fractional_gates(self) -> bool:
        """Whether ``basis_gates`` holds a fractional gate (see :func:`is_fractional_name`),
        as ``rx`` and ``rzz`` on Heron devices."""
        return any(is_fractional_name(g) for g in self.basis_gates)
