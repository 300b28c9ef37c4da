"""A year of orders for a handful of customers over moto, with the daily run every morning
(but one): the win-back sequence, promo codes, tier-ups, the quarter's appreciation reward,
the holdout and attribution, checked against the days they must happen on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from lifecycle.local.stack import LocalContext
from lifecycle.stages.retention.journey import held_out
from tests.conftest import Aws
from tests.integration.retention_helpers import (
    DAY0,
    ZONE,
    Orders,
    at,
    customer,
    day_of,
    profiles,
    scan,
)

DAYS = 366
MISSED = 22  # the morning the daily run did not run
HOLDOUT_KEY = b"lifecycle-holdout-1"  # the template's default HoldoutKey

pytestmark = pytest.mark.slow


def _holdoutcustomer() -> str:
    """The first customer id the win-back programme holds out (10%, the default share)."""
    return next(
        name
        for name in (f"held-{n}" for n in range(1000))
        if held_out(HOLDOUT_KEY, "winback", name, 0.1)
    )


class Year:
    """The year played out once for every test of this module (it takes a while)."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.holdout = _holdoutcustomer()
        self.orders = Orders()
        self.codes: dict[str, str] = {}  # customer -> the code their win-back offer carried

    def play(self) -> None:
        for treated in ("lapser", "silent", "early", "heavy"):
            assert not any(
                held_out(HOLDOUT_KEY, family, treated, 0.1)
                for family in ("winback", "tier_up", "appreciation")
            ), treated
        for customer_id, name in (
            ("lapser", "Ann"),
            ("silent", "Bram"),
            ("early", "Cem"),
            ("heavy", "Dana"),
            (self.holdout, "Eli"),
        ):
            customer(customer_id, name)
        o = self.orders
        for day in range(0, 50, 7):  # weekly, then nothing from day 49 (delivered day 50)
            o.place("lapser", day)
        o.place("silent", 0)  # one order, then nothing
        for day in (0, 10, 20):  # every ten days, then a pause
            o.place("early", day)
        for day in range(0, DAYS - 2, 5):  # a heavy user all year
            o.place("heavy", day)
        o.place(self.holdout, 0)
        for day in range(DAYS):
            if day != MISSED:
                self._morning(day)
            self._customers_act(day)
            self.orders.write(day)
            self._streams()

    def _customers_act(self, day: int) -> None:
        o = self.orders
        if day == 88:  # the lapser comes back with the offer's code, then orders weekly
            o.place("lapser", day, code=self._code("lapser"))
            for later in range(95, 201, 7):
                o.place("lapser", later)
        if day == 55:  # the day before the offer would go
            for later in range(55, DAYS - 2, 10):
                o.place("early", later)
        if day == 70:  # silent tries their code after it expired, and early tries it
            o.place("silent", day, code=self._code("silent"))
            o.place("early", day, code=self._code("silent"))
        if day == 40:  # the holdout orders again within the window of their holdout exposure
            o.place(self.holdout, day)

    def _code(self, customer: str) -> str:
        items = [
            i
            for i in scan("ProfilesTable")
            if i["customer_id"] == customer and i["sk"].startswith("promo#winback-")
        ]
        assert items, f"{customer} has no win-back code"
        code: str = sorted(items, key=lambda i: i["issued_at"])[-1]["code"]
        self.codes.setdefault(customer, code)
        return code

    def _morning(self, day: int) -> None:
        with time_machine.travel(at(day, 5), tick=False):
            result = self.aws.invoke("DailyStagesFunction", {})
            if result["status"] != "skipped":
                self.aws.stack.drain_queues(LocalContext.for_function)

    def _streams(self) -> None:
        records = self.aws.stack.read_stream("OrdersTable")
        if records:
            for function in ("ProfilesFunction", "OrdersFunction"):
                result = self.aws.invoke(function, {"Records": records})
                assert result["batchItemFailures"] == [], function


@pytest.fixture(scope="module")
def year() -> Any:
    """Plays the year once; each test reads what it left in the tables."""
    from moto import mock_aws

    from lifecycle.local.stack import LocalStack, moto_environment
    from lifecycle.platform import composition
    from tests.conftest import PARAMETERS, fresh_session

    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto_environment().items():
            patch.setenv(key, value)
        composition.reset()
        with mock_aws():
            fresh_session()
            played = Year(Aws(LocalStack.deployed(PARAMETERS)))
            played.play()
            ledger = {item["message_key"]: item for item in scan("LedgerTable")}
            items = scan("ProfilesTable")
            history = {
                customer: profiles().history(customer)
                for customer in ("lapser", "silent", "early", "heavy", played.holdout)
            }
            yield played, ledger, items, history
        composition.reset()


def _sent(ledger: dict[str, Any], prefix: str) -> list[str]:
    return sorted(k for k, v in ledger.items() if k.startswith(prefix) and v["status"] == "sent")


def _sent_day(ledger: dict[str, Any], key: str) -> int:
    return day_of(ledger[key]["updated_at"])


def test_each_stage_change_falls_on_its_day_even_after_a_missed_morning(year: Any) -> None:
    _, _, _, history = year
    silent = [(c.old, c.new, (c.at.astimezone(ZONE).date() - DAY0).days) for c in history["silent"]]
    # one order on day 0, delivered on day 1: at risk 21 days later (the floor), dormant after
    # 60; the run of day 22 was missed, and the change is still dated day 22
    assert silent[1:3] == [("new", "at_risk", 22), ("at_risk", "dormant", 61)]
    lapser = [(c.new, (c.at.astimezone(ZONE).date() - DAY0).days) for c in history["lapser"]]
    # weekly until day 49 (delivered day 50): at risk 21 days later; back on day 88 with the
    # offer's code (won back); weekly to day 200, then lapsed again and dormant
    assert ("at_risk", 71) in lapser
    assert ("won_back", 88) in lapser
    assert ("at_risk", 222) in lapser
    assert lapser[-1] == ("dormant", 261)


