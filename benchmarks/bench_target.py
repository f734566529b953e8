"""Building a Target from configuration and properties JSON."""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from .harness import Case, interleaved, single

__all__ = ["run"]


def _snapshot(fake: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = Path(sys.modules[type(fake).__module__].__file__ or "").parent
    conf = json.loads(next(folder.glob("conf_*.json")).read_text())
    props = json.loads(next(folder.glob("props_*.json")).read_text())
    return conf, props


def run(quick: bool) -> list[Case]:
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.utils.backend_converter import convert_to_target
    from qiskit_ibm_runtime.utils.backend_decoder import (
        configuration_from_server_data,
        properties_from_server_data,
    )

    from qiskit_rest_provider.core.configuration import BackendConfiguration
    from qiskit_rest_provider.core.properties import BackendProperties
    from qiskit_rest_provider.core.target import build_target

    repeat = 5 if quick else 15
    cases = []
    for fake_name, qubits in (("FakeKolkataV2", 27), ("FakeSherbrooke", 127), ("FakeFez", 156)):
        conf, props = _snapshot(getattr(fake_provider, fake_name)())

        def ours(conf: Any = conf, props: Any = props) -> Any:
            config = BackendConfiguration(conf)
            return build_target(config, BackendProperties(props, dt=config.get("dt")))

        copies = [(copy.deepcopy(conf), copy.deepcopy(props)) for _ in range(repeat + 2)]

        def official(copies: list[Any] = copies) -> Any:  # the decoders modify their input
            c, p = copies.pop()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return convert_to_target(
                    configuration_from_server_data(c, use_fractional_gates=True),
                    properties_from_server_data(p),
                )

        a, b = interleaved(ours, official, repeat)
        cases.append(
            Case(
                "target",
                f"{qubits}-qubit Target from JSON ({fake_name} snapshot)",
                a,
                b,
                ">= 8x faster" if qubits == 156 else "faster",
            )
        )
    boston_conf, boston_props = _snapshot(fake_provider.FakeBoston())

    def ours_boston() -> Any:
        config = BackendConfiguration(boston_conf)
        return build_target(config, BackendProperties(boston_props, dt=config.get("dt")))

    def fresh_fake() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fake_provider.FakeBoston().target

    cases.append(
        Case(
            "target",
            "156-qubit Heron r3 Target (FakeBoston) vs a fresh fake backend's .target",
            single(ours_boston, repeat),
            single(fresh_fake, max(3, repeat // 3)),
            ">= 8x faster (official about 178 ms)",
        )
    )
    return cases
