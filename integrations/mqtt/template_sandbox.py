"""The sandbox Home Assistant style templates run in (see ``templates``).

Jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals; this adds
what it leaves open: values that grow without bound (``'x' * 10**9``, ``value | join(value)``,
``value.center(10**9)``) and renders that never end (nested loops). Operators that can build
huge values check sizes first; filters, globals and methods are an allow-list of ones whose cost
grows at most with their input; every loop step, call, attribute lookup and filter checks the
deadline in ``DEADLINE``. Home Assistant's own filters and globals live here too.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import jinja2
import jinja2.filters
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .entity import PayloadError, parse_json

__all__ = [
    "DEADLINE",
    "ENV",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_VALUE",
    "RENDER_SECONDS",
    "StrictishUndefined",
    "TooSlow",
]

MAX_VALUE = 1024 * 1024
"""Characters (or items) of any string or list a template builds on the way."""
MAX_INT_BITS = 4096
"""Bits of any integer a template computes."""
MAX_RANGE = 10_000
"""Items ``range()`` may produce."""
RENDER_SECONDS = 0.1
"""Seconds one render may take (renders run on the event loop; real ones take microseconds)."""


DEADLINE: ContextVar[float] = ContextVar("template_deadline", default=math.inf)
_MISSING: Any = object()


class TooSlow(Exception):
    """The render ran past its deadline."""


class StrictishUndefined(jinja2.StrictUndefined):
    """Strict (printing, comparing or converting it raises), except that ``if value_json.x``
    is simply false."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False


# -- deadline and size checks -----------------------------------------------------------------


def _check() -> None:
    if time.monotonic() > DEADLINE.get():
        raise TooSlow(f"took longer than {RENDER_SECONDS:g} s")


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE:
        raise SecurityError(f"a value of {len(value)} items is over the {MAX_VALUE} cap")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"an integer over {MAX_INT_BITS} bits")
    return value


def _guard_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _check()
        yield item


def _concat(*parts: Any) -> str:
    """The ``~`` operator, size-checked before joining."""
    texts = [str(part) for part in parts]
    _sized_total(sum(len(text) for text in texts))
    return "".join(texts)


def _sized_total(total: int) -> None:
    if total > MAX_VALUE:
        raise SecurityError(f"a value of {total} characters is over the {MAX_VALUE} cap")


_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _format(text: str, args: Any) -> str:
    """``text % args`` with widths and precisions capped (no ``%*d``, no ``%0999999999d``)."""
    for match in _FORMAT_SPEC.finditer(text):
        for number in match.groups():
            if number is not None and (number == "*" or int(number) > 1000):
                raise SecurityError("format width or precision over 1000")
    return _sized(text % args)


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if max(base.bit_length(), 1) * exponent > MAX_INT_BITS:
            raise SecurityError(f"an integer over {MAX_INT_BITS} bits")
    return base**exponent


def _times(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            _sized_total(len(seq) * count)
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"an integer over {MAX_INT_BITS} bits")
    return left * right


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        _sized_total(len(left) + len(right))
    return left + right


def _modulo(left: Any, right: Any) -> Any:
    return _format(left, right) if isinstance(left, str) else left % right


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": _power,
    "*": _times,
    "+": _plus,
    "%": _modulo,
}

