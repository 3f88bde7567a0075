"""The answer shapes real devices use, as the transport accepts or refuses them."""

from __future__ import annotations

import pytest

from integrations.base import DriverError, Refused
from integrations.miio.transport import check_action_result, check_set_result, parse_get_result


@pytest.mark.parametrize(
    "answer", [0, "ok", ["ok"], [], [{"did": "2-1", "siid": 2, "piid": 1, "code": 0}]]
)
def test_set_answers_that_mean_done(answer: object) -> None:
    check_set_result(answer)


def test_set_answer_with_a_failed_item() -> None:
    answer = [{"siid": 2, "piid": 1, "code": 0}, {"did": "2-2", "code": -4005}]
    with pytest.raises(Refused) as err:
        check_set_result(answer)
    assert err.value.device_code == -4005
    assert "2.2" in str(err.value)


@pytest.mark.parametrize(
    ("answer", "out"),
    [
        (["ok"], []),
        ("ok", []),
        ({"did": "call-2-1", "siid": 2, "aiid": 1, "code": 0, "out": [5]}, [5]),
    ],
)
def test_action_answers_that_mean_done(answer: object, out: list[object]) -> None:
    assert check_action_result(answer) == out


def test_action_answer_with_a_code() -> None:
    with pytest.raises(Refused) as err:
        check_action_result({"code": -4004, "out": []})
    assert err.value.device_code == -4004


def test_get_answer_keeps_good_items_only() -> None:
    answer = [
        {"did": "2-1", "siid": 2, "piid": 1, "code": 0, "value": True},
        {"did": "2-2", "siid": 2, "piid": 2, "code": -4001},
        {"did": "3-7", "code": 0, "value": 21.5},  # some devices echo only the did
        {"did": "junk", "code": 0, "value": 1},
        "nonsense",
    ]
    assert parse_get_result(answer) == {(2, 1): True, (3, 7): 21.5}


def test_get_answer_that_is_not_a_list() -> None:
    with pytest.raises(DriverError) as err:
        parse_get_result({"oops": 1})
    assert err.value.code == "bad-answer"
