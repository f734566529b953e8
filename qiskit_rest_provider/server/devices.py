"""The local service's devices: a deterministic synthetic catalog, or snapshot files.

Synthetic devices follow the layouts and calibration distributions of real IBM families
(heavy-hex Heron and Eagle, square-lattice Nighthawk, a small Falcon) and a noiseless simulator.
Each device has several calibrations over time (distinct ``calibration_id`` and
``last_update_date``) so history queries work. A few couplers are "broken": error 1.0, as IBM
reports them, and also marked ``operational: 0``, so the Target leaves them out (as it does for
any faulty gate) and every optimization level's layout and routing avoid them. A coupler whose
loss would split the device into disconnected parts is never broken, so any circuit that fits the
device can still be routed, at every optimization level.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..wire.times import parse_iso, to_utc_iso

__all__ = [
    "Calibration",
    "Device",
    "default_catalog",
    "load_snapshot_dir",
    "mock_name",
    "mock_twin",
]

_CAL_DATES = [_dt.datetime(2026, 11, d, 6, 0, tzinfo=_dt.timezone.utc) for d in (1, 8, 15)]


@dataclass
class Calibration:
    """One calibration of a device: its id, date and ``/properties`` JSON."""

    calibration_id: str
    date: _dt.datetime
    properties: dict[str, Any]


@dataclass
class Device:
    """A backend served by the local service.

    A *mock* device (``mock=True``) is the dry-run twin of a device, as IBM lists them: named
    ``mock_*``, with its twin's configuration and calibrations, listed only when a client asks
    for mocks (``include_mocks``), and never chosen by ``least_busy``.
    """

    name: str
    configuration: dict[str, Any]
    calibrations: list[Calibration] = field(default_factory=list)  # oldest first
    status: str = "online"
    mock: bool = False

    @property
    def simulator(self) -> bool:
        """Whether the configuration marks the device as a simulator (noiseless, no
        calibrations)."""
        return bool(self.configuration.get("simulator"))

    @property
    def num_qubits(self) -> int:
        """The configuration's ``n_qubits``."""
        return int(self.configuration["n_qubits"])

    def calibration(
        self, *, updated_before: _dt.datetime | None = None, calibration_id: str | None = None
    ) -> Calibration | None:
        """The latest calibration (before a date, or with an id), or None."""
        if calibration_id is not None:
            return next((c for c in self.calibrations if c.calibration_id == calibration_id), None)
        candidates = [
            c for c in self.calibrations if updated_before is None or c.date <= updated_before
        ]
        return candidates[-1] if candidates else None


def mock_name(name: str) -> str:
    """The name of a device's dry-run twin, as the official client derives it for
    ``run(..., dry_run=True)``: the name's first ``_``-separated word becomes ``mock``
    (``ibm_kingston`` → ``mock_kingston``, ``local_heron`` → ``mock_heron``)."""
    return re.sub(r"^[^_]+", "mock", name, count=1)


def mock_twin(device: Device) -> Device | None:
    """The dry-run twin of ``device``: its configuration and calibrations under
    :func:`mock_name` (each document's ``backend_name`` renamed, nothing else changed, so the
    twin's Target is the device's). None for a simulator, a mock, or a name without ``_`` (its
    twin's name would be the bare word ``mock``)."""
    name = mock_name(device.name)
    if device.simulator or device.mock or "_" not in device.name or name == device.name:
        return None
    configuration = {**device.configuration, "backend_name": name}
    calibrations = [
        Calibration(c.calibration_id, c.date, {**c.properties, "backend_name": name})
        if "backend_name" in c.properties
        else c
        for c in device.calibrations
    ]
    return Device(name, configuration, calibrations, device.status, mock=True)


# Layouts --------------------------------------------------------------------------------------


