"""Brain errors: codes, spoken words, Retry-After, and scrubbing the key from details."""

from __future__ import annotations

import email.utils

import pytest

from assistant.errors import UnderstandError
from assistant.understand.brain import (
    AuthFailed,
    BrainError,
    ContentFiltered,
    NoCredit,
    RateLimited,
    RequestRejected,
    ServerError,
)
from assistant.understand.brain.errors import for_status, retry_after, scrub


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthFailed),
        (402, NoCredit),
        (403, AuthFailed),
        (421, ContentFiltered),
        (429, RateLimited),
        (400, RequestRejected),
        (422, RequestRejected),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_for_status(status, kind):
    assert for_status(status) is kind


def test_errors_are_short_and_coded():
    err = NoCredit(detail="Error code: 402")
    assert isinstance(err, BrainError) and isinstance(err, UnderstandError)
    assert str(err) == "My online brain is out of credit" and err.code == "llm-no-credit"
    assert repr(err) == "NoCredit(code='llm-no-credit', status=None)"
    assert BrainError().code == "llm-error"


def test_retry_after_forms():
    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"retry-after": "0.5"}) == 0.5
    assert retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert retry_after({"Retry-After": "-3"}) == 0.0
    assert retry_after({}) is None and retry_after({"Retry-After": "soon"}) is None
    date = email.utils.formatdate(1000.0 + 30, usegmt=True)
    assert retry_after({"Retry-After": date}, now=1000.0) == pytest.approx(30)


def test_scrub():
    assert scrub("bad key sk-123 in sk-123", "sk-123") == "bad key ********** in **********"
    assert scrub("nothing", None) == "nothing"
    assert len(scrub("x" * 1000, None)) == 300
