"""The checks an ``executor`` program passes before it is queued, on its decoded summary.

The same rules as sampler pubs: each circuit is an ISA circuit of the device's target and its
simulation fits the per-job memory budget (both checked in the decoding worker, which reports
the problem), shots stay within the device's ``max_shots``, the item count within
``max_experiments``, an item's elements within the sampler's parameter sets
(:data:`~...core.codec.pubs.MAX_PARAMETER_SETS`) and its parameter values within
:data:`MAX_PARAMETER_VALUES`, and what a job returns and simulates within the
service's limits (:data:`~..validation.MAX_PUB_RESULT_BITS` per item,
:data:`~..validation.MAX_JOB_RESULT_BITS` per job, :data:`~..validation.MAX_SIMULATED_SHOTS`
per item). Result sizes count kerneled points as 128 bits and samplex outputs by their bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from ...core.codec.pubs import MAX_PARAMETER_SETS
from ..validation import MAX_JOB_RESULT_BITS, MAX_PUB_RESULT_BITS, MAX_SIMULATED_SHOTS
from .decode import ProgramError
from .sandbox import ProgramSummary

__all__ = ["MAX_PARAMETER_VALUES", "MAX_SHAPE_AXES", "check_program"]

#: Parameter values bound in one item (elements x parameters): what the simulation worker holds
#: of them stays within a few hundred MB.
MAX_PARAMETER_VALUES: Final = 20_000_000
#: Axes of an item's shape.
MAX_SHAPE_AXES: Final = 32


def check_program(summary: ProgramSummary, configuration: Mapping[str, Any]) -> None:
    """Refuse (:class:`ProgramError`) a program the device or the service cannot run."""
    max_shots = int(configuration.get("max_shots") or 1_000_000)
    if summary.shots > max_shots:
        raise ProgramError(f"{summary.shots} shots exceed max_shots={max_shots}.")
    max_experiments = configuration.get("max_experiments")
    if max_experiments and len(summary.items) > int(max_experiments):
        raise ProgramError(f"{len(summary.items)} items exceed max_experiments={max_experiments}.")
    _check_rep_delay(summary.rep_delay, configuration)
    total = 0
    for i, item in enumerate(summary.items):
        elements = _check_shape(i, item.shape)
        values = elements * item.num_parameters
        if values > MAX_PARAMETER_VALUES:
            raise ProgramError(
                f"item {i}: {elements:,} elements x {item.num_parameters} parameters = "
                f"{values:,} parameter values; the service binds at most "
                f"{MAX_PARAMETER_VALUES:,} per item."
            )
        simulated = elements * summary.shots
        if simulated > MAX_SIMULATED_SHOTS:
            raise ProgramError(
                f"item {i}: {elements:,} elements x {summary.shots} shots = {simulated:,} "
                f"simulated shots; the emulator runs at most {MAX_SIMULATED_SHOTS:,} per item."
            )
        bits = elements * _register_bits(item.num_clbits, summary) + elements * 8 * (
            item.extra_bytes_per_element
        )
        if bits > MAX_PUB_RESULT_BITS:
            raise ProgramError(
                f"item {i}: its result would hold {bits:,} bits; the limit per item is "
                f"{MAX_PUB_RESULT_BITS:,}."
            )
        total += bits
        if total > MAX_JOB_RESULT_BITS:
            raise ProgramError(
                f"the job's result would hold more than {MAX_JOB_RESULT_BITS:,} bits (items "
                f"0..{i} reach {total:,}); split it into several jobs."
            )
    for i, item in enumerate(summary.items):
        if item.problem:
            raise ProgramError(f"item {i}: {item.problem}")


def _check_shape(index: int, shape: tuple[int, ...]) -> int:
    """The elements of an item's ``shape``, which has at most :data:`MAX_SHAPE_AXES` axes of
    at most :data:`MAX_PARAMETER_SETS` each and at most that many elements in all."""
    if len(shape) > MAX_SHAPE_AXES or any(n > MAX_PARAMETER_SETS for n in shape):
        raise ProgramError(
            f"item {index}: a shape has at most {MAX_SHAPE_AXES} axes of at most "
            f"{MAX_PARAMETER_SETS:,} elements."
        )
    elements = math.prod(shape)
    if elements > MAX_PARAMETER_SETS:
        raise ProgramError(
            f"item {index}: its shape has {elements:,} elements; the service runs at most "
            f"{MAX_PARAMETER_SETS:,} per item."
        )
    return elements


def _register_bits(num_clbits: int, summary: ProgramSummary) -> int:
    """Bits one element's registers return (at least one per shot, as for sampler pubs)."""
    clbits = max(1, num_clbits)
    if summary.meas_level == "classified":
        return int(summary.shots) * clbits
    if summary.meas_level == "kerneled":
        return int(summary.shots) * clbits * 128
    return clbits * 128


def _check_rep_delay(rep_delay: float | None, configuration: Mapping[str, Any]) -> None:
    """``rep_delay`` (seconds) within the device's ``rep_delay_range`` (microseconds)."""
    if rep_delay is None:
        return
    if not math.isfinite(rep_delay) or rep_delay < 0:
        raise ProgramError("options.rep_delay must be a non-negative number of seconds.")
    bounds = configuration.get("rep_delay_range")
    if isinstance(bounds, list) and len(bounds) == 2:
        low, high = (float(b) * 1e-6 for b in bounds)
        if not low <= rep_delay <= high:
            raise ProgramError(
                f"options.rep_delay {rep_delay:g} s is outside the device's range "
                f"[{low:g}, {high:g}] s."
            )
