"""Commands and events from outside, validated with errors that name the field."""

from __future__ import annotations

from datetime import date

import pytest

from domain.commands import Draw, InputError, MoneyEvent, Repay, parse_event


def good(**extra):
    return {"date": "2026-02-10", "user": "u1", "kind": "wallet_topup", "amount": 50_000,
            **extra}


def test_a_valid_event_is_parsed_into_its_model():
    event = parse_event(good(), "events[0]")
    assert isinstance(event, MoneyEvent)
    assert (event.date, event.user, event.amount) == (date(2026, 2, 10), "u1", 50_000)
    draw = parse_event({"date": "2026-03-05", "user": "u1", "kind": "draw", "loan": "L2",
                        "principal": 100_000, "annual_rate_bp": 1800, "term_months": 3})
    assert isinstance(draw, Draw) and draw.term_months == 3
    repay = parse_event({"date": "2026-03-01", "user": "u1", "kind": "repay", "amount": 1})
    assert isinstance(repay, Repay) and repay.loan is None


@pytest.mark.parametrize(("data", "field"), [
    (good(amount="50000"), "events[3].amount"),
    (good(amount=0), "events[3].amount"),
    (good(amount=-5), "events[3].amount"),
    (good(amount=1.5), "events[3].amount"),
    ({k: v for k, v in good().items() if k != "amount"}, "events[3].amount"),
    (good(date="2026-02-30"), "events[3].date"),
    (good(date="10/02/2026"), "events[3].date"),
    (good(user=""), "events[3].user"),
    (good(user="u 1"), "events[3].user"),
    (good(colour="red"), "events[3].colour"),
    (good(kind="teleport"), "events[3].kind"),
    ({"date": "2026-02-10", "user": "u1"}, "events[3].kind"),
    ({"date": "2026-03-05", "user": "u1", "kind": "draw", "loan": "L2", "principal": 100_000,
      "annual_rate_bp": 1800, "term_months": 0}, "events[3].term_months"),
    ({"date": "2026-03-05", "user": "u1", "kind": "card_timeout", "resolves": "maybe"},
     "events[3].resolves"),
    ({"date": "2026-03-05", "user": "u1", "kind": "collection_hold"}, "events[3].loan"),
])
def test_parse_event_errors_name_the_field(data, field):
    with pytest.raises(InputError) as exc:
        parse_event(data, "events[3]")
    assert exc.value.field == field
    assert str(exc.value).startswith(field + ":")


def test_an_event_that_is_not_an_object_is_named_by_its_position():
    with pytest.raises(InputError) as exc:
        parse_event(["wallet_topup"], "events[7]")
    assert exc.value.field == "events[7]"


@pytest.mark.parametrize("text", ["a\ud800b", "\udfff", "张\udc00三"])
def test_free_text_with_a_lone_surrogate_is_refused_by_its_field_before_any_store_sees_it(
        text: str) -> None:
    from cli import api
    from domain.commands import SURROGATE_MESSAGE

    with pytest.raises(InputError) as err:
        api.validate("creditcycle.users.upsert", {"users": [{"id": "u1", "name": text}]})
    assert (err.value.field, err.value.message) == ("users[0].name", SURROGATE_MESSAGE)
    assert api.validate("creditcycle.users.upsert",
                        {"users": [{"id": "u1", "name": "张三 O'Brien"}]})
