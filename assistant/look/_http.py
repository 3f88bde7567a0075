"""A small HTTP/1.1 GET client on asyncio streams: just what camera snapshots and MJPEG
streams need.

http and https (the system's trust store), one request per connection (``Connection:
close``), basic and digest (MD5, SHA-256, ``-sess``) logins in answer to a 401, bodies framed
by ``Content-Length``, chunked transfer coding or the end of the connection, and a cap on
every size. No redirects, no keep-alive, no compression. Timeouts are the caller's: wrap the
calls in ``asyncio.timeout``. Every failure is a :class:`SourceError` whose detail names the
masked URL and never a password.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import re
import secrets
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._url import Login, mask_url, split_login
from .errors import SourceError

__all__ = ["Body", "Response", "get"]

_HEAD_LIMIT = 64 * 1024
"""The largest response head (status line and headers), and chunk-size line, bytes."""
_PIECE = 64 * 1024
"""Bytes asked of the socket at a time."""
_PARAM = re.compile(r'([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)')
_DIGESTS = {"MD5": "md5", "MD5-SESS": "md5", "SHA-256": "sha256", "SHA-256-SESS": "sha256"}
_STATUS = re.compile(r"HTTP/1\.[01] (\d{3})(?: (.*))?")


class Body:
    """The body of a response, read in pieces with hard size limits (bytes)."""

    def __init__(self, reader: asyncio.StreamReader, *, length: int | None, chunked: bool):
        self.length = length
        """The announced ``Content-Length`` (None: chunked or until the connection ends)."""
        self._reader, self._chunked = reader, chunked
        self._left = length
        self._chunk_left = 0
        self._in_chunk = False
        self._buffer = bytearray()
        self._done = length == 0

    async def read_all(self, limit: int) -> bytes:
        """The whole body; ``too-large`` as soon as it is known to exceed ``limit``."""
        if self.length is not None and self.length > limit:
            raise SourceError("too-large", f"Content-Length {self.length} > {limit} bytes")
        while await self._more():
            if len(self._buffer) > limit:
                raise SourceError("too-large", f"body over {limit} bytes")
        return self._take(len(self._buffer))

    async def read_until(
        self,
        separator: bytes,
        limit: int,
        *,
        consume: bool = True,
        complete: Callable[[bytearray], bool] | None = None,
    ) -> bytes:
        """The bytes before ``separator``, which is dropped too unless ``consume`` is False;
        ``too-large`` when it is not found within ``limit`` bytes. When ``complete`` says
        that what arrived so far is whole, that is returned without waiting for more."""
        start = 0
        while (index := self._buffer.find(separator, start)) < 0:
            if complete is not None and complete(self._buffer):
                return self._take(len(self._buffer))
            if len(self._buffer) > limit:
                raise SourceError("too-large", f"no {separator[:40]!r} within {limit} bytes")
            start = max(0, len(self._buffer) - len(separator) + 1)
            if not await self._more():
                raise SourceError("http", "the stream ended")
        data = self._take(index)
        if consume:
            self._take(len(separator))
        return data

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._more():
                raise SourceError("http", "the stream ended")
        return self._take(size)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _more(self) -> bool:
        """Append the next piece of the body to the buffer; False at its end."""
        if self._done:
            return False
        try:
            data = await (self._chunk_piece() if self._chunked else self._piece())
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as err:
            raise SourceError("http", f"malformed body ({type(err).__name__})") from None
        except OSError as err:
            raise SourceError("unreachable", f"connection lost: {_reason(err)}") from None
        if not data:
            self._done = True
            return False
        self._buffer += data
        return True

    async def _piece(self) -> bytes:
        size = _PIECE if self._left is None else min(_PIECE, self._left)
        data = await self._reader.read(size) if size else b""
        if self._left is not None:
            if not data and self._left:
                raise asyncio.IncompleteReadError(data, self._left)
            self._left -= len(data)
        return data

    async def _chunk_piece(self) -> bytes:
        if self._chunk_left == 0:
            if self._in_chunk:
                await self._reader.readexactly(2)  # the CRLF after a chunk's data
            line = await self._reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size < 0:
                raise ValueError("negative chunk size")
            if size == 0:
                return b""
            self._chunk_left, self._in_chunk = size, True
        data = await self._reader.read(min(_PIECE, self._chunk_left))
        if not data:
            raise asyncio.IncompleteReadError(data, self._chunk_left)
        self._chunk_left -= len(data)
        return data


@dataclass(frozen=True, slots=True)
class Response:
    """A response's status and headers (names in lower case), and its unread body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: Body

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (lower case), or None."""
        return next((value for key, value in self.headers if key == name), None)


@dataclass(frozen=True, slots=True)
class _Target:
    tls: bool
    host: str
    port: int
    path: str
    """Path and query, as sent in the request line."""

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "https"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(tls, parts.hostname or "", parts.port or (443 if tls else 80), path)

    def request(self, accept: str, authorization: str | None) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.tls else 80):
            host += f":{self.port}"
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {host}",
            "User-Agent: mimo-assistant",
            f"Accept: {accept}",
            "Accept-Encoding: identity",
            "Connection: close",
        ]
        if authorization is not None:
            lines.append(f"Authorization: {authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


@asynccontextmanager
async def get(
    url: str, *, login: Login | None = None, accept: str = "*/*"
) -> AsyncIterator[Response]:
    """GET ``url``; a 401 is answered once with ``login`` (or the URL's ``user:pass@``).

    Raises :class:`SourceError`: ``unreachable`` (connect, TLS, reset), ``denied`` (401 or
    403 in the end), ``http`` (not HTTP). Other statuses are the caller's to judge. The
    connection is closed on leaving the ``async with``.
    """
    bare, in_url = split_login(url)
    login = login or in_url
    target, where = _Target.parse(bare), mask_url(url)
    response, writer = await _exchange(target, accept, None, where)
    try:
        if response.status == 401 and login is not None:
            authorization = _authorization(response, login, target.path)
            if authorization is not None:
                writer.close()
                response, writer = await _exchange(target, accept, authorization, where)
        if response.status in (401, 403):
            raise SourceError("denied", f"{where}: HTTP {response.status} {response.reason}")
        yield response
    finally:
        writer.close()


async def _exchange(
    target: _Target, accept: str, authorization: str | None, where: str
) -> tuple[Response, asyncio.StreamWriter]:
    """Connect, send the request, read the head; the body is left to the caller."""
    try:
        tls = await asyncio.to_thread(_tls_context) if target.tls else None
        reader, writer = await asyncio.open_connection(
            target.host, target.port, ssl=tls, limit=_HEAD_LIMIT
        )
    except ssl.SSLError as err:
        raise SourceError("unreachable", f"{where}: TLS: {_reason(err)}") from None
    except OSError as err:
        raise SourceError("unreachable", f"{where}: {_reason(err)}") from None
    try:
        writer.write(target.request(accept, authorization))
        head = await reader.readuntil(b"\r\n\r\n")
        return _parse_head(head, reader, where), writer
    except asyncio.LimitOverrunError:
        writer.close()
        raise SourceError("http", f"{where}: response head over {_HEAD_LIMIT} bytes") from None
    except asyncio.IncompleteReadError:
        writer.close()
        raise SourceError("unreachable", f"{where}: closed without an answer") from None
    except OSError as err:
        writer.close()
        raise SourceError("unreachable", f"{where}: {_reason(err)}") from None
    except BaseException:
        writer.close()
        raise


def _parse_head(head: bytes, reader: asyncio.StreamReader, where: str) -> Response:
    lines = head[:-4].decode("latin-1").split("\r\n")
    match = _STATUS.fullmatch(lines[0])
    if match is None:
        raise SourceError("http", f"{where}: not an HTTP answer")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise SourceError("http", f"{where}: malformed header line")
        headers.append((name.strip().lower(), value.strip()))
    status = int(match.group(1))
    body = _body(status, dict(reversed(headers)), reader, where)
    return Response(status, match.group(2) or "", tuple(headers), body)


def _body(status: int, headers: dict[str, str], reader: asyncio.StreamReader, where: str) -> Body:
    """How the body is framed: nothing, chunks, ``Content-Length`` or the connection's end."""
    if status < 200 or status in (204, 304):
        return Body(reader, length=0, chunked=False)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Body(reader, length=None, chunked=True)
    length = headers.get("content-length")
    if length is None:
        return Body(reader, length=None, chunked=False)
    if not length.isdigit():
        raise SourceError("http", f"{where}: bad Content-Length")
    return Body(reader, length=int(length), chunked=False)


def _authorization(response: Response, login: Login, uri: str) -> str | None:
    """The ``Authorization`` answering the 401's challenges: digest first, else basic."""
    challenges = []
    for key, value in response.headers:
        if key == "www-authenticate":
            scheme, _, rest = value.strip().partition(" ")
            params = {k.lower(): _unquote(v) for k, v in _PARAM.findall(rest)}
            challenges.append((scheme.lower(), params))
    for scheme, params in challenges:
        if scheme == "digest" and (answer := _digest(login, params, uri)) is not None:
            return answer
    if any(scheme == "basic" for scheme, _ in challenges):
        token = f"{login.username}:{login.password}".encode()
        return f"Basic {base64.b64encode(token).decode('ascii')}"
    return None


def _digest(login: Login, params: dict[str, str], uri: str) -> str | None:
    """RFC 7616 digest, qop ``auth`` or none; None for what it cannot do (``auth-int``)."""
    algorithm = params.get("algorithm", "MD5")
    name = _DIGESTS.get(algorithm.upper())
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if name is None or (qops and "auth" not in qops):
        return None

    def digest(text: str) -> str:
        return hashlib.new(name, text.encode()).hexdigest()

    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    cnonce, count = secrets.token_hex(8), "00000001"
    secret = digest(f"{login.username}:{realm}:{login.password}")
    if algorithm.upper().endswith("-SESS"):
        secret = digest(f"{secret}:{nonce}:{cnonce}")
    method = digest(f"GET:{uri}")
    fields = [f"username={_quote(login.username)}", f"realm={_quote(realm)}"]
    fields += [f"nonce={_quote(nonce)}", f"uri={_quote(uri)}", f"algorithm={algorithm}"]
    if qops:
        answer = digest(f"{secret}:{nonce}:{count}:{cnonce}:auth:{method}")
        fields += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        answer = digest(f"{secret}:{nonce}:{method}")
    fields.append(f'response="{answer}"')
    if "opaque" in params:
        fields.append(f"opaque={_quote(params['opaque'])}")
    return "Digest " + ", ".join(fields)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trust store (read from disk once, in a worker thread)."""
    return ssl.create_default_context()


def _reason(err: OSError) -> str:
    """``Connection refused``, ``certificate verify failed``, ...: never the URL."""
    if isinstance(err, ssl.SSLCertVerificationError) and err.verify_message:
        return err.verify_message
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason)
    return err.strerror or type(err).__name__
