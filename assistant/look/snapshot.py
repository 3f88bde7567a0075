"""HTTP(S) snapshots: one GET, one picture (``snapshot_url``)."""

from __future__ import annotations

from ._http import get
from ._url import Login, mask_url
from .errors import SourceError
from .frames import MAX_IMAGE_BYTES

__all__ = ["fetch_snapshot"]

_ACCEPT = "image/jpeg, image/*;q=0.9, */*;q=0.1"
_NOT_PICTURES = ("text/", "application/json", "application/xml", "application/javascript")


async def fetch_snapshot(
    url: str, *, login: Login | None = None, limit: int = MAX_IMAGE_BYTES
) -> bytes:
    """The picture at ``url``, as bytes (not yet decoded), at most ``limit`` bytes.

    Raises :class:`SourceError`: ``unreachable``, ``denied``, ``http`` (a status other than
    200), ``too-large``, ``not-image`` (the server says it sent text).
    """
    async with get(url, login=login, accept=_ACCEPT) as response:
        where = mask_url(url)
        if response.status != 200:
            raise SourceError("http", f"{where}: HTTP {response.status} {response.reason}")
        kind = (response.header("content-type") or "").lower()
        if kind.startswith(_NOT_PICTURES):
            raise SourceError("not-image", f"{where}: answered {kind.split(';')[0]}, not a picture")
        try:
            return await response.body.read_all(limit)
        except SourceError as err:
            raise SourceError(err.kind, f"{where}: {err.detail}") from None
