"""Options of the V2 primitives (reference §4.4), validated as they are set.

Every option starts *unset*: reading it gives :data:`Unset` and it is not sent, so the service's
defaults apply. Setting a value validates its type and range at once and raises ``ValueError`` or
``TypeError`` naming the option. Options are reachable as attributes
(``options.twirling.enable_gates = True``) and updated from dicts
(``options.update(default_shots=1000, twirling={"enable_gates": True})``). ``to_params()`` gives
what goes into ``params.options``; :meth:`PrimitiveOptions.job_fields` what goes to the top level
of the job body (``log_level``, ``tags``, ``private``, ``cost``, ``runtime``).

Three modules, one concept each:

- :mod:`.fields`: the framework (:data:`Unset`, the validators, :class:`OptionGroup`, and
  :func:`from_spec`/:func:`built_from`, which build validators and groups from the protocol's
  option table);
- :mod:`.schema`: the option groups of :class:`SamplerOptions` and :class:`EstimatorOptions`,
  each built from its group of :data:`~qiskit_rest_provider.wire.options.OPTION_SCHEMAS` (the
  table the local service checks jobs against), plus the client-only conversions of Qiskit
  objects and the estimator's cross-option checks;
- :mod:`.wire`: :class:`PrimitiveOptions`, which maps the options that were set to a job's
  ``params`` and top-level fields.
"""

from __future__ import annotations

from .fields import (
    Check,
    OptionGroup,
    Unset,
    anything,
    boolean,
    built_from,
    choice,
    edges,
    either_auto,
    from_spec,
    integer,
    list_of,
    mapping,
    nullable,
    one_or_list,
    real,
    spec_of,
    string_list,
)
from .schema import (
    DynamicalDecouplingOptions,
    EnvironmentOptions,
    EstimatorOptions,
    EstimatorTwirlingOptions,
    ExecutionOptions,
    LayerNoiseLearningOptions,
    MeasureNoiseLearningOptions,
    PecOptions,
    ResilienceOptions,
    SamplerExecutionOptions,
    SamplerOptions,
    SimulatorOptions,
    TwirlingOptions,
    ZneOptions,
)
from .wire import PrimitiveOptions

# The framework's names and the two program-specific groups were importable from this module
# before it became a package; they are listed here too so they stay so.
__all__ = [
    "Check",
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorOptions",
    "EstimatorTwirlingOptions",
    "ExecutionOptions",
    "LayerNoiseLearningOptions",
    "MeasureNoiseLearningOptions",
    "OptionGroup",
    "PecOptions",
    "PrimitiveOptions",
    "ResilienceOptions",
    "SamplerExecutionOptions",
    "SamplerOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "Unset",
    "ZneOptions",
    "anything",
    "boolean",
    "built_from",
    "choice",
    "edges",
    "either_auto",
    "from_spec",
    "integer",
    "list_of",
    "mapping",
    "nullable",
    "one_or_list",
    "real",
    "spec_of",
    "string_list",
]
