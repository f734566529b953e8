"""Execution spans: when each slice of a result's data was produced on the device.

API-compatible with ``qiskit_ibm_runtime.execution_span`` (``start``, ``stop``, ``duration``,
``size``, ``pub_idxs``, ``mask()``, ``contains_pub()``, ``filter_by_pub()``), without depending
on that package.
"""

from __future__ import annotations

import abc
import datetime as _dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "DoubleSliceSpan",
    "ExecutionSpan",
    "ExecutionSpans",
    "SliceSpan",
    "TwirledSliceSpan",
    "TwirledSliceSpanV2",
]

Shape = tuple[int, ...]


def _pub_set(pub_idx: int | Iterable[int]) -> set[int]:
    return {pub_idx} if isinstance(pub_idx, int) else set(pub_idx)


class ExecutionSpan(abc.ABC):
    """A time interval and the parts of each pub's data that were produced in it."""

    def __init__(self, start: _dt.datetime, stop: _dt.datetime, data_slices: Mapping[int, Any]):
        self._start = start
        self._stop = stop
        self._data_slices = dict(data_slices)

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and isinstance(other, ExecutionSpan)
            and (self._start, self._stop, self._data_slices)
            == (other._start, other._stop, other._data_slices)
        )

    def __lt__(self, other: ExecutionSpan) -> bool:
        return (self._start, self._stop) < (other._start, other._stop)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(<start='{self._start}', stop='{self._stop}', size={self.size}>)"
        )

    @property
    def start(self) -> _dt.datetime:
        """When the span began."""
        return self._start

    @property
    def stop(self) -> _dt.datetime:
        """When the span ended."""
        return self._stop

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return (self._stop - self._start).total_seconds()

    @property
    def data_slices(self) -> dict[int, Any]:
        """A copy of the per-pub slice descriptions, keyed by pub index; their form depends on
        the subclass."""
        return dict(self._data_slices)

    @property
    def pub_idxs(self) -> list[int]:
        """The indices of the pubs that have data in this span, ascending."""
        return sorted(self._data_slices)

    def contains_pub(self, pub_idx: int | Iterable[int]) -> bool:
        """Whether any of the given pubs (one index or several) has data in this span."""
        return not _pub_set(pub_idx).isdisjoint(self._data_slices)

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpan:
        """A span of the same type and times holding only the given pubs' slices (possibly
        none)."""
        keep = _pub_set(pub_idx)
        slices = {k: v for k, v in self._data_slices.items() if k in keep}
        return type(self)(self._start, self._stop, slices)

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Total number of result elements (across pubs) that depend on this span."""

    @abc.abstractmethod
    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """Boolean mask over a pub's data (shape plus shots) of what this span produced."""

    def _slice(self, pub_idx: int) -> Any:
        if pub_idx not in self._data_slices:
            raise KeyError(f"Pub {pub_idx} is not included in the span.")
        return self._data_slices[pub_idx]


class SliceSpan(ExecutionSpan):
    """``data_slices``: ``{pub: (shape, slice)}`` over the flattened ``shape``."""

    @property
    def size(self) -> int:
        """The number of elements the slices select, summed over the pubs."""
        return sum(len(range(math.prod(shape))[sl]) for shape, sl in self._data_slices.values())

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """A boolean array of the pub's ``shape``, True where the slice (applied to the
        flattened array) selects.

        Raises:
            KeyError: the pub has no data in this span.
        """
        shape, sl = self._slice(pub_idx)
        mask = np.zeros(shape, dtype=np.bool_)
        mask.ravel()[sl] = True
        return mask


class DoubleSliceSpan(ExecutionSpan):
    """``data_slices``: ``{pub: (shape, args_slice, shots_slice)}``."""

    @property
    def size(self) -> int:
        """Selected parameter sets times selected shots, summed over the pubs."""
        return sum(
            len(range(math.prod(shape[:-1]))[a]) * len(range(shape[-1])[s])
            for shape, a, s in self._data_slices.values()
        )

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """A boolean array of the pub's ``shape`` (parameter shape, then shots), True where
        ``args_slice`` (over the flattened parameter shape) and ``shots_slice`` both select.

        Raises:
            KeyError: the pub has no data in this span.
        """
        shape, args_sl, shots_sl = self._slice(pub_idx)
        mask = np.zeros(shape, dtype=np.bool_)
        mask.reshape(math.prod(shape[:-1]), shape[-1])[args_sl, shots_sl] = True
        return mask


