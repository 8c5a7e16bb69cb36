"""``creditcycle explain``, the past: the dated facts of a borrower's history, in the
order a night makes them."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from domain import activity as act
from domain.config import ProductConfig
from domain.explain import Codes, Days, Frag, Line, Loans, Parts, Value, Yuan
from domain.model import PAID_OFF
from reports.explain_state import SOURCES
from store.history import UserHistory

# Order of facts within one day: money in, then what the night did, in step order.
RANK = {
    "money_in": 0, "signal": 1, "hold": 1, "release": 1, "loan_opened": 2, "draw_refused": 3,
    "application_refused": 3, "audit_refused": 3, "application_cancelled": 3,
    "repaid": 4, "repaid_to_wallet": 4, "recovery": 4, "repay_refused": 4, "card_pending": 5,
    "collected": 6, "card_failed": 6, "card_failed_many": 6, "penalty_reversed": 7,
    "paid_off": 8, "overdue_started": 9, "bucket": 10, "overdue_cleared": 10, "penalty": 11,
    "score": 12, "limit": 13, "reminder_due_soon": 14, "reminder_overdue": 14,
    "reminder_overdue_many": 14, "case_internal": 15, "handoff": 16, "case_closed": 16,
    "written_off": 17, "bureau": 18,
}
PAY_ORDER = ("penalty", "interest", "principal")
MONEY_IN = ("wallet_topup", "fund_deposit", "card_deposit")
SIGNALS = act.RISK_KINDS | {"card_invalid", "card_outage", "card_timeout"}
BUCKET_OF = {"BUCKET_M2": "M2", "BUCKET_M3": "M3", "BUCKET_M3_PLUS": "M3+"}
LOAN_EVENT_OF_SCORE = {"WRITTEN_OFF": "WRITE_OFF_DUE"}


# ---------------------------------------------------------------- what happened
def timeline(h: UserHistory, config: ProductConfig, since: date) -> list[Line]:
    """Dated facts from ``since`` on; the ones that count rows count only those from then."""
    out: list[Line] = []
    out += _loans_opened(h)
    out += _events(h)
    out += _money(h, since)
    out += _card_failures(h, since)
    out += _overdue(h, config)
    out += _scores(h)
    out += [Line("limit", {"old": Yuan(r.old), "new": Yuan(r.new),
                           "why": Codes(tuple(r.reasons.split(",")))}, r.day)
            for r in h.limit_events]
    out += _reminders(h, config, since)
    out += _collection(h)
    out += [Line(f"bureau_{r.kind}", {"loan": r.loan_id, "dpd": Days(r.dpd)}, r.day)
            for r in h.bureau_records]
    for line in out:
        if line.kind.startswith("bureau_"):
            continue
        if line.kind not in RANK:
            raise AssertionError(f"no rank for {line.kind}")
    out = [x for x in out if (x.until or x.day or since) >= since]
    return sorted(out, key=lambda x: (x.day or date.min,
                                      RANK.get(x.kind, RANK["bureau"]),
                                      str(x.values.get("loan") or "")))


def _rate(bp: int) -> Frag:
    if bp == 0:
        return Frag("rate_free")
    whole, frac = divmod(bp, 100)
    return Frag("rate_pct", {"pct": f"{whole}.{frac:02d}".rstrip("0").rstrip(".")})


def _loans_opened(h: UserHistory) -> list[Line]:
    out = []
    for x in h.loans:
        first = min(x.installments, key=lambda i: i.no)
        out.append(Line("loan_opened", {
            "loan": x.id, "principal": Yuan(x.principal), "rate": _rate(x.annual_rate_bp),
            "term": x.term_months, "installment": Yuan(first.principal + first.interest)},
            x.disbursed))
    return out


def _payload(row: Any) -> dict[str, Any]:
    return row.payload if isinstance(row.payload, dict) else {}


def _events(h: UserHistory) -> list[Line]:
    out = []
    draws = {(r.day, _payload(r).get("loan")): _payload(r) for r in h.events
             if r.kind == "draw"}
    for r in h.events:
        p = _payload(r)
        if r.kind in MONEY_IN:
            out.append(Line("money_in", {"what": Frag(f"money_in_{r.kind}",
                                                      {"amount": Yuan(int(p["amount"]))})},
                            r.day))
        elif r.kind in SIGNALS:
            out.append(Line("signal", {"what": Frag(f"signal_{r.kind}")}, r.day))
        elif r.kind in ("collection_hold", "collection_release"):
            kind = "hold" if r.kind == "collection_hold" else "release"
            out.append(Line(kind, {"loan": p.get("loan")}, r.day))
    for r in h.refusals:
        if r.kind in ("apply", "audit"):
            continue  # in ``applications``
        if r.kind == "draw":
            principal = draws.get((r.day, r.loan_id), {}).get("principal")
            out.append(Line("draw_refused", {
                "loan": r.loan_id, "amount": Yuan(int(principal or 0)),
                "reason": Codes((r.reason,))}, r.day))
        else:
            out.append(Line("repay_refused", {"loan": r.loan_id or "",
                                              "reason": Codes((r.reason,))}, r.day))
    return out


def applications(h: UserHistory, apps: list[Any], config: ProductConfig,
                 since: date) -> list[Line]:
    """Why an application was refused or cancelled, and what to do about it (SPEC 12)."""
    from zoneinfo import ZoneInfo

    asked = {a.id: a for a in apps}
    out = []
    for r in h.refusals:
        if r.kind not in ("apply", "audit") or r.day < since:
            continue
        values: dict[str, Value] = {"loan": r.loan_id or "", "reason": Codes((r.reason,)),
                                    "fix": Frag(f"fix_app_{r.reason}")}
        if r.kind == "apply":
            principal = getattr(asked.get(r.loan_id), "principal", None) or 0
            out.append(Line("application_refused", {**values, "amount": Yuan(int(principal))},
                            r.day))
        else:
            out.append(Line("audit_refused", values, r.day))
    zone = ZoneInfo(config.time_zone)
    for a in apps:
        day = a.closed_at.astimezone(zone).date() if a.closed_at else None
        if a.status == "cancelled" and day is not None and day >= since:
            out.append(Line("application_cancelled", {
                "loan": a.id, "hours": config.application_audit_hours}, day))
    return out


def _loan_accounts(postings: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Per loan and component, what a journal paid (receivable credits)."""
    paid: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in postings:
        parts = p.account.split(":")
        if parts[0] == "loan" and len(parts) == 3 and p.amount < 0:
            paid[parts[1]][parts[2]] += -p.amount
    return paid


