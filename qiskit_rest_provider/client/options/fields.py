"""The options framework: the :data:`Unset` marker, validators and :class:`OptionGroup`.

Nothing here knows an option's name: :mod:`.schema` lists the options with these pieces and
:mod:`.wire` maps them to a job's ``params``.

The validators are built from the protocol's option table
(:data:`~qiskit_rest_provider.wire.options.OPTION_SCHEMAS`, the one the local service checks
jobs against): :func:`from_spec` turns a leaf's
:class:`~qiskit_rest_provider.wire.options.ValueSpec` into a validator, and :func:`built_from`
gives an :class:`OptionGroup` subclass the fields of a whole group. On JSON values they accept
what the service accepts; beyond JSON they also take the Python values the client converts on
its own (any iterable for a list, stored as a list; any mapping for an object, stored as a dict;
numbers stored as ``float``).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from ...wire.options import OptionGroupSpec, ValueSpec

__all__ = [
    "Check",
    "OptionGroup",
    "Unset",
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


class _UnsetType:
    _instance: ClassVar[_UnsetType | None] = None

    def __new__(cls) -> _UnsetType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unset"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _UnsetType:
        return self

    def __deepcopy__(self, memo: Any) -> _UnsetType:
        return self


#: The value of an option nobody set (the service's default applies).
Unset: Any = _UnsetType()

#: A validator: takes the option's path (for messages) and a value, returns the value to store
#: (possibly normalised) or raises ``TypeError``/``ValueError`` naming the path.
Check = Callable[[str, Any], Any]


#: Longest rendering of a refused value in a message.
_SHOWN_CHARS = 100


def _shown(value: Any) -> str:
    """``repr(value)`` for a message, cut to :data:`_SHOWN_CHARS` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python converts to text
        return "a huge integer"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double is no finite number (as the service)
        return False


def _check_bounds(
    path: str, value: float, gt: float | None, ge: float | None, le: float | None
) -> None:
    if gt is not None and value <= gt:
        raise ValueError(f"{path} must be > {gt}, not {_shown(value)}")
    if ge is not None and value < ge:
        raise ValueError(f"{path} must be >= {ge}, not {_shown(value)}")
    if le is not None and value > le:
        raise ValueError(f"{path} must be <= {le}, not {_shown(value)}")


def boolean(path: str, value: Any) -> bool:
    """Accept ``True`` or ``False`` only (not 0/1)."""
    if not isinstance(value, bool):
        raise TypeError(f"{path} must be True or False, not {_shown(value)}")
    return value


def integer(
    minimum: float | None = None, maximum: float | None = None, *, gt: float | None = None
) -> Check:
    """A validator of integers (not bools) in ``minimum..maximum`` (either bound optional),
    optionally ``> gt``."""

    def check(path: str, value: Any) -> int:
        if not _is_int(value):
            raise TypeError(f"{path} must be an integer, not {_shown(value)}")
        _check_bounds(path, value, gt, minimum, maximum)
        return int(value)

    return check


