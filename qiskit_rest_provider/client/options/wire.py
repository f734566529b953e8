"""Where the options go in a job: ``params.options``, the top of ``params``, or the job body.

:class:`PrimitiveOptions` is the base of :class:`~.schema.SamplerOptions` and
:class:`~.schema.EstimatorOptions`: only options that were set are sent, ``environment`` and
``max_execution_time`` become the job's ``log_level``/``tags``/``private``/``cost``, and
``experimental`` is merged as the official client merges it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from ...wire.options import DEFAULT_LOG_LEVEL, JOB_LEVEL_OPTIONS
from .fields import OptionGroup

__all__ = ["PrimitiveOptions"]


class PrimitiveOptions(OptionGroup):
    """Options shared by both primitives; see :class:`SamplerOptions`, :class:`EstimatorOptions`."""

    #: Options that go to the job body's top level rather than into ``params.options``.
    _job_level: ClassVar[frozenset[str]] = frozenset(JOB_LEVEL_OPTIONS)
    #: Options that go to the top level of ``params``.
    _params_level: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def wire_option_names(cls) -> frozenset[str]:
        """The option names this class may send (in ``params.options`` or at the job's top
        level), without those it sends at the top level of ``params``."""
        return frozenset(cls._fields) - cls._params_level

    def to_params(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(params.options, extra top-level params)`` with only the options that were set."""
        self.validate()
        options = self.to_dict()
        for key in self._job_level:
            options.pop(key, None)
        extra = {key: options.pop(key) for key in self._params_level if key in options}
        experimental = options.pop("experimental", None)
        if isinstance(experimental, dict):
            # As the official client does: known option names are merged into the options,
            # anything else stays under "experimental"; "image" goes to the job's "runtime".
            unknown: dict[str, Any] = {}
            for key, value in experimental.items():
                if key == "image":
                    continue
                if key in self._fields and key not in self._job_level:
                    options[key] = _merge(options.get(key), value)
                else:
                    unknown[key] = value
            if unknown:
                options["experimental"] = unknown
        return options, extra

    def job_fields(self) -> dict[str, Any]:
        """Top-level job-body fields: log_level, tags, private, cost and runtime."""
        env = self.to_dict().get("environment", {})
        fields: dict[str, Any] = {"log_level": env.get("log_level", DEFAULT_LOG_LEVEL)}
        if env.get("job_tags"):
            fields["tags"] = list(env["job_tags"])
        if env.get("private"):
            fields["private"] = True
        cost = self._values.get("max_execution_time")
        if cost is not None:
            fields["cost"] = cost
        experimental = self._values.get("experimental")
        if isinstance(experimental, Mapping) and experimental.get("image"):
            fields["runtime"] = str(experimental["image"])
        return fields

    def validate(self) -> None:
        """Cross-option checks (single options are checked when set)."""


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, Mapping):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return copy.deepcopy(extra)
