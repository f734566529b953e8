"""The options framework: the :data:`Unset` marker, validators and :class:`OptionGroup`.

Nothing here knows an option's name: :mod:`.schema` lists the options with these pieces and
:mod:`.wire` maps them to a job's ``params``.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

__all__ = [
    "Check",
    "OptionGroup",
    "Unset",
    "anything",
    "boolean",
    "choice",
    "either_auto",
    "integer",
    "list_of",
    "mapping",
    "nullable",
    "real",
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def boolean(path: str, value: Any) -> bool:
    """Accept ``True`` or ``False`` only (not 0/1)."""
    if not isinstance(value, bool):
        raise TypeError(f"{path} must be True or False, not {value!r}")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    """A validator of integers (not bools) in ``minimum..maximum`` (either bound optional)."""

    def check(path: str, value: Any) -> int:
        if not _is_int(value):
            raise TypeError(f"{path} must be an integer, not {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"{path} must be >= {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ValueError(f"{path} must be <= {maximum}, not {value}")
        return int(value)

    return check


def real(*, gt: float | None = None, ge: float | None = None) -> Check:
    """A validator of finite numbers, stored as ``float``, optionally ``> gt`` or ``>= ge``."""

    def check(path: str, value: Any) -> float:
        if not _is_real(value):
            raise TypeError(f"{path} must be a finite number, not {value!r}")
        if gt is not None and value <= gt:
            raise ValueError(f"{path} must be > {gt}, not {value}")
        if ge is not None and value < ge:
            raise ValueError(f"{path} must be >= {ge}, not {value}")
        return float(value)

    return check


def choice(*values: str) -> Check:
    """A validator accepting one of ``values``."""

    def check(path: str, value: Any) -> str:
        if value not in values:
            raise ValueError(f"{path} must be one of {', '.join(map(repr, values))}; got {value!r}")
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
        return "auto" if value == "auto" else inner(path, value)

    return check


def list_of(inner: Check, *, min_length: int = 0) -> Check:
    """A validator of iterables (not strings), each item checked by ``inner``, stored as a list."""

    def check(path: str, value: Any) -> list[Any]:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{path} must be a list, not {value!r}")
        items = [inner(f"{path}[{i}]", v) for i, v in enumerate(value)]
        if len(items) < min_length:
            raise ValueError(f"{path} needs at least {min_length} item(s)")
        return items

    return check


def string_list(*, max_items: int | None = None, max_length: int | None = None) -> Check:
    """A validator of lists of strings, with optional limits on their number and length."""

    def check(path: str, value: Any) -> list[str]:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise TypeError(f"{path} must be a list of strings, not {value!r}")
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
        raise TypeError(f"{path} must be a dict, not {value!r}")
    return dict(value)


def anything(path: str, value: Any) -> Any:
    """Accept any value unchanged."""
    return value


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
