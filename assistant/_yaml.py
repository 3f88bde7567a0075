"""YAML 1.2 to plain Python data, remembering where every key and value came from.

ruamel.yaml composes the node graph (so every node has a position); this module turns the
nodes into dicts, lists and scalars itself, which lets it report *every* duplicate key (the
ruamel constructor stops at the first) and resolve custom tags with positions attached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Document",
    "Loc",
    "Mark",
    "Problem",
    "TagError",
    "UNRESOLVED",
    "format_path",
    "load_document",
    "shown_key",
]

Loc: TypeAlias = tuple[str | int, ...]
TagHandler: TypeAlias = Callable[[str], Any]

_CORE = "tag:yaml.org,2002:"
_MERGE = _CORE + "merge"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{12}")
_HIDDEN_KEY = "<key>"
_BOOLS = {"true": True, "yes": True, "on": True, "y": True}
_BOOLS |= {"false": False, "no": False, "off": False, "n": False}
_NULLS = ("", "~", "null")


class _Unresolved:
    """Stands in for a value whose tag could not be resolved (already reported)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = _Unresolved()


class TagError(Exception):
    """Raised by a tag handler; ``message`` None means: already reported, stay quiet."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in the source text."""

    line: int
    """1-based line number."""
    col: int
    """1-based column number."""

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found while reading YAML: where, which key path, what."""

    mark: Mark
    where: str
    message: str


@dataclass(slots=True)
class Document:
    """Plain data plus the position of every value and every mapping key, by path."""

    data: Any = None
    value_marks: dict[Loc, Mark] = field(default_factory=dict)
    key_marks: dict[Loc, Mark] = field(default_factory=dict)
    texts: dict[Loc, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def mark_for(self, loc: Loc, kind: str = "value") -> Mark:
        """Where to report a problem at ``loc``: the key itself for an ``extra_forbidden``
        (unknown) key, the parent mapping for a ``missing`` one, else the value (or the
        nearest enclosing node that exists)."""
        if kind == "extra_forbidden" and loc in self.key_marks:
            return self.key_marks[loc]
        if kind == "missing":
            loc = loc[:-1]
        while loc and loc not in self.value_marks:
            loc = loc[:-1]
        return self.value_marks.get(loc, Mark(1, 1))


def shown_key(key: str) -> str | None:
    """``key`` if it looks like a key name, else None: a mistyped line such as
    ``{token 0123...}`` makes a key of a secret, and that must not be shown."""
    return key if _KEY.fullmatch(key) and not _HEX_RUN.search(key) else None


def format_path(loc: Loc) -> str:
    """``('devices', 2, 'miio', 'token')`` -> ``devices[2].miio.token``; () -> ``<root>``.

    A key that does not look like a name is shown as ``<key>`` (see :func:`shown_key`).
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = shown_key(part) or _HIDDEN_KEY
            out += f".{name}" if out else name
    return out or "<root>"


def load_document(text: str, tags: Mapping[str, TagHandler], *, quiet: bool = False) -> Document:
    """Parse one YAML document; syntax errors become a ``<syntax>`` problem.

    ``quiet`` withholds the parser's wording (it may quote the text, e.g. of a secrets file).
    """
    doc = Document()
    try:
        root = YAML(typ="rt", pure=True).compose(text)
    except MarkedYAMLError as err:
        doc.problems.append(_syntax_problem(err, quiet))
        return doc
    except YAMLError as err:
        message = "invalid YAML" if quiet else str(err)
        doc.problems.append(Problem(Mark(1, 1), "<syntax>", message))
        return doc
    if root is not None:
        doc.data = _Builder(doc, tags).build(root, ())
    return doc


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _syntax_problem(err: MarkedYAMLError, quiet: bool) -> Problem:
    mark = err.problem_mark or err.context_mark
    where = Mark(mark.line + 1, mark.column + 1) if mark is not None else Mark(1, 1)
    if quiet:
        return Problem(where, "<syntax>", "invalid YAML")
    message = str(err.problem or err.context or "invalid YAML")
    if err.context and err.problem:
        message += f" ({err.context}"
        if err.context_mark is not None:
            message += f" at line {err.context_mark.line + 1}"
        message += ")"
    return Problem(where, "<syntax>", message)