class TwirledSliceSpan(ExecutionSpan):
    """``data_slices``: ``{pub: (twirled_shape, at_front, args_slice, shots_slice)}``."""

    @property
    def size(self) -> int:
        """Selected rows times selected shots of the twirled data, summed over the pubs."""
        total = 0
        for value in self._data_slices.values():
            shape, _front, a, s = value[:4]
            total += len(range(math.prod(shape[:-1]))[a]) * len(range(shape[-1])[s])
        return total

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """A boolean mask over the pub's data: its parameter shape, then one shots axis that
        merges the twirling randomizations and the shots of each.

        ``twirled_shape`` is the shape of the twirled data, randomizations axis included (first
        when ``at_front``, else just before the shots axis); the slices select over it as in
        :class:`DoubleSliceSpan`.

        Raises:
            KeyError: the pub has no data in this span.
        """
        shape, at_front, args_sl, shots_sl = self._slice(pub_idx)[:4]
        mask = np.zeros(shape, dtype=np.bool_)
        mask.reshape(math.prod(shape[:-1]), shape[-1])[args_sl, shots_sl] = True
        if at_front:
            ndim = len(shape)
            mask = mask.transpose((*range(1, ndim - 1), 0, ndim - 1))
            shape = shape[1:-1] + shape[:1] + shape[-1:]
        return mask.reshape((*shape[:-2], math.prod(shape[-2:])))


class TwirledSliceSpanV2(TwirledSliceSpan):
    """As :class:`TwirledSliceSpan`, plus the pub's requested shots as a 5th entry."""

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """As :meth:`TwirledSliceSpan.mask`, with the shots axis cut to the pub's requested
        shots (randomizations × shots per randomization may exceed them).

        Raises:
            KeyError: the pub has no data in this span.
        """
        pub_shots = self._slice(pub_idx)[4]
        return super().mask(pub_idx)[..., :pub_shots]


class ExecutionSpans(Sequence[ExecutionSpan]):
    """A list-like collection of :class:`ExecutionSpan`."""

    def __init__(self, spans: Iterable[ExecutionSpan]):
        self._spans = list(spans)

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, idx: int) -> ExecutionSpan: ...

    @overload
    def __getitem__(self, idx: slice) -> ExecutionSpans: ...

    def __getitem__(self, idx: int | slice) -> ExecutionSpan | ExecutionSpans:
        if isinstance(idx, slice):
            return ExecutionSpans(self._spans[idx])
        return self._spans[idx]

    def __iter__(self) -> Iterator[ExecutionSpan]:
        return iter(self._spans)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionSpans) and self._spans == other._spans

    def __repr__(self) -> str:
        return f"ExecutionSpans({self._spans!r})"

    @property
    def pub_idxs(self) -> list[int]:
        """The indices of the pubs that have data in any span, ascending."""
        return sorted({i for span in self._spans for i in span.pub_idxs})

    @property
    def start(self) -> _dt.datetime:
        """The earliest start of the spans.

        Raises:
            ValueError: there are no spans.
        """
        return min(span.start for span in self._spans)

    @property
    def stop(self) -> _dt.datetime:
        """The latest stop of the spans.

        Raises:
            ValueError: there are no spans.
        """
        return max(span.stop for span in self._spans)

    @property
    def duration(self) -> float:
        """Seconds from the earliest start to the latest stop (gaps between spans included).

        Raises:
            ValueError: there are no spans.
        """
        return (self.stop - self.start).total_seconds()

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpans:
        """Every span, each filtered to the given pubs (spans left empty are kept, as in
        qiskit-ibm-runtime, so that indices and timing line up with the unfiltered list)."""
        return ExecutionSpans(span.filter_by_pub(pub_idx) for span in self._spans)

    def sort(self, inplace: bool = True) -> ExecutionSpans:
        """Sort the spans by start, then stop: this collection itself (returned) when
        ``inplace``, else a sorted copy, leaving this one as it is."""
        if not inplace:
            return ExecutionSpans(sorted(self._spans))
        self._spans.sort()
        return self
