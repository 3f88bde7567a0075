"""Field types and the base model of the settings in ``assistant.config``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from assistant import _config_checks as _checks
from assistant.secrets import Secret

__all__ = [
    "AnyPort",
    "ConfigPath",
    "Host",
    "Language",
    "LogLevel",
    "LoopbackHost",
    "MiioToken",
    "Name",
    "Port",
    "SecretValue",
    "StateDir",
]


def _non_empty_path(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("path_empty", "must not be empty")
    return value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ``~``; a relative path is taken from the config file's directory."""
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


SecretValue: TypeAlias = Secret
"""A field holding a secret: accepts a ``Secret`` or a plain string (wrapped)."""
Name = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
AnyPort = Annotated[StrictInt, Field(ge=0, le=65535)]
"""A port to listen on; 0 picks a free one."""
Host = Annotated[StrictStr, AfterValidator(_checks.check_host)]
LoopbackHost = Annotated[StrictStr, AfterValidator(_checks.check_loopback)]
MiioToken = Annotated[SecretValue, AfterValidator(_checks.check_token)]
ConfigPath = Annotated[Path, BeforeValidator(_non_empty_path), AfterValidator(_resolve_path)]
StateDir = Annotated[ConfigPath, AfterValidator(_checks.check_state_dir)]
Language = Annotated[Name, AfterValidator(_checks.check_language)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class _Section(BaseModel):
    """Base of every settings model: frozen, no unknown keys, inputs never echoed."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        """``key:`` with nothing after it means the default, for fields that have one."""
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if not _use_default(cls, key, value)}


def _use_default(model: type[BaseModel], key: str, value: Any) -> bool:
    field = model.model_fields.get(key)
    if value is not None or field is None or field.is_required():
        return False
    return field.default_factory is not None or field.default is not None