def _edges_from_coords(coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
    index = {c: i for i, c in enumerate(coords)}
    edges = []
    for i, (x, y) in enumerate(coords):
        for nb in ((x + 1, y), (x, y + 1)):
            j = index.get(nb)
            if j is not None:
                edges.append((min(i, j), max(i, j)))
    return sorted(edges)


def heron_coords() -> list[tuple[int, int]]:
    """156 qubits: 8 rows of 16 joined by 7 rows of 4 bridge qubits (Heron r2/r3)."""
    coords: list[tuple[int, int]] = []
    for y in range(1, 16):
        if y % 2:
            coords.extend((x, y) for x in range(1, 17))
        else:
            xs = (4, 8, 12, 16) if y % 4 == 2 else (2, 6, 10, 14)
            coords.extend((x, y) for x in xs)
    return coords


def eagle_coords() -> list[tuple[int, int]]:
    """127 qubits: 7 long rows and 6 bridge rows (Eagle r3)."""
    coords: list[tuple[int, int]] = []
    for y in range(1, 14):
        if y % 2:
            xs = range(1, 15) if y == 1 else range(2, 16) if y == 13 else range(1, 16)
            coords.extend((x, y) for x in xs)
        else:
            xs2 = (1, 5, 9, 13) if y % 4 == 2 else (3, 7, 11, 15)
            coords.extend((x, y) for x in xs2)
    return coords


def grid_coords(width: int, height: int) -> list[tuple[int, int]]:
    """A square lattice of ``width`` × ``height`` qubits (Nighthawk-like), numbered row by row
    from ``(1, 1)``; nearest neighbours are coupled."""
    return [(x, y) for y in range(1, height + 1) for x in range(1, width + 1)]


# Calibration generator ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    t1_us: float
    t2_ratio: float
    t2_sigma: float
    p01: float  # P(meas 0 | prep 1)
    p10: float  # P(meas 1 | prep 0)
    readout_ns: float
    sx_error: float
    sx_ns: float
    twoq_error: float
    twoq_ns: float | tuple[float, float]
    broken_fraction: float
    frequency: bool
    zz_khz: float = 0.0
    """Median static ZZ between coupled qubits (kHz); each pair's is drawn log-normally."""


# Static ZZ: fixed-coupler processors (Falcon, Eagle: cross-resonance) keep tens of kHz between
# neighbours; tunable couplers (Heron, Nighthawk) park it near zero, about a kHz residual.
HERON = _Family(270, 1.1, 0.3, 0.0083, 0.0049, 2200, 1.8e-4, 32, 1.6e-3, 68, 0.02, False, 1.0)
EAGLE = _Family(257, 0.62, 0.8, 0.0156, 0.0205, 1270, 2.6e-4, 60, 8.2e-3, 660, 0.03, True, 45.0)
NIGHTHAWK = _Family(
    328, 0.75, 0.35, 0.022, 0.018, 2400, 2.0e-4, 32, 2.6e-3, (68, 288), 0.02, False, 1.2
)
FALCON = _Family(
    124, 0.72, 0.7, 0.012, 0.008, 700, 2.2e-4, 35.5, 7.4e-3, (250, 450), 0.0, True, 35.0
)


def _nduv(name: str, value: float, unit: str, date: str) -> dict[str, Any]:
    return {"date": date, "name": name, "unit": unit, "value": value}


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> NDArray[Any]:
    return median * np.exp(sigma * rng.standard_normal(size))


def _connected(num_qubits: int, edges: Iterable[tuple[int, int]]) -> bool:
    """Whether ``edges`` join all ``num_qubits`` qubits into one component."""
    neighbours: list[list[int]] = [[] for _ in range(num_qubits)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    seen = {0} if num_qubits else set()
    stack = list(seen)
    while stack:
        for nb in neighbours[stack.pop()]:
            if nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == num_qubits


def _keep_connected(
    num_qubits: int, pairs: list[tuple[int, int]], broken: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """``broken`` without the couplers whose loss would disconnect the device.

    Broken couplers leave the Target; if one were a bridge (the only link of, say, the three
    qubits at the end of a heavy-hex row), no layout could route a circuit across it and level 0
    (trivial layout) would fail on any circuit spanning it. Couplers are broken one at a time in
    the draw's order, each only if the device stays connected, so the result is deterministic.
    """
    kept: NDArray[np.bool_] = np.zeros(len(pairs), dtype=np.bool_)
    for k in np.flatnonzero(broken):
        kept[k] = True
        if not _connected(num_qubits, (p for j, p in enumerate(pairs) if not kept[j])):
            kept[k] = False
    return kept


def make_properties(
    name: str,
    family: _Family,
    num_qubits: int,
    pairs: list[tuple[int, int]],
    twoq: str,
    oneq: list[str],
    date: _dt.datetime,
    seed: int,
    *,
    fractional: bool,
    reset: bool,
) -> dict[str, Any]:
    """A ``/properties`` JSON drawn from ``family``'s distributions."""
    rng = np.random.default_rng(seed)
    stamp = to_utc_iso(date, timespec="seconds")  # calibration data has whole seconds
    t1 = _lognormal(rng, family.t1_us, 0.35, num_qubits)
    t2 = np.minimum(t1 * _lognormal(rng, family.t2_ratio, family.t2_sigma, num_qubits), 2 * t1)
    p01 = np.clip(
        np.round(_lognormal(rng, family.p01, 0.7, num_qubits) * 4096) / 4096, 1 / 4096, 0.45
    )
    p10 = np.clip(np.round(_lognormal(rng, family.p10, 0.7, num_qubits) * 4096) / 4096, 0.0, 0.45)
    sx_err = _lognormal(rng, family.sx_error, 0.6, num_qubits)
    qubits = []
    for q in range(num_qubits):
        entry = [
            _nduv("T1", round(float(t1[q]), 3), "us", stamp),
            _nduv("T2", round(float(t2[q]), 3), "us", stamp),
        ]
        if family.frequency:
            entry.append(_nduv("frequency", round(float(rng.normal(4.85, 0.15)), 6), "GHz", stamp))
            entry.append(
                _nduv("anharmonicity", round(float(rng.normal(-0.308, 0.004)), 6), "GHz", stamp)
            )
        entry += [
            _nduv("readout_error", float((p01[q] + p10[q]) / 2), "", stamp),
            _nduv("prob_meas0_prep1", float(p01[q]), "", stamp),
            _nduv("prob_meas1_prep0", float(p10[q]), "", stamp),
            _nduv("readout_length", float(family.readout_ns), "ns", stamp),
        ]
        qubits.append(entry)
    gates: list[dict[str, Any]] = []

    def gate(
        gname: str,
        qargs: Iterable[int],
        error: float | None,
        length: float,
        *,
        operational: bool = True,
    ) -> None:
        q = list(qargs)
        params = []
        if error is not None:
            params.append(_nduv("gate_error", float(error), "", stamp))
        params.append(_nduv("gate_length", float(length), "ns", stamp))
        if not operational:
            params.append(_nduv("operational", 0, "", stamp))
        gates.append(
            {
                "qubits": q,
                "gate": gname,
                "parameters": params,
                "name": f"{gname}{'_'.join(map(str, q))}",
            }
        )

    for q in range(num_qubits):
        for g in oneq:
            if g == "rz":
                gate("rz", [q], 0.0, 0.0)
            else:
                gate(g, [q], sx_err[q], family.sx_ns)
        if reset:
            gate("reset", [q], None, family.readout_ns + 48)
    errors = _lognormal(rng, family.twoq_error, 0.6, len(pairs))
    broken = rng.random(len(pairs)) < family.broken_fraction
    if family.broken_fraction and not broken.any() and len(pairs) > 10:
        broken[int(rng.integers(len(pairs)))] = True
    # After every random draw, so the rest of the calibration does not depend on this choice.
    broken = _keep_connected(num_qubits, pairs, broken)
    for k, (a, b) in enumerate(pairs):
        err = 1.0 if broken[k] else float(min(errors[k], 0.5))
        if isinstance(family.twoq_ns, tuple):
            length = float(rng.integers(int(family.twoq_ns[0] / 4), int(family.twoq_ns[1] / 4)) * 4)
        else:
            length = family.twoq_ns
        directions = [(a, b)] if twoq == "ecr" else [(a, b), (b, a)]
        for qa, qb in directions:
            gate(twoq, [qa, qb], err, length, operational=not broken[k])
            if fractional:
                gate("rzz", [qa, qb], err, length, operational=not broken[k])
    # A generator of its own, so the rest of the calibration does not depend on this draw.
    zz_rng = np.random.default_rng([seed, 7])
    zz = _lognormal(zz_rng, family.zz_khz * 1e-6, 0.5, len(pairs)) if family.zz_khz else np.zeros(0)
    general = [
        _nduv(f"zz_{a}_{b}", round(float(value), 12), "GHz", stamp)
        for (a, b), value in zip(pairs, zz, strict=False)
    ]
    return {
        "backend_name": name,
        "backend_version": "1.4.2",
        "last_update_date": stamp,
        "qubits": qubits,
        "gates": gates,
        "general": general,
    }


def _configuration(
    name: str,
    num_qubits: int,
    pairs: list[tuple[int, int]],
    twoq: str,
    family_name: str,
    revision: str,
    *,
    coords: list[tuple[int, int]] | None,
    dt_ns: float,
    timing: tuple[int, int, int, int],
    fractional: bool,
    reset: bool,
    control_flow: bool,
    max_experiments: int = 300,
    rep_delay_range: tuple[float, float] = (0.0, 500.0),
    default_rep_delay: float = 250.0,
) -> dict[str, Any]:
    oneq = ["id", "rz", "sx", "x"] + (["rx"] if fractional else [])
    basis = sorted([twoq, *oneq, *(["rzz"] if fractional else [])])
    directed = (
        [[a, b] for a, b in pairs]
        if twoq == "ecr"
        else [list(e) for a, b in pairs for e in ((a, b), (b, a))]
    )
    gates = [
        {
            "name": g,
            "parameters": ["theta"] if g in ("rz", "rx") else [],
            "qasm_def": g,
            "coupling_map": [[q] for q in range(num_qubits)],
        }
        for g in oneq
    ]
    gates.append({"name": twoq, "parameters": [], "qasm_def": twoq, "coupling_map": directed})
    if fractional:
        gates.append(
            {"name": "rzz", "parameters": ["theta"], "qasm_def": "rzz", "coupling_map": directed}
        )
    instructions = [*basis, "measure", "delay"] + (["reset"] if reset else [])
    if control_flow:
        instructions.append("if_else")
    config: dict[str, Any] = {
        "backend_name": name,
        "backend_version": "1.4.2",
        "n_qubits": num_qubits,
        "basis_gates": basis,
        "gates": gates,
        "local": False,
        "simulator": False,
        "conditional": False,
        "open_pulse": False,
        "memory": True,
        "coupling_map": directed,
        "online_date": "2025-06-01T00:00:00Z",
        "max_shots": 100000,
        "max_experiments": max_experiments,
        "supported_instructions": sorted(instructions),
        "supported_features": ["qasm3", "dynamic_circuits"] if control_flow else ["qasm3"],
        "dt": dt_ns,
        "dtm": dt_ns,
        "timing_constraints": dict(
            zip(
                ("granularity", "min_length", "pulse_alignment", "acquire_alignment"),
                timing,
                strict=True,
            )
        ),
        "rep_delay_range": list(rep_delay_range),
        "default_rep_delay": default_rep_delay,
        "dynamic_reprate_enabled": True,
        "processor_type": {"family": family_name, "revision": revision},
        "meas_map": [list(range(num_qubits))],
        "n_registers": 1,
        "meas_levels": [1, 2],
        "credits_required": True,
        "description": f"Synthetic {num_qubits}-qubit {family_name} device of the local service",
    }
    if coords is not None:
        config["coords"] = [list(c) for c in coords]
    return config


def _synthetic(
    name: str,
    family: _Family,
    family_name: str,
    revision: str,
    coords: list[tuple[int, int]] | None,
    pairs: list[tuple[int, int]],
    num_qubits: int,
    twoq: str,
    seed: int,
    **kwargs: Any,
) -> Device:
    fractional = kwargs.pop("fractional", False)
    reset = kwargs.pop("reset", True)
    config = _configuration(
        name,
        num_qubits,
        pairs,
        twoq,
        family_name,
        revision,
        coords=coords,
        fractional=fractional,
        reset=reset,
        **kwargs,
    )
    oneq = ["id", "rz", "sx", "x"] + (["rx"] if fractional else [])
    calibrations = []
    for k, date in enumerate(_CAL_DATES):
        props = make_properties(
            name,
            family,
            num_qubits,
            pairs,
            twoq,
            oneq,
            date,
            seed * 100 + k,
            fractional=fractional,
            reset=reset,
        )
        cal_id = f"{name}-{date:%Y%m%d}"
        props["calibration_id"] = cal_id
        calibrations.append(Calibration(cal_id, date, props))
    return Device(name, config, calibrations)


def simulator_device(name: str = "local_simulator", num_qubits: int = 32) -> Device:
    """A noiseless simulator device: all-to-all connectivity (no coupling map), a broad basis
    of gates Aer runs natively (fractional ones included), dynamic circuits, and no
    calibrations (so no ``/properties``).

    Args:
        name: The backend name.
        num_qubits: Its width.
    """
    basis = sorted(
        [
            "cx",
            "cz",
            "ecr",
            "id",
            "rz",
            "sx",
            "x",
            "rx",
            "ry",
            "h",
            "s",
            "sdg",
            "t",
            "tdg",
            "y",
            "z",
            "p",
            "u",
            "swap",
            "rzz",
            "rxx",
            "ryy",
            "ccx",
            "cp",
            "crx",
            "cry",
            "crz",
            "cy",
            "cswap",  # every gate here is one Aer executes natively (Aer has no "ch")
        ]
    )
    config = {
        "backend_name": name,
        "backend_version": "0.18.2",
        "n_qubits": num_qubits,
        "basis_gates": basis,
        "gates": [{"name": g, "parameters": [], "qasm_def": g} for g in basis],
        "local": False,
        "simulator": True,
        "conditional": True,
        "open_pulse": False,
        "memory": True,
        "coupling_map": None,
        "online_date": "2025-01-01T00:00:00Z",
        "max_shots": 1000000,
        "max_experiments": 300,
        "supported_instructions": sorted([*basis, "measure", "reset", "delay", "if_else"]),
        "supported_features": ["qasm3", "dynamic_circuits"],
        "processor_type": {"family": "Simulator", "revision": "1"},
        "description": "Noiseless Aer statevector simulator of the local service",
    }
    return Device(name, config, [])


def default_catalog() -> list[Device]:
    """The built-in devices (deterministic: same data on every machine)."""
    heron = heron_coords()
    eagle = eagle_coords()
    grid = grid_coords(10, 12)
    falcon_pairs = [(0, 1), (1, 2), (1, 3), (3, 5), (4, 5), (5, 6)]
    return [
        _synthetic(
            "local_heron",
            HERON,
            "Heron",
            "3",
            heron,
            _edges_from_coords(heron),
            156,
            "cz",
            1,
            dt_ns=4.0,
            timing=(1, 2, 1, 1),
            fractional=True,
            control_flow=True,
        ),
        _synthetic(
            "local_eagle",
            EAGLE,
            "Eagle",
            "3",
            eagle,
            _edges_from_coords(eagle),
            127,
            "ecr",
            2,
            dt_ns=0.5,
            timing=(8, 16, 8, 8),
            control_flow=True,
        ),
        _synthetic(
            "local_nighthawk",
            NIGHTHAWK,
            "Nighthawk",
            "1",
            grid,
            _edges_from_coords(grid),
            120,
            "cz",
            3,
            dt_ns=4.0,
            timing=(1, 2, 1, 1),
            reset=False,
            control_flow=False,
            max_experiments=75,
            rep_delay_range=(1000.0, 4000.0),
            default_rep_delay=4000.0,
        ),
        _synthetic(
            "local_falcon",
            FALCON,
            "Falcon",
            "5.11",
            None,
            falcon_pairs,
            7,
            "cx",
            4,
            dt_ns=0.2222,
            timing=(16, 64, 16, 16),
            control_flow=True,
        ),
        simulator_device(),
    ]


def load_snapshot_dir(path: str | Path) -> list[Device]:
    """Devices from ``conf_<name>.json`` (+ optional ``props_<name>.json``) files in ``path``."""
    folder = Path(path)
    devices = []
    for conf_file in sorted(folder.glob("conf_*.json")):
        config = json.loads(conf_file.read_text())
        name = str(config.get("backend_name") or conf_file.stem[5:])
        props_file = folder / f"props_{conf_file.stem[5:]}.json"
        calibrations = []
        if props_file.exists():
            props = json.loads(props_file.read_text())
            date = parse_iso(props.get("last_update_date") or "2026-01-01T00:00:00Z")
            assert date is not None  # the text is never empty
            cal_id = str(props.get("calibration_id") or f"{name}-{date:%Y%m%d%H%M}")
            calibrations.append(Calibration(cal_id, date, props))
        devices.append(Device(name, config, calibrations))
    if not devices:
        raise ValueError(f"no conf_*.json files in {folder}")
    return devices
