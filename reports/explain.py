"""``creditcycle explain``: why a borrower's score and limit are what they are.

Reads one borrower's history (``store.queries.user_history``), turns the rows
into dated facts and the remedies the SPEC's rules allow, and lets
``domain.explain`` word them in English or Chinese. The remedies are the
rules read backwards: the amount that clears an overdue loan is what is
owed on the installments already due; a limit multiplier lapses when its
window no longer holds enough signals; the projected limit is the real
recalculation run on the next recalculation date with nothing new.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from domain import activity as act
from domain import limits
from domain.config import ProductConfig
from domain.explain import (
    Codes,
    Days,
    Either,
    Explanation,
    Frag,
    Ids,
    Line,
    Loans,
    Parts,
    Value,
    Yuan,
    lapses,
    multiplier_text,
    next_band,
    render,
)
from domain.model import OVERDUE, PAID_OFF, WRITTEN_OFF, Loan
from domain.overdue import daily_penalty
from store import applications as applications_store
from store import queries, repo
from store.queries import UserHistory


class UnknownUser(LookupError):
    """No borrower with this id."""


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
SOURCES = ("wallet", "card", "fund")
COMPONENTS = ("principal", "interest", "penalty")
PAY_ORDER = ("penalty", "interest", "principal")
MONEY_IN = ("wallet_topup", "fund_deposit", "card_deposit")
SIGNALS = act.RISK_KINDS | {"card_invalid", "card_outage", "card_timeout"}
BUCKET_OF = {"BUCKET_M2": "M2", "BUCKET_M3": "M3", "BUCKET_M3_PLUS": "M3+"}
LOAN_EVENT_OF_SCORE = {"WRITTEN_OFF": "WRITE_OFF_DUE"}


def explain(engine: Engine, user_id: str, *, lang: str = "en", since: date | None = None,
            config: ProductConfig | None = None) -> str:
    """The text for ``user_id``; raises UnknownUser, or ValueError for an unknown language."""
    return render(build_for(engine, user_id, config or ProductConfig(), since), lang, since)


def build_for(engine: Engine, user_id: str, config: ProductConfig,
              since: date | None = None) -> Explanation:
    """The explanation of ``user_id`` as of the last closed date (UnknownUser if none)."""
    with engine.connect() as conn:
        history = queries.user_history(conn, user_id)
        as_of = queries.last_closed_day(conn)
        apps = applications_store.of_user(conn, user_id)
    if history is None:
        raise UnknownUser(user_id)
    ex = build(history, as_of, config, since)
    extra = tuple(_applications(history, apps, config, since or date.min))
    if not extra:
        return ex
    timeline = sorted((*ex.timeline, *extra), key=lambda x: (x.day or date.min,
                                                             RANK.get(x.kind, 99)))
    return replace(ex, timeline=tuple(timeline))


def build(h: UserHistory, as_of: date | None, config: ProductConfig,
          since: date | None = None) -> Explanation:
    """State and remedies from the whole history; the timeline from ``since`` on: what it
    counts (attempts, reminders, days of penalty) counts only what happened from then."""
    on = as_of or date.today()
    return Explanation(user_id=h.user.id, as_of=as_of, state=tuple(_state(h, on)),
                       remedies=tuple(_remedies(h, on, config)),
                       timeline=tuple(_timeline(h, config, since or date.min)))


# ---------------------------------------------------------------- where things stand
def _due_by(loan: Loan, on: date) -> int:
    return sum(i.outstanding for i in loan.installments if i.due_date <= on)


def _status(u: Any) -> Frag:
    if u.closed:
        return Frag("st_closed")
    return Frag("st_frozen") if u.limit_frozen else Frag("st_open")


def _state(h: UserHistory, on: date) -> list[Line]:
    u = h.user
    out = [Line("state", {"score": u.score, "limit": Yuan(u.credit_limit),
                          "status": _status(u)})]
    for x in h.loans:
        owed = x.outstanding()
        common: dict[str, Value] = {"loan": x.id, "principal": Yuan(x.principal),
                                    "disbursed": x.disbursed}
        if x.status == WRITTEN_OFF:
            agency = Frag("wo_agency", {"agency": x.agency}) if x.agency else None
            out.append(Line("loan_written_off", {
                "loan": x.id, "day": x.written_off_on, "dpd": Days(x.dpd), "agency": agency,
                "owed": Yuan(sum(owed.values())),
                "parts": Parts(tuple((c, owed[c]) for c in COMPONENTS if owed[c]))}))
        elif x.status == PAID_OFF or x.total_outstanding() == 0:
            out.append(Line("loan_paid_off", common))
        elif x.dpd > 0:
            out.append(Line("loan_overdue", {
                "loan": x.id, "dpd": Days(x.dpd), "bucket": x.bucket,
                "due": Yuan(_due_by(x, on)),
                "outstanding": Yuan(x.total_outstanding()), "stage": _stage(x)}))
        else:
            upcoming = sorted((i for i in x.installments if i.outstanding > 0),
                              key=lambda i: i.due_date)
            if upcoming:
                out.append(Line("loan_current", {
                    **common, "outstanding": Yuan(x.total_outstanding()),
                    "next_amount": Yuan(upcoming[0].outstanding),
                    "next_due": upcoming[0].due_date}))
            else:
                out.append(Line("loan_current_nothing_due", {
                    **common, "outstanding": Yuan(x.total_outstanding())}))
    off = [f"src_{src}" for src in SOURCES if not getattr(u, f"consent_{src}")]
    if off:
        out.append(Line("consent_off", {"sources": Ids(tuple(off))}))
    if u.card_blocked:
        out.append(Line("card_blocked"))
    return out


def _stage(x: Loan) -> str | Frag:
    if x.on_hold:
        return Frag("stage_hold")
    if x.collection_stage == "agency" and x.agency:
        return Frag("stage_agency", {"agency": x.agency})
    if x.collection_stage == "internal":
        return Frag("stage_internal")
    return ""


# ---------------------------------------------------------------- what would restore it
# C901: a case per remedy (closed, overdue, lapses in force), read top to bottom as the page.
def _remedies(h: UserHistory, on: date, config: ProductConfig) -> list[Line]:  # noqa: C901
    u = h.user
    if u.closed:
        gone = [x for x in h.loans if x.status == WRITTEN_OFF]
        return [Line("fix_closed", {
            "loans": Loans(tuple(x.id for x in gone)),
            "owed": Yuan(sum(x.total_outstanding() for x in gone))})]
    out: list[Line] = []
    late = [x for x in h.loans if x.status == OVERDUE]
    for x in h.loans:
        oldest = min((i.due_date for i in x.installments
                      if i.due_date <= on and i.outstanding > 0), default=None)
        if x.status != OVERDUE and x.live and x.dpd > 0 and oldest is not None:
            out.append(Line("fix_grace", {
                "loan": x.id, "dpd": Days(x.dpd), "grace": config.grace_days,
                "amount": Yuan(_due_by(x, on)),
                "deadline": oldest + timedelta(days=config.grace_days),
                "points": abs(config.score_deltas["OVERDUE_STARTED"])}))
    if late:
        amount = sum(_due_by(x, on) for x in late)
        per_day = sum(daily_penalty(i.out_principal, x.annual_rate_bp, config)
                      for x in late for i in x.installments
                      if i.due_date <= on and i.out_principal > 0)
        values: dict[str, Value] = {
            "dpd": Days(max(x.dpd for x in late)), "amount": Yuan(amount),
            "next_close": on + timedelta(days=1),
            "per_day": Frag("per_day", {"amount": Yuan(per_day)}) if per_day else None}
        if len(late) == 1:
            out.append(Line("fix_frozen_one", {**values, "loan": late[0].id}))
        else:
            out.append(Line("fix_frozen_many", {**values,
                                                "loans": Loans(tuple(x.id for x in late))}))
        out.append(_how_to_pay(u))
        out.append(Line("after_clearing",
                        {"points": config.score_deltas["OVERDUE_CLEARED"]}))
    state = _limit_state(u)
    in_force = limits.multipliers(state, on, config)
    for lapse in lapses(state.activity, on):
        if lapse.code in in_force:
            out.append(Line(f"fix_{lapse.code}", {
                "count": lapse.count, "since": lapse.since, "until": lapse.until,
                "factor": multiplier_text(in_force[lapse.code])}))
    out += _lapsed(h, state.activity, on, in_force)
    if "DORMANT" in in_force:
        last = Frag("dormant_last", {"day": u.last_disbursed}) if u.last_disbursed else None
        out.append(Line("fix_DORMANT", {"last": last,
                                        "factor": multiplier_text(in_force["DORMANT"])}))
    m_activity = limits.activity_multiplier(state, on)
    if m_activity < 1:
        active = act.active_days(state.activity, on)
        out.append(Line("fix_LOW_ACTIVITY", {"active": active, "need": 30 - active,
                                             "factor": multiplier_text(m_activity)}))
    band = next_band(u.score, config)
    score_fell = any("SCORE_DOWN" in r.reasons.split(",") for r in h.limit_events)
    if band is not None and (score_fell or config.base_limit(u.score) == 0):
        out.append(Line("fix_score_band", {
            "score": u.score, "base": Yuan(config.base_limit(u.score)), "next_score": band[0],
            "next_base": Yuan(band[1]), "on_time": config.score_deltas["ON_TIME_REPAYMENT"]}))
    ext = u.last_external_overdue
    if ext is not None and (on - ext).days < 90:
        out.append(Line("fix_external", {
            "day": ext, "delta": f"{config.score_deltas['EXTERNAL_OVERDUE']:+d}",
            "next": ext + timedelta(days=config.external_overdue_interval_days)}))
    if u.overdue_history_pending and not late:
        out.append(Line("fix_history_pending"))
    when = u.next_recalc if u.next_recalc is not None and u.next_recalc > on \
        else on + timedelta(days=1)
    projected = limits.recalculate([state], when, config)[0].new
    out.append(Line("next_recalc", {"day": when, "projected": Yuan(projected)}))
    interval = config.limit_increase_interval_days
    if u.last_increase is not None and u.last_increase + timedelta(days=interval) > on:
        out.append(Line("increase_rule", {
            "interval": interval, "cap": multiplier_text(config.limit_increase_cap * 100),
            "floor": Yuan(config.limit_increase_floor),
            "day": u.last_increase + timedelta(days=interval)}))
    return out


def _how_to_pay(u: Any) -> Line:
    """Paying in, and only the sources the next automatic deduction may take from: those
    with consent (SPEC 2), the card not while the bank reports it invalid."""
    usable = [f"src_{src}" for src in SOURCES if getattr(u, f"consent_{src}")
              and not (src == "card" and u.card_blocked)]
    off = tuple(f"src_{src}" for src in SOURCES if not getattr(u, f"consent_{src}"))
    if not usable:
        return Line("fix_how_to_pay_none", {"sources": Ids(off)})
    return Line("fix_how_to_pay", {
        "sources": Either(tuple(usable)),
        "off": Frag("how_to_pay_off", {"sources": Ids(off)}) if off else None})


def _lapsed(h: UserHistory, activity: act.Activity, on: date,
            in_force: dict[str, Any]) -> list[Line]:
    """Causes of the last cut that have lapsed since, with the day each lapsed."""
    cuts = [r for r in h.limit_events if r.new < r.old]
    if not cuts:
        return []
    last = cuts[-1]
    then = {x.code: x.until for x in lapses(activity, last.day)}
    gone = [(code, then[code]) for code in last.reasons.split(",")
            if code in then and code not in in_force and then[code] is not None]
    return [Line("fix_lapsed", {"why": Codes((code,)), "day": until})
            for code, until in gone if until is not None and until <= on]


def _limit_state(u: Any) -> limits.LimitState:
    return limits.LimitState(
        user_id=u.id, score=u.score, limit=u.credit_limit, frozen=u.limit_frozen,
        closed=u.closed, activity=repo.activity_of(u), last_disbursed=u.last_disbursed,
        last_increase=u.last_increase, last_base=u.last_base,
        overdue_history_pending=u.overdue_history_pending)


# ---------------------------------------------------------------- what happened
def _timeline(h: UserHistory, config: ProductConfig, since: date) -> list[Line]:
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
            continue  # in ``_applications``
        if r.kind == "draw":
            principal = draws.get((r.day, r.loan_id), {}).get("principal")
            out.append(Line("draw_refused", {
                "loan": r.loan_id, "amount": Yuan(int(principal or 0)),
                "reason": Codes((r.reason,))}, r.day))
        else:
            out.append(Line("repay_refused", {"loan": r.loan_id or "",
                                              "reason": Codes((r.reason,))}, r.day))
    return out


def _applications(h: UserHistory, apps: list[Any], config: ProductConfig,
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