class _Builder:
    """Turns a composed node graph into plain data, filling a :class:`Document`."""

    def __init__(self, doc: Document, tags: Mapping[str, TagHandler]) -> None:
        self._doc = doc
        self._tags = tags
        self._active: set[int] = set()

    def _problem(self, node: Node, loc: Loc, message: str) -> None:
        self._doc.problems.append(Problem(_mark(node), format_path(loc), message))

    def build(self, node: Node, loc: Loc) -> Any:
        """Convert ``node`` (found at ``loc``) and record its position."""
        self._doc.value_marks[loc] = _mark(node)
        if id(node) in self._active:
            self._problem(node, loc, "an alias may not refer to itself")
            return UNRESOLVED
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode):
                return self._sequence(node, loc)
            return self._scalar(node, loc)
        finally:
            self._active.discard(id(node))

    def _custom_tag(self, node: Node, loc: Loc) -> bool:
        tag = str(node.tag)
        if tag.startswith(_CORE):
            return False
        if tag not in self._tags:
            self._problem(node, loc, f"unknown tag '{tag}'")
        elif not isinstance(node, ScalarNode):
            self._problem(node, loc, f"{tag} needs a plain name, not a list or mapping")
        return True

    def _sequence(self, node: SequenceNode, loc: Loc) -> Any:
        if self._custom_tag(node, loc):
            return UNRESOLVED
        return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]

    def _mapping(self, node: MappingNode, loc: Loc) -> Any:
        if self._custom_tag(node, loc):
            return UNRESOLVED
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if str(key_node.tag) == _MERGE:
                merged.update(self._merge(value_node, loc))
        self._doc.value_marks[loc] = _mark(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if str(key_node.tag) == _MERGE:
                continue
            key = self._key(key_node, loc)
            if key is None:
                continue
            if key in result:
                name = shown_key(key)
                message = f"duplicate key '{name}'" if name else "duplicate key"
                self._problem(key_node, (*loc, key), message)
                continue
            self._doc.key_marks[(*loc, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*loc, key))
            if result[key] is None and not value_node.value:
                # `key:` with nothing after it: point at the key, not at the line's end.
                self._doc.value_marks[(*loc, key)] = _mark(key_node)
        return {**merged, **result}

    def _key(self, node: Node, loc: Loc) -> str | None:
        if not isinstance(node, ScalarNode) or not str(node.tag).startswith(_CORE):
            self._problem(node, loc, "a key must be a plain name")
            return None
        return str(node.value)

    def _merge(self, node: Node, loc: Loc) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            value = self.build(source, loc)
            if not isinstance(value, dict):
                self._problem(source, loc, "'<<' needs a mapping or a list of mappings")
                continue
            merged.update(value)
        return merged

    def _scalar(self, node: ScalarNode, loc: Loc) -> Any:
        text = str(node.value)
        self._doc.texts[loc] = text
        if self._custom_tag(node, loc):
            return self._resolve_tag(node, loc, text.strip())
        kind = str(node.tag)[len(_CORE) :]
        try:
            return _core_scalar(kind, text)
        except ValueError:
            # Never quote the text: a secret may be written anywhere, with any tag.
            self._problem(node, loc, f"not a valid !!{kind}")
            return UNRESOLVED

    def _resolve_tag(self, node: ScalarNode, loc: Loc, text: str) -> Any:
        handler = self._tags.get(str(node.tag))
        if handler is None:
            return UNRESOLVED
        try:
            return handler(text)
        except TagError as err:
            if err.message is not None:
                self._problem(node, loc, err.message)
            return UNRESOLVED


def _core_scalar(kind: str, text: str) -> Any:
    """Convert a scalar already resolved to a core-schema tag (YAML 1.2 or 1.1)."""
    if kind == "null":
        if text.lower() not in _NULLS:
            raise ValueError(kind)
        return None
    if kind == "bool":
        if text.lower() not in _BOOLS:
            raise ValueError(kind)
        return _BOOLS[text.lower()]
    if kind == "int":
        return _int(text)
    if kind == "float":
        return _float(text)
    return text


def _int(text: str) -> int:
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    digits = clean.lstrip("+-").lower()
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits, 10)


def _float(text: str) -> float:
    clean = text.replace("_", "").lower()
    if clean.lstrip("+-") == ".inf":
        return float(clean.replace(".inf", "inf"))
    if clean == ".nan":
        return float("nan")
    return float(clean)