# C901: a case per kind of money movement explained, in the order the page shows them.
def _money(h: UserHistory, since: date) -> list[Line]:  # noqa: C901
    out: list[Line] = []
    uid = h.user.id
    by_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    loans_by_day: dict[date, set[str]] = defaultdict(set)
    penalty: dict[str, list[tuple[date, int]]] = defaultdict(list)
    reversed_by_day: dict[date, int] = defaultdict(int)
    last_paid: dict[str, date] = {}
    for j in h.journals:
        lines = h.postings.get(j.key, [])
        paid = _loan_accounts(lines)
        if j.kind != "write_off":
            for loan_id in paid:
                last_paid[loan_id] = max(j.day, last_paid.get(loan_id, j.day))
        if j.kind.startswith("deduct_"):
            by_day[j.day][j.kind.removeprefix("deduct_")] += j.amount
            loans_by_day[j.day] |= set(paid)
        elif j.kind == "repay":
            totals = {c: sum(v.get(c, 0) for v in paid.values()) for c in PAY_ORDER}
            excess = -sum(p.amount for p in lines if p.account == f"wallet:{uid}")
            if not paid:
                out.append(Line("repaid_to_wallet", {"total": Yuan(j.amount)}, j.day))
                continue
            out.append(Line("repaid", {
                "total": Yuan(j.amount), "loans": Loans(tuple(sorted(paid))),
                "parts": Parts(tuple((c, totals[c]) for c in PAY_ORDER if totals[c])),
                "excess": Frag("repaid_excess", {"amount": Yuan(excess)}) if excess else None},
                j.day))
        elif j.kind == "recovery":
            out.append(Line("recovery", {"total": Yuan(j.amount),
                                         "loans": Loans((j.loan_id or "",))}, j.day))
        elif j.kind == "penalty" and j.loan_id:
            penalty[j.loan_id].append((j.day, j.amount))
        elif j.kind == "penalty_reversal":
            reversed_by_day[j.day] += j.amount
        elif j.kind == "write_off" and j.loan_id:
            moved = sum(p.amount for p in lines if p.account.startswith("written_off:"))
            loan = next((x for x in h.loans if x.id == j.loan_id), None)
            out.append(Line("written_off", {"loan": j.loan_id, "amount": Yuan(moved),
                                            "dpd": Days(loan.dpd) if loan else ""}, j.day))
    for day, sources in by_day.items():
        if day < since:
            continue
        out.append(Line("collected", {
            "total": Yuan(sum(sources.values())),
            "loans": Loans(tuple(sorted(loans_by_day[day]))),
            "parts": Parts(tuple((s, sources[s]) for s in SOURCES if sources.get(s)))}, day))
    out += _penalties(h, penalty, since)
    out += [Line("penalty_reversed", {"amount": Yuan(v)}, d) for d, v in reversed_by_day.items()]
    for x in h.loans:
        if x.status == PAID_OFF and x.id in last_paid:
            out.append(Line("paid_off", {"loan": x.id}, last_paid[x.id]))
    return out


