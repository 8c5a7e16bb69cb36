"""The way in by batch (SPEC 13): ``events.record`` and ``users.upsert`` batches and a whole
book's import, validated before, written set-based under the chunks' user row locks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from domain import effects, intake, ledger, lending
from domain.activity import Activity
from domain.commands import (
    InputError,
    MoneyEvent,
)
from domain.config import ProductConfig
from domain.model import Journal, User
from store import events as event_rows
from store import journals as journal_rows
from store import users as user_rows
from store.engine import Connection
from workers import ingest


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a batch did: applied, already recorded (the same key and content before) and
    the refusals by the rules (an ineligible draw, an audit outside the hours)."""

    applied: int
    already: int
    refused: list[dict[str, object]]

    def summary(self) -> dict[str, object]:
        """The counts and refusals as JSON-ready data (what the task returns)."""
        return {"applied": self.applied, "already_recorded": self.already,
                "refused": [{k: (v.isoformat() if isinstance(v, date) else v)
                             for k, v in r.items() if k != "field"} for r in self.refused]}


def record_events(conn: Connection, batch: Sequence[intake.Recorded], now: datetime,
                  config: ProductConfig) -> Recorded:
    """Apply a validated ``events.record`` batch in the caller's transaction, under the
    user row locks the chunks take. Raises InputError (nothing written: the caller rolls
    back) for an unknown user or a key already recorded with other content (KEY_REUSED).

    Signals fold and money arrives in bulk (a few statements for the whole batch: the
    users locked and read in one, written back in one; no later event of a batch depends
    on a balance, since deduction runs only at night); every other kind goes through
    ``apply_events`` in the order sent, after them.
    """
    rows = user_rows.lock_users_for_intake(conn, {r.event.user for r in batch})
    for r in batch:
        if r.event.user not in rows:
            raise InputError(f"events[{r.index}].user", f"unknown user {r.event.user!r}")
    known = event_rows.known_keys(conn, [r.key for r in batch])
    for r in batch:
        if known.get(r.key, r.digest) != r.digest:
            raise InputError(f"events[{r.index}].key", f"KEY_REUSED: {r.key!r} was recorded "
                                                      "before with other content")
    fresh = [r for r in batch if r.key not in known]
    bulk = [r for r in fresh if r.event.kind in intake.SIGNAL_KINDS
            or isinstance(r.event, MoneyEvent)]
    folded = _fold_signals(rows, [r for r in bulk if r.event.kind in intake.SIGNAL_KINDS])
    users = _money_in(conn, rows, [r for r in bulk if isinstance(r.event, MoneyEvent)])
    user_rows.save_intake(conn, [
        {"id": uid, "wallet": users[uid].wallet if uid in users else rows[uid].wallet,
         "fund": users[uid].fund if uid in users else rows[uid].fund,
         "activity": folded[uid][0] if uid in folded else rows[uid].activity,
         "next_recalc": folded[uid][1] if uid in folded else rows[uid].next_recalc}
        for uid in sorted(folded.keys() | users.keys())])
    # The events applied in bulk, each one row with its key, digest and outcome; the
    # payload is the item as sent (its canonical JSON, made for the digest).
    event_rows.insert_recorded(conn, [
        (x.event.date, x.event.user, x.event.kind, event_rows.RECORDED + x.key, x.sent,
         x.digest, now, "applied") for x in bulk])
    ordered = [r for r in fresh if r.event.kind not in intake.SIGNAL_KINDS
               and not isinstance(r.event, MoneyEvent)]
    refused = ingest.apply_events(
        conn, [(event_rows.RECORDED + r.key, r.event) for r in ordered], config,
        {event_rows.RECORDED + r.key: (r.digest, now) for r in ordered})
    return Recorded(len(fresh) - len(refused), len(batch) - len(fresh),
                    [{**{k: v for k, v in x.items() if k != "message"},
                      "key": str(x["key"]).removeprefix(event_rows.RECORDED)}
                     for x in refused])


