"""``creditcycle explain``, the present: where a borrower stands (score, limit, loans)
and what would restore them (the SPEC's rules read backwards)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain import activity as act
from domain import limits
from domain.config import ProductConfig
from domain.explain import (
    Codes,
    Days,
    Either,
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
)
from domain.model import OVERDUE, PAID_OFF, WRITTEN_OFF, Loan
from domain.overdue import daily_penalty
from store import users as user_rows
from store.history import UserHistory

SOURCES = ("wallet", "card", "fund")
COMPONENTS = ("principal", "interest", "penalty")


# ---------------------------------------------------------------- where things stand
def _due_by(loan: Loan, on: date) -> int:
    return sum(i.outstanding for i in loan.installments if i.due_date <= on)


def _status(u: Any) -> Frag:
    if u.closed:
        return Frag("st_closed")
    return Frag("st_frozen") if u.limit_frozen else Frag("st_open")


def state(h: UserHistory, on: date) -> list[Line]:
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
    if not u.card_token:
        out.append(Line("no_card"))
    elif u.card_blocked:
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
def remedies(h: UserHistory, on: date, config: ProductConfig) -> list[Line]:  # noqa: C901
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
    with consent (SPEC 2), the card only when one is linked and not while the bank reports
    it invalid."""
    usable = [f"src_{src}" for src in SOURCES if getattr(u, f"consent_{src}")
              and not (src == "card" and (u.card_blocked or not u.card_token))]
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
        closed=u.closed, activity=user_rows.activity_of(u), last_disbursed=u.last_disbursed,
        last_increase=u.last_increase, last_base=u.last_base,
        overdue_history_pending=u.overdue_history_pending)
