"""Camera URLs: logins in and out of them, and a masked form that is safe to log."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["Login", "mask_url", "split_login", "with_login"]

_MASK = "***"


@dataclass(frozen=True, slots=True)
class Login:
    """A user name and password for a camera; the password never shows in a ``repr``."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Login({self.username!r}, ***)"


def mask_url(url: str) -> str:
    """The URL for a log line: ``user:pass@`` becomes ``***@`` and every query value ``***``
    (cameras take passwords as ``?pwd=...`` too)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<unparsable URL>"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{_MASK}@{host}{port}" if "@" in parts.netloc else f"{host}{port}"
    query = "&".join(
        f"{item.split('=', 1)[0]}={_MASK}" if "=" in item else _MASK
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def split_login(url: str) -> tuple[str, Login | None]:
    """The URL without ``user:pass@`` and the login it held (percent-decoded), if any."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return bare, Login(unquote(username), unquote(password))


def with_login(url: str, login: Login | None) -> str:
    """The URL with ``login`` written in as ``user:pass@`` (for FFmpeg); an explicit login
    replaces one already in the URL."""
    if login is None:
        return url
    bare, _ = split_login(url)
    parts = urlsplit(bare)
    userinfo = f"{quote(login.username, safe='')}:{quote(login.password, safe='')}"
    netloc = f"{userinfo}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
