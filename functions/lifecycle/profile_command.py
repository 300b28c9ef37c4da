"""`lifecycle profile CUSTOMER_ID`: what the product knows of a customer's custom, their
lifecycle stage and how they got there, as ops and the business read it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.profiles import DynamoProfiles
from lifecycle.profiles.model import LoyaltyRules, Profile
from lifecycle.profiles.stages import Change, StageRules

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class NoProfile(LookupError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(
            f"no profile for {customer_id}: a prospect (no order seen yet) or an unknown id"
        )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M %Z}".strip() if moment else "-"


def describe(
    profile: Profile,
    due_day: str | None,
    history: list[Change],
    codes: list[dict[str, Any]] | None = None,
) -> list[str]:
    """The profile as lines of text (with the customer's promo codes, as exported)."""
    spend = ", ".join(f"{c} {a:.2f}" for c, a in sorted(profile.spend.items())) or "nothing yet"
    gap = StageRules().usual_gap(profile)
    usual = f"{gap} days (median)" if gap is not None else "- (fewer than two orders)"
    since = f" since {_when(profile.stage_since)}" if profile.stage_since else ""
    lines = [
        f"customer {profile.customer_id}: {profile.stage}{since}",
        f"  orders       {profile.placed} placed, {profile.delivered} delivered, "
        f"{profile.cancelled} cancelled",
        f"  spent        {spend} (delivered orders, less refunds)",
        f"  points       {profile.points}" + (f" (tier {profile.tier})" if profile.tier else ""),
        f"  first order  {_when(profile.first_order_at)}",
        f"  last order   {_when(profile.last_order_at)}",
        f"  usual gap    {usual}",
        f"  under way    {profile.open_orders} order(s) not delivered yet",
        f"  next change  {due_day or 'only an order can change the stage now'}",
    ]
    if profile.winback_at:
        lines.append(f"  win-back     {profile.winback_key} at {_when(profile.winback_at)}")
    if profile.winback_done:
        lines.append(f"  last step    {profile.winback_done} (handled)")
    if profile.tiers_rewarded:
        lines.append(f"  tier-ups     {', '.join(sorted(profile.tiers_rewarded))} announced")
    if profile.appreciated:
        lines.append(f"  appreciated  {profile.appreciated}")
    for code in codes or []:
        redeemed = f", redeemed on {code['redeemed_order']}" if code.get("redeemed_order") else ""
        lines.append(
            f"  promo code   {code.get('programme')}: {code.get('state')}, expires "
            f"{str(code.get('expires_at', '-'))[:10]}{redeemed}"
        )
    lines.append(f"stage history ({len(history)} change{'s' if len(history) != 1 else ''})")
    width = max((len(f"{c.old} -> {c.new}") for c in history), default=0)
    lines += [
        f"  {_when(change.at):<22} {f'{change.old} -> {change.new}':<{width}}  {change.cause}"
        for change in history
    ]
    return lines


def show(client: DynamoDBClient, table: str, customer_id: str, *, as_json: bool) -> str:
    """The customer's profile and stage history, as text or JSON; NoProfile if none."""
    profiles = DynamoProfiles(client, table, LoyaltyRules(), StageRules())
    exported: dict[str, Any] = profiles.export(customer_id)
    if exported["profile"] is None:
        raise NoProfile(customer_id)
    if as_json:
        return json.dumps({"customer_id": customer_id, **exported}, indent=2, default=str)
    profile = profiles.get(customer_id)
    assert profile is not None
    due = exported["profile"].get("due_day")
    history = profiles.history(customer_id)
    return "\n".join(describe(profile, due, history, exported["promo_codes"]))