def _money_in(conn: Connection, rows: dict[str, Any],
              records: Sequence[intake.Recorded]) -> dict[str, User]:
    """Top-ups and deposits of a batch: the journals of ``_apply`` (same keys), in bulk,
    and the cards credited. Returns the users whose wallet or fund grew, as they are
    afterwards."""
    users: dict[str, User] = {}
    journals: list[Journal] = []
    cards: dict[str, int] = {}
    for x in records:
        e = x.event
        if not isinstance(e, MoneyEvent):
            raise AssertionError(f"{e.kind} is not money")
        if e.kind == "card_deposit":
            cards[e.user] = cards.get(e.user, 0) + e.amount
            continue
        user = users.get(e.user) or users.setdefault(e.user, user_rows.as_user(rows[e.user]))
        journals.append(effects.money_in(user, e.kind, f"rec:{x.key}", e.amount, e.date))
    journal_rows.insert_journals(conn, journals)
    event_rows.add_to_cards(conn, cards)
    return users


def _fold_signals(rows: dict[str, Any], signals: Sequence[intake.Recorded]
                  ) -> dict[str, tuple[object, date]]:
    """The batch's signals folded, in the order they occurred, into the locked users'
    activity (SPEC 5): the activity record and next recalculation date of each user they
    changed (a second payment on a day already active changes nothing: it is not written)."""
    state = {uid: (user_rows.activity_of(rows[uid]), rows[uid].next_recalc)
             for uid in {x.event.user for x in signals}}
    before = {uid: (_content(a), n) for uid, (a, n) in state.items()}
    for x in sorted(signals, key=lambda x: x.event.date):
        activity, next_recalc = state[x.event.user]
        after = effects.signal(activity, next_recalc, x.event.kind, x.event.date)
        state[x.event.user] = (after.activity, after.next_recalc)
    # Only a changed user's activity is made JSON (the fold changes the record in place:
    # what it held before is compared by its content).
    return {uid: (a.to_json(), n) for uid, (a, n) in state.items()
            if (_content(a), n) != before[uid]}


def _content(a: Activity) -> tuple[object, ...]:
    """What an activity record holds (what its JSON is made of), as a value."""
    return (tuple(a.active_days), tuple(a.inquiries), tuple(a.churn), a.capacity_decline_on,
            a.flagged_contacts)


def upsert_users(conn: Connection, users: Sequence[intake.UserRecord], today: date,
                 config: ProductConfig) -> dict[str, int]:
    """Create or update a validated batch of users under their row locks. Score, limit and
    opening balances apply on creation only (the opening balances as opening journals)."""
    ids = sorted(u.id for u in users)
    user_rows.lock_users(conn, ids)
    present = user_rows.existing(conn, ids)
    new = [u for u in users if u.id not in present]
    before = today - timedelta(days=1)
    user_rows.insert_users(conn, [_created(u, before, config) for u in new])
    user_rows.open_bank_accounts(conn, {u.id: u.card or 0 for u in new})
    journal_rows.insert_journals(conn, [
        lending.opening_balance(u.id, account(u.id), amount, today)
        for u in new for account, amount in ((ledger.wallet, u.wallet), (ledger.fund, u.fund))
        if amount])
    changes = [_changed(u) for u in users if u.id in present]
    user_rows.update_users(conn, [c for c in changes if len(c) > 1])
    return {"created": len(new), "updated": len(users) - len(new)}


def _consent(u: intake.UserRecord) -> dict[str, bool]:
    c = u.consent
    if c is None:
        return {}
    return {f"consent_{k}": v for k, v in (("wallet", c.wallet), ("card", c.card),
                                            ("fund", c.fund)) if v is not None}


def _created(u: intake.UserRecord, before: date, config: ProductConfig) -> dict[str, object]:
    score = 600 if u.score is None else u.score
    return {"id": u.id, "name": u.name or "", "phone": u.phone or "",
            "birth_date": u.birth_date,
            "identity_verified": True if u.identity_verified is None else u.identity_verified,
            "identity_expires": u.identity_expires, "card_token": u.card_token,
            "score": score, "credit_limit": u.limit or 0, "wallet": u.wallet or 0,
            "fund": u.fund or 0, "consent_wallet": True, "consent_card": True,
            "consent_fund": True, **_consent(u), "last_recalc": before,
            "last_base": config.base_limit(score),
            "next_recalc": before + timedelta(days=config.limit_recalc_interval_days)}


def _changed(u: intake.UserRecord) -> dict[str, object]:
    sent = u.model_fields_set - {"consent", *intake.CREATION_ONLY}
    return {"id": u.id, **{k: getattr(u, k) for k in sorted(sent) if k != "id"},
            **_consent(u)}