def real(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Check:
    """A validator of finite numbers, stored as ``float``, optionally ``> gt``, ``>= ge`` or
    ``<= le``."""

    def check(path: str, value: Any) -> float:
        if not _is_real(value):
            raise TypeError(f"{path} must be a finite number, not {_shown(value)}")
        _check_bounds(path, value, gt, ge, le)
        return float(value)

    return check


def choice(*values: str) -> Check:
    """A validator accepting one of ``values``."""

    def check(path: str, value: Any) -> str:
        if value not in values:
            allowed = ", ".join(map(repr, values))
            raise ValueError(f"{path} must be one of {allowed}; got {_shown(value)}")
        return str(value)

    return check


def nullable(inner: Check) -> Check:
    """``inner``, or ``None``."""

    def check(path: str, value: Any) -> Any:
        return None if value is None else inner(path, value)

    return check


def either_auto(inner: Check) -> Check:
    """``inner``, or the string ``"auto"``."""

    def check(path: str, value: Any) -> Any:
        # isinstance first: a numpy array compares item by item and has no truth value.
        return "auto" if isinstance(value, str) and value == "auto" else inner(path, value)

    return check


def _is_many(value: Any) -> bool:
    """Whether the client takes ``value`` as a list: any iterable but a string."""
    return not isinstance(value, (str, bytes)) and hasattr(value, "__iter__")


def list_of(inner: Check, *, min_length: int = 0) -> Check:
    """A validator of iterables (not strings), each item checked by ``inner``, stored as a list."""

    def check(path: str, value: Any) -> list[Any]:
        if not _is_many(value):
            raise TypeError(f"{path} must be a list, not {_shown(value)}")
        items = [inner(f"{path}[{i}]", v) for i, v in enumerate(value)]
        if len(items) < min_length:
            raise ValueError(f"{path} needs at least {min_length} item(s)")
        return items

    return check


def one_or_list(item: Check, many: Check) -> Check:
    """``item`` for one value on its own (a string or anything not iterable), else ``many``;
    the value is stored as given, one value or a list."""

    def check(path: str, value: Any) -> Any:
        return many(path, value) if _is_many(value) else item(path, value)

    return check


def string_list(*, max_items: int | None = None, max_length: int | None = None) -> Check:
    """A validator of lists of strings, with optional limits on their number and length."""

    def check(path: str, value: Any) -> list[str]:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise TypeError(f"{path} must be a list of strings, not {_shown(value)}")
        items = list(value)
        if not all(isinstance(v, str) for v in items):
            raise TypeError(f"{path} must hold strings only")
        if max_items is not None and len(items) > max_items:
            raise ValueError(f"{path} holds at most {max_items} items")
        if max_length is not None and any(len(v) > max_length for v in items):
            raise ValueError(f"{path}: each item is at most {max_length} characters")
        return items

    return check


def mapping(path: str, value: Any) -> dict[str, Any]:
    """Accept any mapping, stored as a ``dict``."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{path} must be a dict, not {_shown(value)}")
    return dict(value)


def edges(path: str, value: Any) -> list[list[int]]:
    """Accept a coupling map's edges: an iterable (not a string) of ``[int, int]`` pairs,
    stored as a list of two-item lists."""
    if not _is_many(value):
        raise TypeError(f"{path} must be a list of [int, int] edges, not {_shown(value)}")
    result = []
    for i, pair in enumerate(value):
        # At most three items are read: enough to refuse a pair that is no pair.
        ends = list(itertools.islice(pair, 3)) if _is_many(pair) else []
        if len(ends) != 2 or not all(_is_int(end) for end in ends):
            raise TypeError(f"{path}[{i}] must be an [int, int] edge, not {_shown(pair)}")
        result.append([int(ends[0]), int(ends[1])])
    return result


def anything(path: str, value: Any) -> Any:
    """Accept any value unchanged."""
    return value


# Validators from the protocol's option table ------------------------------------------------


def _whole(bound: float | None) -> float | None:
    """An integral float bound as an ``int`` (messages then read ``>= 1``, not ``>= 1.0``)."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _kind_check(spec: ValueSpec) -> Check:
    """The validator of ``spec``'s kind and range, without ``nullable`` and ``auto``."""
    kind = spec.kind
    if kind == "boolean":
        return boolean
    if kind == "integer":
        low, high, above = _whole(spec.minimum), _whole(spec.maximum), spec.exclusive_minimum
        return integer(low, high, gt=above)
    if kind == "number":
        return real(gt=spec.exclusive_minimum, ge=spec.minimum, le=spec.maximum)
    if kind == "choice":
        return choice(*spec.choices)
    if kind == "list":
        if spec.items is None:
            raise ValueError("a 'list' ValueSpec needs items")
        item = from_spec(spec.items)
        many = list_of(item, min_length=spec.min_items)
        return one_or_list(item, many) if spec.single else many
    if kind == "strings":
        return string_list(max_items=spec.max_items, max_length=spec.max_length)
    if kind == "object":
        return mapping
    if kind == "edges":
        return edges
    if kind == "any":
        return anything
    raise ValueError(f"unknown ValueSpec kind {kind!r}")


def _then(first: Check, second: Check) -> Check:
    def check(path: str, value: Any) -> Any:
        return second(path, first(path, value))

    return check


def from_spec(spec: ValueSpec, convert: Check | None = None) -> Check:
    """The validator of the values the protocol's ``spec`` accepts.

    Each field of ``spec`` maps to a validator here: ``boolean`` to :func:`boolean`,
    ``integer`` and ``number`` (with their bounds) to :func:`integer` and :func:`real`,
    ``choice`` to :func:`choice`, ``list`` to :func:`list_of` (:func:`one_or_list` when
    ``single``), ``strings`` to :func:`string_list`, ``object`` to :func:`mapping`, ``edges``
    to :func:`edges`, ``any`` to :func:`anything`; ``auto`` adds :func:`either_auto` and
    ``nullable`` :func:`nullable`.

    ``convert``, when given, runs first on every value but ``None`` and ``"auto"`` (where the
    spec allows them): a client-only conversion of a Python or Qiskit object into the JSON
    value the spec describes, which may refuse with its own message; the spec's check then
    runs on what it returns.
    """
    check = _kind_check(spec)
    if convert is not None:
        check = _then(convert, check)
    if spec.auto:
        check = either_auto(check)
    if spec.nullable:
        check = nullable(check)
    return check


#: The group of the protocol's table each class made by :func:`built_from` implements.
_SPECS: weakref.WeakKeyDictionary[type[OptionGroup], OptionGroupSpec] = weakref.WeakKeyDictionary()

_Group = TypeVar("_Group", bound="type[OptionGroup]")


def spec_of(group: type[OptionGroup]) -> OptionGroupSpec | None:
    """The group of the protocol's option table ``group`` was built from (:func:`built_from`),
    or None."""
    return _SPECS.get(group)


def _group_fields(
    spec: OptionGroupSpec,
    groups: Mapping[str, type[OptionGroup]],
    convert: Mapping[str, Check],
) -> dict[str, Check | type[OptionGroup]]:
    """The ``_fields`` for ``spec``, in its order (see :func:`built_from`)."""
    fields: dict[str, Check | type[OptionGroup]] = {}
    for name, item in spec.items():
        if isinstance(item, ValueSpec):
            fields[name] = from_spec(item, convert.get(name))
            continue
        group = groups.get(name)
        if group is None or spec_of(group) != item:
            raise RuntimeError(f"option group {name!r} needs the class built from its spec")
        fields[name] = group
    stray = sorted(
        {n for n in groups if not isinstance(spec.get(n), Mapping)}
        | {n for n in convert if not isinstance(spec.get(n), ValueSpec)}
    )
    if stray:
        raise RuntimeError(f"{stray}: not a nested group or leaf option of the spec")
    return fields


def built_from(
    *specs: OptionGroupSpec,
    groups: Mapping[str, type[OptionGroup]] | None = None,
    convert: Mapping[str, Check] | None = None,
) -> Callable[[_Group], _Group]:
    """A class decorator: the :class:`OptionGroup` subclass gets one field per option of the
    protocol's ``specs`` (groups of :mod:`qiskit_rest_provider.wire.options`, merged in order).

    A leaf option's validator is :func:`from_spec` of its spec (after ``convert[name]``, the
    client-only conversion, where given); a nested group's field is ``groups[name]``, which
    must be the class built from that group's spec. Raises ``RuntimeError`` (at import of the
    schema) when the specs share a name, a nested group has no class or a class built from
    another spec, or ``groups``/``convert`` name anything else.
    """
    merged: dict[str, ValueSpec | OptionGroupSpec] = {}
    for spec in specs:
        if merged.keys() & spec.keys():
            raise RuntimeError(f"the specs share option names {sorted(merged.keys() & spec)}")
        merged.update(spec)
    table = MappingProxyType(merged)
    fields = _group_fields(table, groups or {}, convert or {})

    def decorate(cls: _Group) -> _Group:
        cls._fields = fields
        _SPECS[cls] = table
        return cls

    return decorate


class OptionGroup:
    """A group of options; subclasses list their options in ``_fields``.

    A field is either a validator (a leaf option) or an ``OptionGroup`` subclass (a nested group).
    """

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {}
    _path: str

    def __init__(self, _path: str = "", **values: Any) -> None:
        object.__setattr__(self, "_path", _path)
        object.__setattr__(self, "_values", {})
        for name, field in self._fields.items():
            if isinstance(field, type):
                self._values[name] = field(self._child_path(name))
        self.update(**values)

    _values: dict[str, Any]

    def _child_path(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _field(self, name: str) -> Check | type[OptionGroup]:
        try:
            return self._fields[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f"{type(self).__name__}"
            raise AttributeError(f"{where} has no option {name!r}{hint}") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._field(name)
        return self._values.get(name, Unset)

    def __setattr__(self, name: str, value: Any) -> None:
        field = self._field(name)
        path = self._child_path(name)
        if isinstance(field, type):
            if isinstance(value, field):
                self._values[name] = copy.deepcopy(value)
                object.__setattr__(self._values[name], "_path", path)
            elif isinstance(value, Mapping):
                group = field(path)
                group.update(**value)
                self._values[name] = group
            else:
                raise TypeError(f"{path} must be a dict or {field.__name__}, not {value!r}")
            return
        if value is Unset:
            self._values.pop(name, None)
            return
        self._values[name] = field(path, value)

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, Unset)

    def update(self, **values: Any) -> None:
        """Set several options; nested groups take dicts and are updated, not replaced."""
        for name, value in values.items():
            field = self._field(name)
            if isinstance(field, type) and isinstance(value, Mapping):
                self._values[name].update(**value)
            else:
                setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The options that were set, nested; empty groups are left out."""
        result: dict[str, Any] = {}
        for name, value in self._values.items():
            if isinstance(value, OptionGroup):
                sub = value.to_dict()
                if sub:
                    result[name] = sub
            else:
                result[name] = copy.deepcopy(value)
        return result

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, OptionGroup)
            and type(self) is type(other)
            and (self.to_dict() == other.to_dict())
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({items})"

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._fields})
