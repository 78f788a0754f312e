"""The ticket aggregate: its transition table, deadlines, acknowledgement rules and timers (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.reply_address import order_from_token, reply_address, reply_token, token_from_address
from chalicelib.domain.tickets import (
    TRANSITIONS,
    Deadlines,
    Ticket,
    TicketMessage,
    TicketStatus,
    TicketTransitionError,
    parse_ticket_timer_kind,
    ticket_number,
    ticket_timers,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
S = TicketStatus


def message(author: str = "customer", *, at: datetime = NOW, internal: bool = False, n: int = 1) -> TicketMessage:
    return TicketMessage(id=f"msg_{n:026d}", ticket_id="tkt_1", at=at, author=author, body="hello", internal=internal)


def new_ticket(**overrides: object) -> Ticket:
    return Ticket.open(
        ticket_id="tkt_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        number="T-P1R2-S3T4",
        order_id="ord_1",
        customer_id="cus_1",
        category=str(overrides.get("category", "delay")),
        channel=str(overrides.get("channel", "web")),
        now=NOW,
        deadlines=Deadlines(),
        actor="customer",
        first=message(),
    )


EXPECTED = {
    S.OPEN: {S.ACKNOWLEDGED, S.WAITING_ON_CUSTOMER, S.RESOLVED},
    S.ACKNOWLEDGED: {S.WAITING_ON_CUSTOMER, S.RESOLVED},
    S.WAITING_ON_CUSTOMER: {S.ACKNOWLEDGED, S.RESOLVED},
    S.RESOLVED: {S.ACKNOWLEDGED, S.CLOSED},
    S.CLOSED: set(),
}


def test_the_transition_table_is_exactly_the_documented_one() -> None:
    assert {status: set(targets) for status, targets in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("source", "target"), [(s, t) for s in S for t in S if t not in EXPECTED[s]])
def test_every_move_outside_the_table_is_refused(source: TicketStatus, target: TicketStatus) -> None:
    ticket = new_ticket()
    ticket.status = source
    with pytest.raises(TicketTransitionError):
        ticket._move(target, NOW, "x")


def test_deadlines_are_calendar_hours_and_configurable() -> None:
    ticket = new_ticket()
    assert ticket.acknowledge_by == NOW + timedelta(hours=24) and ticket.resolve_by == NOW + timedelta(hours=48)
    other = Ticket.open(
        ticket_id="tkt_2", number="T-2", order_id="o", customer_id="c", category="other", channel="email",
        now=NOW, deadlines=Deadlines(4, 8), actor="customer", first=None,
    )  # fmt: skip
    assert other.acknowledge_by == NOW + timedelta(hours=4) and other.resolve_by == NOW + timedelta(hours=8)


def test_an_internal_note_does_not_acknowledge_a_public_reply_does() -> None:
    ticket = new_ticket()
    ticket.add_staff_message(message("agent:a", internal=True, n=2))
    assert ticket.status == S.OPEN and ticket.acknowledged_at is None
    ticket.add_staff_message(message("agent:a", at=NOW + timedelta(hours=25), n=3))
    assert str(ticket.status) == "acknowledged" and ticket.sla_acknowledgement == "breached"


def test_customer_answer_moves_waiting_back_to_acknowledged() -> None:
    ticket = new_ticket()
    ticket.add_staff_message(message("agent:a", n=2), await_customer=True)
    assert ticket.status == S.WAITING_ON_CUSTOMER
    ticket.add_customer_message(message(n=3))
    assert str(ticket.status) == "acknowledged"


def test_reopen_within_seven_days_only_and_restarts_the_clock() -> None:
    ticket = new_ticket()
    ticket.resolve("done", NOW + timedelta(hours=1), "agent:a")
    assert ticket.acknowledged_at is not None  # resolving is a human answer
    ticket.reopen(NOW + timedelta(days=2), "customer", Deadlines())
    assert ticket.status == S.ACKNOWLEDGED and ticket.resolve_by == NOW + timedelta(days=4)
    ticket.resolve("again", NOW + timedelta(days=3), "agent:a")
    with pytest.raises(TicketTransitionError):
        ticket.reopen(NOW + timedelta(days=10, seconds=1), "customer", Deadlines())


def test_unknown_category_and_empty_message_are_rejected() -> None:
    with pytest.raises(ValidationError):
        new_ticket(category="angry")
    ticket = new_ticket()
    with pytest.raises(ValidationError):
        ticket.add_customer_message(TicketMessage("msg_x", "tkt_1", NOW, "customer", "   "))


def test_timers_follow_the_facts() -> None:
    ticket = new_ticket()
    kinds = {parse_ticket_timer_kind(kind)[1:]: due for due, kind in ticket_timers(ticket)}
    assert kinds == {
        ("acknowledgement", "at_risk"): NOW + timedelta(hours=19, minutes=12),  # 80 % of 24 h
        ("acknowledgement", "breached"): NOW + timedelta(hours=24),
        ("resolution", "at_risk"): NOW + timedelta(hours=38, minutes=24),
        ("resolution", "breached"): NOW + timedelta(hours=48),
    }
    ticket.acknowledge(NOW + timedelta(hours=1), "agent:a")
    assert {parse_ticket_timer_kind(k)[1] for _, k in ticket_timers(ticket)} == {"resolution"}
    assert ticket.flag("resolution", "at_risk") and not ticket.flag("resolution", "at_risk")  # once
    ticket.resolve("ok", NOW + timedelta(hours=2), "agent:a")
    assert [parse_ticket_timer_kind(k)[1:] for _, k in ticket_timers(ticket)] == [("close", "due")]


def test_ticket_numbers_are_short_and_readable() -> None:
    assert ticket_number("tkt_01JD3M5X8Q2W7Y6Z4K9N0P1R2S") == "T-9N0P-1R2S"


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_reply_tokens_verify_case_insensitively_and_reject_forgeries(case: object) -> None:
    address = reply_address("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "secret", "reply.example.com")
    assert len(address.split("@")[0]) <= 64
    token = token_from_address(case(address), "reply.example.com")  # type: ignore[operator]
    assert token is not None
    assert order_from_token(token, ["old", "secret"]) == "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"
    assert order_from_token(token, ["another"]) is None
    other = reply_token("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2T", "secret")
    assert order_from_token(token[:26] + other[26:], ["secret"]) is None  # a MAC from another order
    assert token_from_address(address, "evil.example.com") is None
    assert order_from_token("junk", ["secret"]) is None