def _penalties(h: UserHistory, booked: dict[str, list[tuple[date, int]]],
               since: date) -> list[Line]:
    """Penalty interest per loan and run of days charged for, from ``since`` on.

    A penalty journal of day J charges the accrued days since the loan's previous one:
    the first after grace also charges the grace days held until then. A run counts
    the days charged for, not the days a journal was booked on.
    """
    charged: dict[str, list[date]] = defaultdict(list)
    for r in h.penalty_days:
        charged[r.loan_id].append(r.day)
    out = []
    for loan_id, journals in booked.items():
        days = sorted(charged[loan_id])
        items: list[tuple[date, int]] = []
        prev = date.min
        for day, amount in sorted(journals):
            if day >= since:
                covered = days[bisect_right(days, prev):bisect_right(days, day)]
                items += [(d, 0) for d in covered] + [(day, amount)]
            prev = day
        for first, last, amounts in _runs(items):
            n = len({d for d, _ in items if first <= d <= last})
            out.append(Line("penalty", {"loan": loan_id, "total": Yuan(sum(amounts)),
                                        "days": Days(n)}, first, last))
    return out


def _runs(items: list[tuple[date, int]], gap: int = 1
          ) -> list[tuple[date, date, list[int]]]:
    """Group dated values into runs of consecutive days (at most ``gap`` days apart)."""
    runs: list[tuple[date, date, list[int]]] = []
    for day, value in sorted(items):
        if runs and (day - runs[-1][1]).days <= gap:
            first, _, values = runs[-1]
            runs[-1] = (first, day, [*values, value])
        else:
            runs.append((day, day, [value]))
    return runs


def _card_failures(h: UserHistory, since: date) -> list[Line]:
    out = []
    failed: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for b in h.bank_debits:
        if b.day < since:
            continue
        if b.status == "failed":
            failed[b.reason or "no_reason"].append((b.day, 1))
        elif b.status == "pending":
            out.append(Line("card_pending", {"amount": Yuan(b.amount)}, b.day))
    for reason, days in failed.items():
        for first, last, ones in _runs(days):
            kind = "card_failed" if len(ones) == 1 else "card_failed_many"
            out.append(Line(kind, {"count": len(ones), "reason": Codes((reason,))},
                            first, last))
    return out


def _overdue(h: UserHistory, config: ProductConfig) -> list[Line]:
    out = []
    for e in h.loan_events:
        if e.kind == "OVERDUE_STARTED":
            out.append(Line("overdue_started", {"loan": e.loan_id, "dpd": Days(e.detail),
                                                "grace": config.grace_days}, e.day))
        elif e.kind in BUCKET_OF:
            out.append(Line("bucket", {"loan": e.loan_id, "dpd": Days(e.detail),
                                       "bucket": BUCKET_OF[e.kind]}, e.day))
        elif e.kind == "OVERDUE_CLEARED":
            out.append(Line("overdue_cleared", {"loan": e.loan_id}, e.day))
    return out


def _scores(h: UserHistory) -> list[Line]:
    dpd = {(e.day, e.loan_id, e.kind): e.detail for e in h.loan_events}
    out = []
    for r in h.score_events:
        kind = LOAN_EVENT_OF_SCORE.get(r.reason, r.reason)
        days = dpd.get((r.day, r.loan_id, kind))
        why = Frag(f"why_{r.reason}", {"loan": r.loan_id or "",
                                       "dpd": Days(days) if days is not None else ""})
        out.append(Line("score", {"old": r.old, "new": r.new, "delta": f"{r.new - r.old:+d}",
                                  "why": why}, r.day))
    return out


def _reminders(h: UserHistory, config: ProductConfig, since: date) -> list[Line]:
    out = []
    overdue: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for n in h.notifications:
        if n.day < since:
            continue
        if n.kind == "due_soon":
            due = n.day + timedelta(days=config.due_soon_days)
            out.append(Line("reminder_due_soon", {"loan": n.loan_id, "due": due}, n.day))
        elif n.kind == "overdue_reminder":
            overdue[n.loan_id].append((n.day, 1))
    for loan_id, days in overdue.items():
        for first, last, ones in _runs(days):
            kind = "reminder_overdue" if len(ones) == 1 else "reminder_overdue_many"
            out.append(Line(kind, {"loan": loan_id, "count": len(ones)}, first, last))
    return out


def _collection(h: UserHistory) -> list[Line]:
    out = []
    for c in h.cases:
        if c.stage == "internal":
            out.append(Line("case_internal", {"loan": c.loan_id}, c.opened_on))
        if c.outcome == "recalled" and c.closed_on is not None:
            out.append(Line("case_closed", {"loan": c.loan_id,
                                            "recovered": Yuan(c.recovered or 0)}, c.closed_on))
    out += [Line("handoff", {"loan": r.loan_id, "agency": r.agency or "", "dpd": Days(r.dpd),
                             "owed": Yuan(r.amount_owed or 0)}, r.day) for r in h.handoffs]
    return out
