"""Primitive options: validation as they are set, only-set serialization, and conformance of the
submitted ``params`` with the official client and the ``ibm_quantum_schemas`` models."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ibm_quantum_schemas.estimator import version_0_1 as estimator_schema
from ibm_quantum_schemas.sampler import version_0_1 as sampler_schema
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import options as ref_options

from qiskit_rest_provider import (
    EstimatorOptions,
    EstimatorV2,
    QiskitRestProvider,
    SamplerOptions,
    SamplerV2,
    Unset,
)

pytestmark = [pytest.mark.official]


def test_unset_by_default_and_nothing_sent() -> None:
    options = SamplerOptions()
    assert options.default_shots is Unset and not options.default_shots
    assert options.twirling.enable_gates is Unset
    assert options.to_params() == ({}, {})
    assert options.job_fields() == {"log_level": "WARNING"}


def test_attribute_and_dict_updates_are_validated() -> None:
    options = EstimatorOptions()
    options.resilience_level = 2
    options.update(default_precision=0.01, twirling={"enable_gates": True})
    options.update(twirling={"num_randomizations": 16})  # nested update keeps enable_gates
    options.resilience.zne.noise_factors = (1, 2, 3)
    options.environment.job_tags = ["a", "b"]
    options.max_execution_time = 120
    params, top = options.to_params()
    assert top == {"resilience_level": 2}
    assert params == {
        "default_precision": 0.01,
        "twirling": {"enable_gates": True, "num_randomizations": 16},
        "resilience": {"zne": {"noise_factors": [1.0, 2.0, 3.0]}},
    }
    assert options.job_fields() == {"log_level": "WARNING", "tags": ["a", "b"], "cost": 120}
    del options.default_precision
    assert "default_precision" not in options.to_params()[0]


@pytest.mark.parametrize(
    "path, value, error, message",
    [
        ("default_shots", 0, ValueError, "default_shots must be >= 1"),
        ("default_shots", 1.5, TypeError, "default_shots must be an integer"),
        ("default_shots", True, TypeError, "integer"),
        ("twirling.strategy", "sometimes", ValueError, "twirling.strategy must be one of"),
        ("twirling.num_randomizations", 0, ValueError, ">= 1"),
        ("dynamical_decoupling.enable", "yes", TypeError, "True or False"),
        ("execution.rep_delay", -1e-6, ValueError, "rep_delay must be >= 0"),
        ("execution.meas_type", "raw", ValueError, "meas_type"),
        ("environment.log_level", "LOUD", ValueError, "log_level"),
        ("environment.job_tags", "single", TypeError, "list of strings"),
        ("environment.job_tags", ["x" * 87], ValueError, "86 characters"),
        ("environment.job_tags", [str(i) for i in range(9)], ValueError, "at most 8"),
        ("max_execution_time", 10801, ValueError, "<= 10800"),
        ("simulator.coupling_map", [[0]], TypeError, "edges"),
        ("experimental", 3, TypeError, "must be a dict"),
    ],
)
def test_sampler_option_errors_name_the_option(
    path: str, value: Any, error: type[Exception], message: str
) -> None:
    options = SamplerOptions()
    *groups, leaf = path.split(".")
    holder: Any = options
    for group in groups:
        holder = getattr(holder, group)
    with pytest.raises(error, match=message):
        setattr(holder, leaf, value)
    assert options.to_dict() == {}  # a rejected value leaves nothing behind


def test_unknown_options_suggest_the_right_name() -> None:
    with pytest.raises(AttributeError, match="did you mean 'default_shots'"):
        SamplerOptions().default_shot = 5
    with pytest.raises(AttributeError, match="no option 'resilience'"):
        SamplerOptions(resilience={"measure_mitigation": True})
    with pytest.raises(AttributeError, match="did you mean 'enable_gates'"):
        EstimatorOptions().twirling.update(enable_gate=True)


def test_cross_option_rules() -> None:
    options = EstimatorOptions()
    options.resilience.pec_mitigation = True
    options.resilience.zne_mitigation = True
    with pytest.raises(ValueError, match="cannot be simultaneously enabled"):
        options.to_params()
    options = EstimatorOptions(resilience_level=0)
    options.resilience.measure_noise_learning.num_randomizations = 8
    with pytest.raises(ValueError, match="'measure_mitigation' is not set"):
        options.to_params()
    options.resilience.measure_mitigation = True
    options.to_params()
    options = EstimatorOptions()
    options.resilience.zne.extrapolator = "double_exponential"
    with pytest.raises(ValueError, match="needs at least 4 noise factors"):
        options.to_params()
    options.resilience.zne.noise_factors = [1, 1.5, 2, 3]
    options.to_params()
    options.resilience.zne.extrapolator = ["polynomial_degree_4"]
    with pytest.raises(ValueError, match="needs at least 5"):
        options.to_params()


def test_experimental_options_and_image() -> None:
    options = SamplerOptions(
        experimental={"image": "runtime:1.2", "twirling": {"strategy": "all"}, "x": 1}
    )
    params, _ = options.to_params()
    assert params == {"twirling": {"strategy": "all"}, "experimental": {"x": 1}}
    assert options.job_fields()["runtime"] == "runtime:1.2"


def _configure(opts: Any, settings_: dict[str, Any]) -> None:
    for path, value in settings_.items():
        *groups, leaf = path.split(".")
        holder = opts
        for group in groups:
            holder = getattr(holder, group)
        setattr(holder, leaf, copy.deepcopy(value))


ESTIMATOR_SETTINGS = {
    "resilience_level": 1,
    "default_precision": 0.05,
    "default_shots": 2000,
    "seed_estimator": 3,
    "dynamical_decoupling.enable": True,
    "dynamical_decoupling.sequence_type": "XY4",
    "execution.init_qubits": False,
    "twirling.enable_gates": True,
    "twirling.shots_per_randomization": 32,
    "resilience.measure_mitigation": True,
    "resilience.zne_mitigation": True,
    "resilience.zne.noise_factors": [1.0, 3.0, 5.0],
    "resilience.zne.extrapolator": ["exponential", "linear"],
    "resilience.pec.max_overhead": 50.0,
    "resilience.layer_noise_learning.layer_pair_depths": [0, 1, 2],
    "simulator.seed_simulator": 9,
}


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(sorted(ESTIMATOR_SETTINGS))))
def test_estimator_params_match_the_official_client(chosen: set[str]) -> None:
    picked = {k: ESTIMATOR_SETTINGS[k] for k in sorted(chosen)}
    ours = EstimatorOptions()
    _configure(ours, picked)
    reference = ref_options.EstimatorOptions()
    _configure(reference, picked)
    expected = ref_options.EstimatorOptions._get_program_inputs(asdict(reference))
    options, top = ours.to_params()
    assert options == expected["options"]
    assert top.get("resilience_level") == expected.get("resilience_level")


SAMPLER_SETTINGS = {
    "default_shots": 123,
    "dynamical_decoupling.enable": True,
    "dynamical_decoupling.extra_slack_distribution": "edges",
    "execution.rep_delay": 0.0002,
    "execution.meas_type": "kerneled",
    "twirling.enable_measure": True,
    "twirling.num_randomizations": 4,
    "twirling.strategy": "active-circuit",
    "simulator.seed_simulator": 1,
    "simulator.coupling_map": [[0, 1], [1, 2]],
}


@settings(max_examples=30, deadline=None)
@given(st.sets(st.sampled_from(sorted(SAMPLER_SETTINGS))))
def test_sampler_params_match_the_official_client(chosen: set[str]) -> None:
    picked = {k: SAMPLER_SETTINGS[k] for k in sorted(chosen)}
    ours = SamplerOptions()
    _configure(ours, picked)
    reference = ref_options.SamplerOptions()
    _configure(reference, picked)
    expected = ref_options.SamplerOptions._get_program_inputs(asdict(reference))
    assert ours.to_params()[0] == expected["options"]


def _normalise(params: dict[str, Any], default: Any, slot: int) -> dict[str, Any]:
    """Reference §9: the schema rejects the ``null`` shots/precision the clients send."""
    fixed = copy.deepcopy(params)
    for pub in fixed["pubs"]:
        if pub[slot] is None:
            pub[slot] = default
    return fixed


@pytest.mark.service
def test_submitted_params_validate_against_the_schemas(provider: QiskitRestProvider) -> None:
    backend = provider.backend("local_falcon")
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=1)
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    measured = qc.copy()
    measured.measure_all()

    sampler = SamplerV2(backend, options=dict(default_shots=100))
    sampler.options.twirling.enable_gates = True
    sampler.options.dynamical_decoupling.enable = True
    job = sampler.run([(pm.run(measured), [[0.1], [0.2]]), (pm.run(measured), [0.3], 50)])
    raw = provider.client.get_job(job.job_id(), exclude_params=False)["params"]
    sampler_schema.ParamsModel.model_validate(_normalise(raw, 100, 2))
    sampler_schema.OptionsModel.model_validate(raw["options"])

    estimator = EstimatorV2(backend, options={"resilience_level": 1, "default_precision": 0.05})
    estimator.options.resilience.zne_mitigation = True
    isa = pm.run(qc)
    # The schema takes one level of observables (a dict or a list of dicts): shape (2,) here.
    observables = [SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XX", 0.5), ("YY", -0.5)])]
    job = estimator.run([(isa, observables, np.array([[0.1], [0.7]]))])
    raw = provider.client.get_job(job.job_id(), exclude_params=False)["params"]
    estimator_schema.ParamsModel.model_validate(_normalise(raw, 0.05, 3))
    assert raw["resilience_level"] == 1 and raw["version"] == 2
    json.dumps(raw)  # plain JSON all the way down


def test_option_classes_are_built_from_the_wire_table() -> None:
    """The client's option classes are generated from wire/options.py, the table the service
    validates against: the two cannot drift, and a wrong nesting fails at import."""
    from qiskit_rest_provider import EstimatorOptions, SamplerOptions
    from qiskit_rest_provider.client.options import TwirlingOptions, fields, spec_of
    from qiskit_rest_provider.wire import options as wire

    assert spec_of(SamplerOptions) == wire.SAMPLER_SCHEMA
    assert spec_of(EstimatorOptions) == {**wire.ESTIMATOR_SCHEMA, **wire.ESTIMATOR_PARAMS_SCHEMA}
    with pytest.raises(RuntimeError, match="needs the class built from its spec"):
        fields.built_from(wire.RESILIENCE, groups={"zne": TwirlingOptions})
