"""Secrets in the configuration: the ``Secret`` value type and the ``!env``/``!secret``/
``!credential`` tag resolvers.

A resolved secret is wrapped in :class:`Secret` at once, so that no log line, error message
or ``repr`` of the settings can show it; only :meth:`Secret.reveal` hands the text out.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from assistant._yaml import TagError, format_path, load_document

__all__ = ["Secret", "SecretResolver", "SECRETS_FILE"]

SECRETS_FILE = "secrets.yaml"
_MASK = "**********"


class Secret:
    """A secret string that never shows itself: ``str``/``repr`` give ``'**********'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """Return the secret text; call this only where the secret is used."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Accept a ``Secret`` or a plain ``str`` (wrapped); dump as the mask in JSON."""
        return core_schema.no_info_plain_validator_function(
            _to_secret,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        """Documented as a write-only string."""
        return {"type": "string", "writeOnly": True, "format": "password"}


def _to_secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise PydanticCustomError("secret_type", "expected a string (in quotes) or a secret")


def _serialize(value: Secret) -> str:
    return _MASK


class SecretResolver:
    """Resolve secret tags for one configuration file.

    ``secrets.yaml`` is read lazily, once, from ``base_dir``; a problem with that file is
    reported at the first tag that needs it and silently for later ones.

    Messages never quote the name after a tag: people do write the secret itself there.
    """

    def __init__(self, base_dir: Path, environ: Mapping[str, str]) -> None:
        self._base_dir = base_dir
        self._environ = environ
        self._secrets: dict[str, str] | None = None
        self._file_problem: str | None = None
        self._file_reported = False

    def tags(self) -> dict[str, Any]:
        """The tag handlers, for :func:`assistant._yaml.load_document`."""
        return {"!env": self.env, "!secret": self.secret, "!credential": self.credential}

    def env(self, name: str) -> Secret:
        """``!env NAME``: the environment variable ``NAME``."""
        if not name:
            raise TagError("!env needs a variable name")
        value = self._environ.get(name)
        if value is None:
            raise TagError("this !env variable is not set")
        return Secret(value)

    def credential(self, name: str) -> Secret:
        """``!credential name``: the systemd credential ``$CREDENTIALS_DIRECTORY/name``."""
        if not name or "/" in name or name in (".", ".."):
            raise TagError("!credential needs a credential name (no '/', '.' or '..')")
        directory = self._environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise TagError(
                "this !credential is not available: $CREDENTIALS_DIRECTORY is not set "
                "(use LoadCredential= in the systemd unit)"
            )
        try:
            text = (Path(directory) / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TagError(f"this !credential is not defined in {directory}") from None
        except (OSError, UnicodeError) as err:
            raise TagError(f"this !credential cannot be read: {_os_reason(err)}") from None
        return Secret(text.rstrip("\r\n"))

    def secret(self, name: str) -> Secret:
        """``!secret name``: the key ``name`` of ``secrets.yaml`` next to the config."""
        secrets = self._load()
        if secrets is None:
            if self._file_reported:
                raise TagError(None)
            self._file_reported = True
            raise TagError(f"this !secret cannot be resolved: {self._file_problem}")
        if name not in secrets:
            raise TagError(f"this !secret is not defined in {SECRETS_FILE}")
        return Secret(secrets[name])

    def _load(self) -> dict[str, str] | None:
        if self._secrets is None and self._file_problem is None:
            try:
                self._secrets = _read_secrets(self._base_dir / SECRETS_FILE)
            except TagError as err:
                self._file_problem = err.message
        return self._secrets


def _read_secrets(path: Path) -> dict[str, str]:
    """Read a secrets file, refusing one that others may read; raise ``TagError``."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read()
    except OSError as err:
        raise TagError(f"cannot read {path}: {_os_reason(err)}") from None
    if mode & 0o077:
        raise TagError(
            f"{path} is readable by group/other (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeError:
        raise TagError(f"{path} is not UTF-8 text") from None
    return _parse_secrets(text, path)


def _parse_secrets(text: str, path: Path) -> dict[str, str]:
    """Parse ``name: value`` pairs; problems name positions and keys, never values."""
    doc = load_document(text, tags={}, quiet=True)
    if doc.problems:
        first = doc.problems[0]
        raise TagError(f"{path}:{first.mark}: {first.where}: {first.message}")
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise TagError(f"{path}: expected a mapping of secret names to strings")
    result: dict[str, str] = {}
    for key, value in data.items():
        if value is None or isinstance(value, (dict, list)):
            mark = doc.value_marks.get((key,))
            raise TagError(f"{path}:{mark}: {format_path((key,))}: a secret must be a string")
        result[key] = doc.texts.get((key,), str(value))
    return result


def _os_reason(err: OSError | UnicodeError) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return type(err).__name__