def test_the_win_back_sequence_goes_step_by_step_and_stops_on_a_new_order(year: Any) -> None:
    _, ledger, _, _ = year
    silent = _sent(ledger, "winback#silent#2026-01-27#")  # the lapse that began on day 22
    assert len(silent) == 3  # the reminder, the offer, the last chance
    # the reminder was due on the missed morning (day 22): it went the next morning
    assert [_sent_day(ledger, key) for key in silent] == [23, 36, 52]
    lapser = _sent(ledger, "winback#lapser#")
    # first lapse: the reminder (day 71) and the offer (day 85); the order on day 88 stopped
    # the last chance. The second lapse (day 222) ran its whole sequence.
    assert [_sent_day(ledger, key) for key in lapser] == [71, 85, 222, 236, 252]
    assert len({key.split("#")[2] for key in lapser}) == 2  # two sequences


def test_no_step_goes_after_an_order_placed_the_day_before(year: Any) -> None:
    _, ledger, _, history = year
    # early lapsed on day 42 (reminder) and ordered on day 55, the day before the offer
    early = _sent(ledger, "winback#early#")
    assert [_sent_day(ledger, key) for key in early] == [42]
    assert ("at_risk", "won_back") in [(c.old, c.new) for c in history["early"]]


def test_codes_are_unique_single_use_bound_and_expiring(year: Any) -> None:
    played, ledger, profiles, _ = year
    codes = [i for i in profiles if i["sk"].startswith("promo#")]
    lookups = [i for i in profiles if i["customer_id"].startswith("code#")]
    assert len({i["code"] for i in codes}) == len(codes) == len(lookups)
    lapser_code = next(
        i for i in codes if i["customer_id"] == "lapser" and i["code"] == played.codes["lapser"]
    )
    assert lapser_code["state"] == "redeemed"
    assert lapser_code["redeemed_order"] == "lapser-009"
    refused = {k: v for k, v in ledger.items() if k.startswith("promo#") and k.endswith("#refused")}
    reasons = {k.split("#")[1]: v["reason"] for k, v in refused.items()}
    assert reasons["silent-002"] == "promo code expired"  # valid 30 days from day 36
    # early's order of day 70 carried silent's code
    early = [reason for order, reason in reasons.items() if order.startswith("early-")]
    assert early == ["promo code issued to another customer"]
    # one code per lapse: the last chance repeated the offer's, never a second one
    silent_codes = sorted(i["sk"] for i in codes if i["customer_id"] == "silent")
    assert silent_codes == ["promo#winback-2026-01-27", "promo#winback-2026-05-16"]


def test_a_tier_up_goes_once_per_tier(year: Any) -> None:
    _, ledger, _, _ = year
    assert _sent(ledger, "tier_up#heavy#") == ["tier_up#heavy#gold", "tier_up#heavy#silver"]
    # 40 points an order: silver (250) with the 7th delivered order (day 31), gold (750) with
    # the 19th (day 91); each announced the next morning
    assert _sent_day(ledger, "tier_up#heavy#silver") == 32
    assert _sent_day(ledger, "tier_up#heavy#gold") == 92


def test_the_appreciation_reward_goes_at_most_once_a_quarter(year: Any) -> None:
    _, ledger, profiles, _ = year
    sent = _sent(ledger, "appreciation#heavy#")
    quarters = [key.rsplit("#", 1)[1] for key in sent]
    assert quarters == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1"]
    # the sixth order in 90 days (day 25) earns Q1's the next morning; each later quarter's
    # goes on its first day
    days = [_sent_day(ledger, key) for key in sent]
    first_days = [(date(2026, m, 1) - DAY0).days for m in (4, 7, 10)] + [
        (date(2027, 1, 1) - DAY0).days
    ]
    assert days == [26, *first_days]
    codes = [
        i
        for i in profiles
        if i["customer_id"] == "heavy" and i["sk"].startswith("promo#appreciation-")
    ]
    assert len(codes) == 5


def test_the_holdout_gets_no_retention_message_but_every_order_update(year: Any) -> None:
    played, ledger, profiles, _ = year
    held = played.holdout
    retention = [
        k
        for k, v in ledger.items()
        if v.get("customer_id") == held and v.get("stage") == "retention"
    ]
    assert retention == []
    updates = [
        k
        for k, v in ledger.items()
        if v.get("customer_id") == held and v.get("stage") == "order" and v["status"] == "sent"
    ]
    assert len(updates) >= 4  # scheduled and delivered, for both orders
    exposures = sorted(
        (i for i in profiles if i["customer_id"] == held and i["sk"].startswith("exposure#")),
        key=lambda i: i["exposed_at"],
    )
    assert [(i["programme"], i["group"]) for i in exposures][:1] == [("winback#0", "holdout")]
    # the order on day 40 came within 14 days of the day-36 holdout exposure: attributed
    attributed = [i for i in exposures if i.get("attributed_order")]
    assert [i["programme"] for i in attributed] == ["winback#1"]
    assert attributed[0]["revenue"] == Decimal(40)


def test_orders_after_a_message_are_attributed_with_their_revenue(year: Any) -> None:
    _, _, profiles, _ = year
    lapser = {
        i["programme"]: i
        for i in profiles
        if i["customer_id"] == "lapser" and i["sk"].startswith("exposure#winback#lapser#2026-03")
    }
    offer = lapser["winback#1"]
    assert (offer["group"], offer["outcome"]) == ("treated", "sent")
    assert offer["attributed_order"] == "lapser-009"
    assert offer["revenue"] == Decimal(40)