_SAFE_METHODS: dict[type, frozenset[str]] = {  # bool before int: isinstance order
    bool: frozenset(),
    str: frozenset(
        "startswith endswith split rsplit splitlines strip lstrip rstrip lower upper title"
        " capitalize casefold find rfind index rindex count isdigit isnumeric isdecimal"
        " isalpha isalnum isspace islower isupper partition rpartition removeprefix"
        " removesuffix".split()
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
    int: frozenset({"real", "imag"}),
    float: frozenset({"real", "imag", "is_integer"}),
}


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with size-checked operators and a deadline on every step."""

    intercepted_binops = frozenset(_BINOPS)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check()
        return _BINOPS[operator](left, right)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check()
        return _sized(super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check()
        return super().getitem(obj, argument)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        for kind, allowed in _SAFE_METHODS.items():
            if isinstance(obj, kind):
                return attr in allowed
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None

        def refuse(*_args: Any, **_kwargs: Any) -> str:
            raise SecurityError("str.format is not allowed; use the format filter")

        return refuse


# -- Home Assistant's filters and globals ----------------------------------------------------


def _defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def _fallback(what: str, value: Any, default: Any) -> Any:
    if default is _MISSING:
        shown = repr(value)[:40] if not isinstance(value, jinja2.Undefined) else "undefined"
        raise ValueError(f"{what}: {shown} cannot be converted and no default was given")
    return default


def _int(value: Any, default: Any = _MISSING, base: int = 10) -> Any:
    if isinstance(value, jinja2.Undefined) and default is not _MISSING:
        return default
    _defined(value)
    try:
        if isinstance(value, str):
            try:
                return _sized(int(value.strip(), base))
            except ValueError:
                if base != 10:
                    raise
                return int(float(value))
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return _fallback("int", value, default)


def _float(value: Any, default: Any = _MISSING) -> Any:
    if isinstance(value, jinja2.Undefined) and default is not _MISSING:
        return default
    _defined(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return _fallback("float", value, default)


def _bool(value: Any, default: Any = _MISSING) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "on", "enable", "1"):
            return True
        if word in ("false", "no", "off", "disable", "0", "none"):
            return False
    if isinstance(value, jinja2.Undefined) and default is _MISSING:
        _defined(value)
    return _fallback("bool", value, default)


def _round(value: Any, precision: int = 0, method: str = "common", default: Any = _MISSING) -> Any:
    number = _float(value, default)
    if not isinstance(number, float):
        return number
    if not isinstance(precision, int) or not -15 <= precision <= 15:
        raise ValueError("round: precision must be a whole number from -15 to 15")
    if not math.isfinite(number):
        return _fallback("round", value, default)
    factor = 10**precision
    if method == "ceil":
        number = math.ceil(number * factor) / factor
    elif method == "floor":
        number = math.floor(number * factor) / factor
    elif method == "half":
        number = round(number * 2) / 2
    else:
        number = round(number, precision)
    return int(number) if precision == 0 else number


def _multiply(value: Any, amount: Any, default: Any = _MISSING) -> Any:
    number = _float(value, default)
    return number * amount if isinstance(number, float) else number


def _is_defined(value: Any) -> Any:
    return _defined(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _from_json(value: Any, default: Any = _MISSING) -> Any:
    try:
        return parse_json(str(_defined(value)))
    except PayloadError:
        if default is _MISSING:
            raise
        return default


def _to_json(
    value: Any, ensure_ascii: bool = False, pretty_print: bool = False, sort_keys: bool = False
) -> str:
    indent = 2 if pretty_print else None
    return json.dumps(
        _defined(value), ensure_ascii=ensure_ascii, indent=indent, sort_keys=sort_keys
    )


def _iif(value: Any, if_true: Any = True, if_false: Any = False, if_none: Any = _MISSING) -> Any:
    if value is None and if_none is not _MISSING:
        return if_none
    return if_true if value else if_false


def _minmax(pick: Callable[..., Any]) -> Callable[..., Any]:
    def choose(*args: Any) -> Any:
        return pick(args[0] if len(args) == 1 else [_defined(arg) for arg in args])

    return choose


def _replace(text: Any, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(_defined(text)), str(old), str(new)
    if not old:
        raise SecurityError("replace needs a non-empty string to replace")
    everywhere = count is None or count < 0
    times = text.count(old) if everywhere else min(count, text.count(old))
    _sized_total(len(text) + times * (len(new) - len(old)))
    return text.replace(old, new, -1 if everywhere else count)


def _join(value: Iterable[Any], separator: str = "") -> str:
    texts = [str(_defined(item)) for item in _guard_loop(_defined(value))]
    _sized_total(sum(map(len, texts)) + len(separator) * max(len(texts) - 1, 0))
    return separator.join(texts)


def _range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range of {len(result)} items is over the {MAX_RANGE} cap")
    return result


def _timed(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        _check()
        return _sized(func(*args, **kwargs))

    return run


_JINJA_FILTERS = (
    "abs attr capitalize count d default dictsort filesizeformat first groupby items last"
    " length list lower map max min reject rejectattr reverse select selectattr sort string"
    " sum title trim truncate unique upper wordcount"
).split()

_OWN_FILTERS: dict[str, Callable[..., Any]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "round": _round,
    "multiply": _multiply,
    "is_defined": _is_defined,
    "is_number": _is_number,
    "from_json": _from_json,
    "to_json": _to_json,
    "tojson": _to_json,
    "iif": _iif,
    "replace": _replace,
    "join": _join,
    "format": lambda text, *args, **kwargs: _format(str(_defined(text)), kwargs or args),
}

_GLOBALS: dict[str, Any] = {
    "range": _range,
    "dict": lambda *args, **kwargs: dict(*args, **kwargs),
    "namespace": jinja2.runtime.Namespace,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "round": _round,
    "iif": _iif,
    "is_number": _is_number,
    "min": _minmax(min),
    "max": _minmax(max),
    "_loop": _guard_loop,
    "_concat": _concat,
}


def _environment() -> _Environment:
    env = _Environment(undefined=StrictishUndefined, autoescape=False)
    env.filters = {name: _timed(jinja2.filters.FILTERS[name]) for name in _JINJA_FILTERS}
    env.filters.update({name: _timed(func) for name, func in _OWN_FILTERS.items()})
    env.tests["is_number"] = _is_number
    env.globals = dict(_GLOBALS)
    return env


ENV = _environment()
