"""Pydantic validation errors as configuration problems: short, positioned, value-free."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from assistant._yaml import UNRESOLVED, Document, Loc, Problem, format_path, shown_key
from assistant.secrets import Secret

__all__ = ["from_pydantic"]


_TYPE_MESSAGES = {
    "missing": "field required",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "path_type": "expected a path",
    "string_too_short": "must not be empty",
}


def from_pydantic(err: ValidationError, doc: Document, root: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error, placed on its YAML node; unresolved inputs skipped."""
    problems = []
    for error in err.errors(include_url=False):
        if error.get("input") is UNRESOLVED:
            continue
        loc = tuple(error["loc"])
        mark = doc.mark_for(loc, error["type"])
        problems.append(Problem(mark, format_path(loc), _describe(error, loc, root)))
    return problems


def _describe(error: ErrorDetails, loc: Loc, root: type[BaseModel]) -> str:
    """A short message for people; never includes the input value."""
    kind, ctx = error["type"], error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind]
        if isinstance(value, Secret):
            return f"{message}; a secret is not allowed here"
        if kind == "bool_type" and str(value).lower() in ("yes", "no", "on", "off"):
            return f"{message} (in YAML 1.2, yes/no/on/off are strings)"
        return f"{message}, but the value is empty" if value is None else message
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}"
    return str(error["msg"]).removeprefix("Value error, ")


def _unknown_key(loc: Loc, root: type[BaseModel]) -> str:
    """``unknown key 'tokn'``, with a suggestion when one known key is close."""
    key = str(loc[-1]) if loc else ""
    model = _model_at(loc[:-1], root)
    known = sorted(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    name = shown_key(key)
    return f"unknown key '{name}'{hint}" if name else f"unknown key{hint}"


def _model_at(loc: Loc, root: type[BaseModel]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
