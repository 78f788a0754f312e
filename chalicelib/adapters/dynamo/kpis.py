"""KPI counters, facts and misses on the OrderCare table.

  KPI#DAY / <yyyy-mm-dd>                 the day's counters (one numeric attribute per counter)
  KPIFACT#<fact key> / #FACT             a fact already counted (replays find it and add nothing)
  KPIMISS#<kpi> / <yyyy-mm-dd>#<subject> a subject that missed, for the drill-down
  KPIPROMISE#<order id> / #PROMISE       the promise made at placement, for orders from before the order
                                         item carried it (promised_ship_by / promised_deliver_by)

Counting a fact is one transaction: the fact marker (only if new), the counter ADDs and
the misses — so a replayed stream record, or two consumers at once, count it once. A
quarter's report is one Query over ~92 day items, however many orders there were.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamo.conditions import (
    CONDITION_FAILED,
    CONFLICT,
    client_cancellation_codes,
    client_condition_failed,
)
from chalicelib.adapters.dynamo.models import OrderItem, shared_connection
from chalicelib.adapters.dynamo.repositories import _idempotency_item
from chalicelib.domain.kpis import BoardPlace, Fact, Totals, component_miss, is_component_miss
from chalicelib.domain.surveys import Survey
from chalicelib.services.ports import IdempotencyKeyTakenError, StoredResponse

COUNTERS_PK = "KPI#DAY"
CONFLICT_ATTEMPTS = 4  # a transaction meeting a concurrent one on the same items (TransactionConflict)
FACT_SK = "#FACT"


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {name: value for name, value in counts.items() if value}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class DynamoKpiStore:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = shared_connection().client
        return self._client

    @property
    def table(self) -> str:
        return OrderItem.Meta.table_name

    # --- writing ----------------------------------------------------------------------------------------------

    def record(self, fact: Fact) -> bool:
        """Count `fact` once; False when it was already counted."""
        return self._write(self._items([fact]))

    def record_all(self, facts: list[Fact], board: Sequence[BoardPlace] = ()) -> bool:
        """The facts of one change in one transaction (counters summed per day), with the board's
        places the change moves; False, and nothing written, when any of the facts was counted before
        (the caller then counts them one by one)."""
        return self._write(self._items(facts) + [_board_write(self.table, place) for place in board])

    def _items(self, facts: list[Fact]) -> list[dict[str, Any]]:
        """Each fact's marker (only if new), one ADD per day's counters, each miss once."""
        items = [self._marker(fact) for fact in facts]
        by_day: dict[date, dict[str, int]] = {}
        for fact in facts:
            counts = by_day.setdefault(fact.day, {})
            for name, value in fact.counts.items():
                counts[name] = counts.get(name, 0) + value
        items += [self._add(day, nonzero) for day, counts in by_day.items() if (nonzero := _nonzero(counts))]
        misses = {
            (kpi, fact.day, fact.subject): fact.note
            for fact in facts
            for kpi in fact.misses
            if not is_component_miss(kpi)
        }
        items += [self._miss(kpi, day, subject, note) for (kpi, day, subject), note in misses.items()]
        return items

    def _write(self, items: list[dict[str, Any]]) -> bool:
        try:
            self.client.transact_write_items(TransactItems=items)
        except Exception as error:
            if client_condition_failed(error):
                return False
            raise
        return True

    def _marker(self, fact: Fact) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": f"KPIFACT#{fact.key}"},
                    "sk": {"S": FACT_SK},
                    "type": {"S": "kpi_fact"},
                    "day": {"S": fact.day.isoformat()},
                    "subject": {"S": fact.subject},
                    "misses": {"L": [{"S": m} for m in fact.misses]},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def demote(self, kpi: str, fact_key: str, cause_counter: str | None, *, part: str | None = None) -> bool:
        """Turn a counted hit of `kpi` into a miss (a later complaint), once; False if nothing to change.

        `part`: a perfect-order component instead (its numerator, on the perfect order's marker; it has
        no drill-down list of its own)."""
        if part is not None:
            kpi, numerator = component_miss(part), f"perfect_{part}__num"
        else:
            numerator = f"{kpi}__num"
        marker = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"KPIFACT#{fact_key}"}, "sk": {"S": FACT_SK}}, ConsistentRead=True
        ).get("Item")
        if not marker or kpi in [m["S"] for m in marker.get("misses", {}).get("L", [])]:
            return False
        day = date.fromisoformat(marker["day"]["S"])
        counts = {numerator: -1, **({cause_counter: 1} if cause_counter else {})}
        items = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": f"KPIFACT#{fact_key}"}, "sk": {"S": FACT_SK}},
                    "UpdateExpression": "SET misses = list_append(misses, :kpi)",
                    "ConditionExpression": "NOT contains(misses, :name)",
                    "ExpressionAttributeValues": {":kpi": {"L": [{"S": kpi}]}, ":name": {"S": kpi}},
                }
            },
            self._add(day, counts),
        ]
        if part is None:
            items.append(self._miss(kpi, day, marker["subject"]["S"]))
        try:
            self.client.transact_write_items(TransactItems=items)
        except Exception as error:
            if client_condition_failed(error):
                return False
            raise
        return True

    def _add(self, day: date, counts: dict[str, int]) -> dict[str, Any]:
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values = {f":v{i}": {"N": str(value)} for i, value in enumerate(counts.values())}
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": COUNTERS_PK}, "sk": {"S": day.isoformat()}},
                "UpdateExpression": "SET #type = :type ADD " + ", ".join(f"#c{i} :v{i}" for i in range(len(counts))),
                "ExpressionAttributeNames": {"#type": "type", **names},
                "ExpressionAttributeValues": {":type": {"S": "kpi_day"}, **values},
            }
        }

    def _miss(self, kpi: str, day: date, subject: str, note: str | None = None) -> dict[str, Any]:
        item = {
            "pk": {"S": f"KPIMISS#{kpi}"},
            "sk": {"S": f"{day.isoformat()}#{subject}"},
            "type": {"S": "kpi_miss"},
            "subject": {"S": subject},
            "day": {"S": day.isoformat()},
        }
        if note:
            item["note"] = {"S": note[:2000]}
        return {"Put": {"TableName": self.table, "Item": item}}

    def save_promise(self, order_id: str, ship_by: datetime, deliver_by: datetime) -> None:
        """The placement promise, written once (a replay keeps the first)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"KPIPROMISE#{order_id}"},
                    "sk": {"S": "#PROMISE"},
                    "type": {"S": "kpi_promise"},
                    "ship_by": {"S": _iso(ship_by)},
                    "deliver_by": {"S": _iso(deliver_by)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as error:
            if not client_condition_failed(error):
                raise

    def promise(self, order_id: str) -> tuple[datetime, datetime] | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"KPIPROMISE#{order_id}"}, "sk": {"S": "#PROMISE"}}
        ).get("Item")
        if not item:
            return None
        return (
            datetime.fromisoformat(item["ship_by"]["S"].replace("Z", "+00:00")),
            datetime.fromisoformat(item["deliver_by"]["S"].replace("Z", "+00:00")),
        )

    def save_feedback(
        self,
        feedback_id: str,
        fields: dict[str, str | int | None],
        response: StoredResponse | None = None,
        facts: Sequence[Fact] = (),
    ) -> bool:
        """Keep the rating and comment itself (the counters only know numbers) and count its facts, in
        one transaction; with `response`, the request's idempotency record in it too
        (IdempotencyKeyTakenError if it exists). True when the facts were counted by this write; a
        feedback whose facts were counted before (never in one write with it) is kept without them."""
        item: dict[str, Any] = {
            "pk": {"S": f"FEEDBACK#{feedback_id}"},
            "sk": {"S": "#FEEDBACK"},
            "type": {"S": "feedback"},
        }
        for name, value in fields.items():
            if value is not None:
                item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        items = [{"Put": {"TableName": self.table, "Item": item}}, *self._items(list(facts))]
        if response is not None:
            record = {
                "TableName": self.table,
                "Item": _idempotency_item(response).serialize(),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
            items.append({"Put": record})
        failed = self._transact(items)
        if failed is None:
            return bool(facts)
        if response is not None and failed[-1] == CONDITION_FAILED:
            raise IdempotencyKeyTakenError("idempotency key already used")
        self.save_feedback(feedback_id, fields, response)  # a fact's marker: counted before, keep the feedback
        return False

    def _transact(self, items: list[dict[str, Any]]) -> list[str | None] | None:
        """Write the items in one transaction: None when written, the cancellation codes when a
        condition failed; a conflict with a concurrent transaction on the same items is tried again."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return None
            except Exception as error:
                if client_condition_failed(error):
                    return client_cancellation_codes(error)
                if CONFLICT not in client_cancellation_codes(error) or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                time.sleep(0.02 * 2**attempt)  # e.g. a client's retry racing its first attempt
        raise AssertionError("unreachable")

    def set_case(self, customer_id: str, case_id: str, is_open: bool) -> None:
        """Track the customer's open tickets and returns (a string set: ADD/DELETE are idempotent)."""
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"OPENCASES#{customer_id}"}, "sk": {"S": "#OPEN"}},
            UpdateExpression=("ADD" if is_open else "DELETE") + " ids :id SET #type = :type",
            ExpressionAttributeNames={"#type": "type"},
            ExpressionAttributeValues={":id": {"SS": [case_id]}, ":type": {"S": "open_cases"}},
        )

    def has_open_case(self, customer_id: str) -> bool:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"OPENCASES#{customer_id}"}, "sk": {"S": "#OPEN"}}
        ).get("Item")
        return bool(item and item.get("ids", {}).get("SS"))

    # --- reading ----------------------------------------------------------------------------------------------

    def totals(self, start: date, end: date) -> tuple[Totals, list[tuple[date, dict[str, int]]], int]:
        """The counters of [start, end): their sum, each day's, and how many items were read."""
        totals, days, read = Totals(), [], 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":pk": {"S": COUNTERS_PK},
                ":start": {"S": start.isoformat()},
                ":end": {"S": (date.fromordinal(end.toordinal() - 1)).isoformat()},
            },
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                read += 1
                counts = {k: int(v["N"]) for k, v in item.items() if "N" in v}
                totals.add(counts)
                days.append((date.fromisoformat(item["sk"]["S"]), counts))
            if "LastEvaluatedKey" not in page:
                return totals, days, read
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def misses(
        self, kpi: str, start: date, end: date, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, str]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"KPIMISS#{kpi}"},
                ":start": {"S": start.isoformat()},
                ":end": {"S": f"{date.fromordinal(end.toordinal() - 1).isoformat()}#~"},
            },
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        page = self.client.query(**kwargs)
        items = [
            {"subject": i["subject"]["S"], "day": i["day"]["S"], **({"note": i["note"]["S"]} if "note" in i else {})}
            for i in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        next_cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return items, next_cursor


# --- surveys --------------------------------------------------------------------------------------------------
#   SURVEY#<kind>#<subject> / #SURVEY     one survey per subject (a conditional put makes it "exactly once")
#   SURVEYDUE#<yyyy-mm-dd> / <due>#<kind>#<subject>   due work, by day: the dispatch reads only what is due
#   SURVEYLAST#<customer> / #LAST         the last survey sent to a customer (the throttle)
#   ORDER#<order id> / SURVEY#<kind>#<subject>   the answer, in the order's partition too: the agent's view of
#                                         the order is one Query (services/agent_view.py)


SURVEY_ANSWER_TYPE = "survey_answer"


def _survey_key(kind: str, subject: str) -> dict[str, Any]:
    return {"pk": {"S": f"SURVEY#{kind}#{subject}"}, "sk": {"S": "#SURVEY"}}


def _answer_on_order(survey: Survey, answer: dict[str, object], now: datetime) -> dict[str, Any]:
    """The answer as the agent's view of the order shows it (written with the answer, in one transaction)."""
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    from chalicelib.adapters.dynamo.repositories import order_pk

    given = json.loads(json.dumps(answer), parse_float=Decimal)  # DynamoDB numbers are Decimals
    return {
        "pk": {"S": order_pk(survey.order_id)},
        "sk": {"S": f"SURVEY#{survey.kind}#{survey.subject}"},
        "type": {"S": SURVEY_ANSWER_TYPE},
        "survey_id": {"S": survey.id},
        "kind": {"S": survey.kind},
        "subject": {"S": survey.subject},
        "answered_at": {"S": _iso(now)},
        "answer": TypeSerializer().serialize(given),
    }


def _parse_time(value: dict[str, str] | None) -> datetime | None:
    return datetime.fromisoformat(value["S"].replace("Z", "+00:00")) if value else None


class DynamoSurveyStore(DynamoKpiStore):
    def schedule(self, survey: Survey) -> bool:
        """Create the survey and its due item once; False when the subject already has one."""
        due = survey.due_at
        item = {
            **_survey_key(survey.kind, survey.subject),
            "type": {"S": "survey"},
            "id": {"S": survey.id},
            "kind": {"S": survey.kind},
            "subject": {"S": survey.subject},
            "order_id": {"S": survey.order_id},
            "customer_id": {"S": survey.customer_id},
            "due_at": {"S": _iso(due)},
            "status": {"S": survey.status},
            **({"recipient": {"S": survey.recipient}} if survey.recipient else {}),
        }
        due_item = {
            "pk": {"S": f"SURVEYDUE#{due.date().isoformat()}"},
            "sk": {"S": f"{_iso(due)}#{survey.kind}#{survey.subject}"},
            "type": {"S": "survey_due"},
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Put": {"TableName": self.table, "Item": due_item}},
                ]
            )
        except Exception as error:
            if client_condition_failed(error):
                return False
            raise
        return True

    def due(self, now: datetime, days_back: int) -> list[tuple[str, str, str]]:
        """(due sort key, kind, subject) of every survey due by `now`, looking back `days_back` days."""
        found = []
        upper = f"{_iso(now)}#~"
        for offset in range(days_back, -1, -1):
            day = date.fromordinal(now.date().toordinal() - offset)
            page = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk <= :upper",
                ExpressionAttributeValues={":pk": {"S": f"SURVEYDUE#{day.isoformat()}"}, ":upper": {"S": upper}},
            )
            for item in page.get("Items", []):
                sort_key = item["sk"]["S"]
                _, kind, subject = sort_key.split("#", 2)
                found.append((f"{day.isoformat()}|{sort_key}", kind, subject))
        return found

    def done(self, due_key: str) -> None:
        day, sort_key = due_key.split("|", 1)
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"SURVEYDUE#{day}"}, "sk": {"S": sort_key}})

    def get(self, kind: str, subject: str) -> Survey | None:
        item = self.client.get_item(TableName=self.table, Key=_survey_key(kind, subject), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        answer = json.loads(item["answer"]["S"]) if "answer" in item else {}
        return Survey(
            id=item["id"]["S"],
            kind=item["kind"]["S"],
            subject=item["subject"]["S"],
            order_id=item["order_id"]["S"],
            customer_id=item["customer_id"]["S"],
            due_at=_parse_time(item["due_at"]) or datetime.min,
            status=item["status"]["S"],
            sent_at=_parse_time(item.get("sent_at")),
            answered_at=_parse_time(item.get("answered_at")),
            answer=answer,
            drop_reason=item.get("drop_reason", {}).get("S"),
            recipient=item.get("recipient", {}).get("S"),
        )

    def take_slot(self, customer_id: str, survey_id: str, now: datetime, window_start: datetime) -> bool:
        """Claim the customer's one survey per window (idempotent for the same survey)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"SURVEYLAST#{customer_id}"},
                    "sk": {"S": "#LAST"},
                    "type": {"S": "survey_last"},
                    "survey_id": {"S": survey_id},
                    "sent_at": {"S": _iso(now)},
                },
                ConditionExpression="attribute_not_exists(pk) OR sent_at < :start OR survey_id = :me",
                ExpressionAttributeValues={":start": {"S": _iso(window_start)}, ":me": {"S": survey_id}},
            )
        except Exception as error:
            if client_condition_failed(error):
                return False
            raise
        return True

    def mark(self, survey: Survey, status: str, now: datetime, reason: str | None = None) -> None:
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": {"S": status}, ":scheduled": {"S": "scheduled"}}
        expression = "SET #s = :s"
        if status == "sent":
            expression += ", sent_at = :at"
            values[":at"] = {"S": _iso(now)}
        if reason:
            expression += ", drop_reason = :reason"
            values[":reason"] = {"S": reason}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_survey_key(survey.kind, survey.subject),
                UpdateExpression=expression,
                ConditionExpression="#s = :scheduled",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if not client_condition_failed(error):
                raise

    def answer(
        self, survey: Survey, answer: dict[str, object], now: datetime, facts: Sequence[Fact] = ()
    ) -> tuple[bool, bool]:
        """Store the answer once and count its facts, in one transaction: (stored, facts counted).
        (False, False) when the survey was already answered; a fact counted before (never in one
        write with the answer) leaves the answer stored alone."""
        update = {
            "TableName": self.table,
            "Key": _survey_key(survey.kind, survey.subject),
            "UpdateExpression": "SET #s = :answered, answered_at = :at, answer = :answer",
            "ConditionExpression": "#s = :sent",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":answered": {"S": "answered"},
                ":sent": {"S": "sent"},
                ":at": {"S": _iso(now)},
                ":answer": {"S": json.dumps(answer, sort_keys=True)},
            },
        }
        shown = {"Put": {"TableName": self.table, "Item": _answer_on_order(survey, answer, now)}}
        failed = self._transact([{"Update": update}, shown, *self._items(list(facts))])
        if failed is None:
            return True, bool(facts)
        if failed[0] == CONDITION_FAILED:
            return False, False  # answered already (by another request)
        return self.answer(survey, answer, now)[0], False  # a fact's marker: store the answer alone


# --- the live operations board -------------------------------------------------------------------------------
# In the day counters' partition, after every date (so no report's date range reaches them), so that
# the dashboard reads this week, its 13-week trend and the whole board in one Query:
#   KPI#DAY / ~board#<late_shipping|late_delivery|stalled>#<order id>  an order that needs someone now
#   KPI#DAY / ~soon#<ship-by>#<order id>   an order not shipped whose promise is still open, by its ship-by
# ("~board#" sorts before "~soon#": the Query's range ends at the last ship-by it wants). All from the stream.
BOARD_PREFIX = "~board#"
SOON_PREFIX = "~soon#"
SHIP_SOON = "ship_soon"


def _board_sk(kind: str, order_id: str, due_at: datetime | None) -> str:
    if kind == SHIP_SOON:
        assert due_at is not None, "a ship-soon entry is filed by its ship-by"
        return f"{SOON_PREFIX}{_iso(due_at)}#{order_id}"
    return f"{BOARD_PREFIX}{kind}#{order_id}"


def _board_row(item: dict[str, Any]) -> dict[str, str]:
    sk = item["sk"]["S"]
    kind = SHIP_SOON if sk.startswith(SOON_PREFIX) else sk.removeprefix(BOARD_PREFIX).split("#", 1)[0]
    return {
        "kind": kind,
        "order_id": item["order_id"]["S"],
        "number": item["number"]["S"],
        "due_at": item.get("due_at", {}).get("S", ""),
    }


def _board_key(place: BoardPlace) -> dict[str, Any]:
    return {"pk": {"S": COUNTERS_PK}, "sk": {"S": _board_sk(place.kind, place.order_id, place.due_at)}}


def _board_item(place: BoardPlace) -> dict[str, Any]:
    item = {
        **_board_key(place),
        "type": {"S": "ops_board"},
        "order_id": {"S": place.order_id},
        "number": {"S": place.number},
    }
    if place.due_at is not None:
        item["due_at"] = {"S": _iso(place.due_at)}
    return item


def _board_write(table: str, place: BoardPlace) -> dict[str, Any]:
    """The place as an item of a transaction: put there, or taken off."""
    if place.present:
        return {"Put": {"TableName": table, "Item": _board_item(place)}}
    return {"Delete": {"TableName": table, "Key": _board_key(place)}}


class DynamoOpsBoard(DynamoKpiStore):
    def place(self, place: BoardPlace) -> None:
        if place.present:
            self.client.put_item(TableName=self.table, Item=_board_item(place))
        else:
            self.client.delete_item(TableName=self.table, Key=_board_key(place))

    def board(self, limit: int = 200) -> list[dict[str, str]]:
        """The orders late to ship, late to arrive or stalled (not the ship-soon list)."""
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :board)",
            ExpressionAttributeValues={":pk": {"S": COUNTERS_PK}, ":board": {"S": BOARD_PREFIX}},
            Limit=limit,
        )
        return [_board_row(item) for item in page.get("Items", [])]

    def days_and_board(
        self, start: date, end: date, now: datetime, hours: int
    ) -> tuple[list[tuple[date, dict[str, int]]], list[dict[str, str]]]:
        """The day counters of [start, end), the board, and the orders to ship within `hours`: one Query."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":pk": {"S": COUNTERS_PK},
                ":start": {"S": start.isoformat()},
                ":end": {"S": f"{SOON_PREFIX}{_iso(now + timedelta(hours=hours))}#~"},
            },
        }
        days, board, soon, earliest = [], [], [], _iso(now)
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                sk = item["sk"]["S"]
                if sk.startswith(BOARD_PREFIX):
                    board.append(_board_row(item))
                elif sk.startswith(SOON_PREFIX):
                    if item["due_at"]["S"] >= earliest:  # past its ship-by: the sweep is about to call it late
                        soon.append(_board_row(item))
                elif (day := date.fromisoformat(sk)) < end:
                    days.append((day, {k: int(v["N"]) for k, v in item.items() if "N" in v}))
            if "LastEvaluatedKey" not in page:
                return days, board + soon
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
