"""Home Assistant style templates for MQTT payloads: ``{{ value_json.temperature }}``.

Discovery configs carry Jinja templates that pick a value out of a state payload
(``value_template``: variables ``value``, the payload text, and ``value_json``, the payload
parsed as JSON) or shape a command payload (``command_template``: ``value`` and extras such as
``red``/``green``/``blue``). They come from whatever can publish on the broker, so they run in
a tight box:

- Jinja's immutable sandbox, an allow-list of filters, globals and methods whose cost grows at
  most with the size of their input, and no ``include``/``import``/``extends``;
- operators that can build huge values (``*``, ``**``, ``+``, ``%``, ``~``) check the size of
  what they would build (MAX_VALUE characters or items, MAX_INT_BITS for integers);
- every loop step, call, attribute lookup and filter checks a deadline (RENDER_SECONDS);
- the rendered text is capped at MAX_OUTPUT characters.

Home Assistant's filters and globals are there: ``int``, ``float``, ``bool``, ``round``,
``multiply``, ``is_defined``, ``is_number``, ``from_json``, ``to_json``, ``iif``, ``min``,
``max`` (and Jinja's ``default``, ``lower``, ``upper``, ``replace``, ``join``, ...).

Undefined values differ from HA on purpose: HA prints ``{{ value_json.missing }}`` as an empty
string (and logs a warning), which then reads as a wrong state. Here printing, comparing or
converting an undefined value raises ``TemplateUndefined``, a PayloadError naming the missing
key. Tests still work: ``is defined``, ``default(...)``, ``int(0)`` and ``if value_json.x``
(undefined is false). When the payload is not JSON, ``value_json`` is undefined and says so.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jinja2
from jinja2 import meta, nodes

from .entity import PayloadError, decode_text, parse_json
from .template_sandbox import (
    DEADLINE,
    ENV,
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_VALUE,
    RENDER_SECONDS,
    StrictishUndefined,
    TooSlow,
)

__all__ = [
    "CommandTemplate",
    "Payload",
    "TemplateUndefined",
    "ValueTemplate",
    "MAX_INT_BITS",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_TEMPLATE",
    "MAX_VALUE",
    "RENDER_SECONDS",
]

_MISSING: Any = object()

MAX_TEMPLATE = 8 * 1024
"""Characters a template's source may have."""
MAX_OUTPUT = 64 * 1024
"""Characters a template may render."""


class TemplateUndefined(PayloadError):
    """A template printed or compared a value the payload does not have."""


class Payload:
    """One received payload, decoded once; its JSON is parsed on first use."""

    __slots__ = ("text", "_json", "_error")

    def __init__(self, raw: bytes | str) -> None:
        self.text = raw if isinstance(raw, str) else decode_text(raw)
        self._json: Any = _MISSING
        self._error: PayloadError | None = None

    @property
    def json(self) -> Any:
        """The payload parsed as JSON; PayloadError when it is not JSON."""
        if self._error is not None:
            raise self._error
        if self._json is _MISSING:
            try:
                self._json = parse_json(self.text)
            except PayloadError as err:
                self._error = err
                raise
        return self._json


@functools.lru_cache(maxsize=1024)
def _compile(source: str, what: str) -> tuple[jinja2.Template, frozenset[str]]:
    """A template and the variables it reads; PayloadError("bad <what>: ...")."""
    if len(source) > MAX_TEMPLATE:
        raise PayloadError(f"bad {what}: {len(source)} characters (at most {MAX_TEMPLATE})")
    try:
        tree = ENV.parse(source)
    except jinja2.TemplateSyntaxError as err:
        raise PayloadError(f"bad {what}: {err.message} (line {err.lineno})") from None
    if any(tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport))):
        raise PayloadError(f"bad {what}: extends/include/import are not allowed")
    try:  # also finds filters and tests that do not exist
        names = frozenset(meta.find_undeclared_variables(tree))
    except jinja2.TemplateError as err:
        raise PayloadError(f"bad {what}: {_short(err)}") from None
    for loop in list(tree.find_all(nodes.For)):
        loop.iter = _call("_loop", [loop.iter], loop.lineno)
    for concat in list(tree.find_all(nodes.Concat)):
        concat.nodes = [_call("_concat", concat.nodes, concat.lineno)]
    try:
        return ENV.from_string(tree), names
    except jinja2.TemplateError as err:  # the compiler found something the parser did not
        raise PayloadError(f"bad {what}: {_short(err)}") from None


def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    call = nodes.Call(nodes.Name(name, "load"), args, [], None, None)
    return call.set_lineno(lineno)


def _short(err: BaseException) -> str:
    text = getattr(err, "message", None) or str(err) or type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class _Compiled:
    __slots__ = ("source", "what", "_template", "_names")

    def __init__(self, source: str, what: str) -> None:
        if not isinstance(source, str):
            raise PayloadError(f"{what} must be a string")
        self.source = source
        self.what = what
        self._template, self._names = _compile(source, what)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"

    def _render(self, variables: dict[str, Any]) -> str:
        token = DEADLINE.set(time.monotonic() + RENDER_SECONDS)
        try:
            parts: list[str] = []
            size = 0
            for chunk in self._template.generate(variables):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise PayloadError(f"output over {MAX_OUTPUT} characters")
                parts.append(chunk)
            return "".join(parts)
        except jinja2.UndefinedError as err:
            raise TemplateUndefined(f"{self.what}: {_short(err)}") from None
        except TemplateUndefined:
            raise
        except PayloadError as err:
            raise PayloadError(f"{self.what}: {err}") from None
        except (jinja2.TemplateError, TooSlow, ArithmeticError, RecursionError) as err:
            raise PayloadError(f"{self.what}: {_short(err)}") from None
        except (TypeError, ValueError, LookupError, AttributeError) as err:
            raise PayloadError(f"{self.what}: {_short(err)}") from None
        finally:
            DEADLINE.reset(token)


class ValueTemplate(_Compiled):
    """A template that reads a state payload: ``{{ value_json.state }}``.

    Compiled once (PayloadError "bad value_template: ..." when it does not compile); each
    ``render`` gets ``value`` (the payload text) and, only if the template mentions it,
    ``value_json``.
    """

    __slots__ = ()

    def __init__(self, source: str, what: str = "value_template") -> None:
        super().__init__(source, what)

    def render(self, payload: Payload | bytes | str, **variables: Any) -> str:
        """The rendered text; PayloadError (TemplateUndefined for a missing key)."""
        if not isinstance(payload, Payload):
            payload = Payload(payload)
        variables["value"] = payload.text
        if "value_json" in self._names:
            try:
                variables["value_json"] = payload.json
            except PayloadError as err:
                variables["value_json"] = StrictishUndefined(
                    hint=f"value_json is undefined: the payload is {err}", name="value_json"
                )
        return self._render(variables)


class CommandTemplate(_Compiled):
    """A template that shapes a command payload: ``{"brightness": {{ value }}}``."""

    __slots__ = ()

    def __init__(self, source: str, what: str = "command_template") -> None:
        super().__init__(source, what)

    def render(self, value: Any, **variables: Any) -> str:
        """The payload text for ``value``; extra variables (``red``, ``code``, ...) as given."""
        variables["value"] = value
        return self._render(variables)
