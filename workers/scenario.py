"""Scenario files (SPEC section 11): a whole story through the real cycle code.

A scenario is validated completely before anything is written; a bad one
raises ``ScenarioError`` naming the field (the CLI exits 2 and writes no
result). A good one runs on a fresh database, every date closed in order.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain import lending
from domain.commands import (
    NUL_MESSAGE,
    Draw,
    Event,
    Id,
    InputError,
    Text,
    first_error,
    parse_event,
)
from domain.config import ConfigError, ProductConfig
from domain.deduction import synthetic_card_token
from domain.eligibility import identity_expired
from domain.model import User
from domain.money import date_range
from store import agencies as agency_rows
from store import applications as application_rows
from store import cards, ledger_checks, results
from store import journals as journal_rows
from store import loans as loan_rows
from store import users as user_rows
from store.cycle import mark_closed_before
from store.cycle_reads import last_closed_day
from store.engine import Engine, make_engine, migrate, require_empty
from workers.bank import SimulatedBank
from workers.ingest import apply_events, expire_applications
from workers.local import Progress, close_date


class ScenarioError(InputError):
    """An invalid scenario; ``field`` is the path of the offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Consent(_Strict):
    wallet: bool = True
    card: bool = True
    fund: bool = True


NonNeg = Annotated[int, Field(ge=0, le=10**13)]


class UserSpec(_Strict):
    id: Id
    name: Annotated[Text, Field(max_length=200)] = ""  # the users.name column
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{0,20}$")] = ""
    birth_date: date | None = None
    identity_verified: bool = True
    identity_expires: date | None = None
    score: Annotated[int, Field(ge=0, le=2000)] = 600
    limit: NonNeg = 0
    wallet: NonNeg = 0
    card: NonNeg = 0
    fund: NonNeg = 0
    consent: Consent = Field(default_factory=Consent)


class LoanSpec(_Strict):
    id: Id
    user: Id
    principal: Annotated[int, Field(gt=0, le=10**12)]
    annual_rate_bp: Annotated[int, Field(ge=0, le=100_000)]
    term_months: Annotated[int, Field(ge=1, le=360)]
    disbursed: date


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> RunSpec:
        if self.end < self.start:
            raise ValueError("'to' is before 'from'")
        if (self.end - self.start).days > 3660:
            raise ValueError("a run of more than ten years is refused")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    config: ProductConfig
    agencies: list[str]
    users: list[UserSpec]
    loans: list[LoanSpec]
    events: list[Event]
    run: RunSpec


def _dates(value: Any) -> Any:
    """JSON has no dates: ISO strings become dates before strict validation."""
    if isinstance(value, dict):
        return {k: (_to_date(v) if k in {"birth_date", "disbursed", "from", "to", "date",
                                                "identity_expires"}
                    else _dates(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


def _to_date(v: Any) -> Any:
    if isinstance(v, str) and len(v) == 10:
        try:
            return date.fromisoformat(v)
        except ValueError:
            return v
    return v


def _model(cls: type[BaseModel], data: Any, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ScenarioError(prefix, "must be an object")
    try:
        return cls.model_validate(_dates(dict(data)))
    except ValidationError as exc:
        err = first_error(exc, prefix)
        raise ScenarioError(err.field, err.message) from None


TOP_LEVEL = {"config", "agencies", "users", "loans", "events", "run", "description"}


# C901: checks a whole scenario top to bottom, so the first problem found is the one named.
def parse(data: Any) -> Scenario:  # noqa: C901
    """Validate a whole scenario; the first problem raises ScenarioError naming its field."""
    if not isinstance(data, Mapping):
        raise ScenarioError("scenario", "must be an object")
    for key in data:
        if key not in TOP_LEVEL:
            raise ScenarioError(str(key), "unknown field")
    try:
        config = ProductConfig.from_mapping(data.get("config"), prefix="config.")
    except ConfigError as exc:
        raise ScenarioError(exc.field, exc.message) from None
    for name in ("users", "run"):
        if name not in data:
            raise ScenarioError(name, "is required")
    lists = {}
    for name in ("agencies", "users", "loans", "events"):
        value = data.get(name, [])
        if not isinstance(value, list):
            raise ScenarioError(name, "must be a list")
        lists[name] = value
    agencies = []
    for i, a in enumerate(lists["agencies"]):
        if not isinstance(a, str) or not a.strip() or len(a) > 100:
            raise ScenarioError(f"agencies[{i}]", "must be a non-empty name")
        if "\x00" in a:
            raise ScenarioError(f"agencies[{i}]", NUL_MESSAGE)
        agencies.append(a)
    if len(set(agencies)) != len(agencies):
        raise ScenarioError("agencies", "names must be unique")
    users = [_model(UserSpec, u, f"users[{i}]") for i, u in enumerate(lists["users"])]
    run = _model(RunSpec, data["run"], "run")
    ids: set[str] = set()
    for i, u in enumerate(users):
        if u.id in ids:
            raise ScenarioError(f"users[{i}].id", f"duplicate user id {u.id!r}")
        ids.add(u.id)
    loans = [_model(LoanSpec, x, f"loans[{i}]") for i, x in enumerate(lists["loans"])]
    loan_ids: set[str] = set()
    for i, x in enumerate(loans):
        if x.id in loan_ids:
            raise ScenarioError(f"loans[{i}].id", f"duplicate loan id {x.id!r}")
        if x.user not in ids:
            raise ScenarioError(f"loans[{i}].user", f"unknown user {x.user!r}")
        if x.disbursed >= run.start:
            raise ScenarioError(f"loans[{i}].disbursed",
                                "must be before run.from (use a draw event for new loans)")
        loan_ids.add(x.id)
    events = []
    for i, raw in enumerate(lists["events"]):
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"events[{i}]", "must be an object")
        try:
            ev = parse_event(_dates(dict(raw)), f"events[{i}]")
        except InputError as exc:
            raise ScenarioError(exc.field, exc.message) from None
        if ev.user not in ids:
            raise ScenarioError(f"events[{i}].user", f"unknown user {ev.user!r}")
        if not run.start <= ev.date <= run.end:
            raise ScenarioError(f"events[{i}].date", "is outside run.from..run.to")
        if isinstance(ev, Draw):
            if ev.loan in loan_ids:
                raise ScenarioError(f"events[{i}].loan", f"loan id {ev.loan!r} already exists")
            loan_ids.add(ev.loan)
        events.append(ev)
    if any(e.kind == "collection_hold" for e in events) or loans or events:
        pass
    return Scenario(config=config, agencies=agencies, users=users, loans=loans, events=events,
                    run=run)


def load_file(path: str | Path) -> Any:
    """A scenario file's data (YAML or JSON); ScenarioError names the file's problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("file", f"cannot read {p}: {exc.strerror}") from None
    try:
        if p.suffix.lower() in {".yaml", ".yml"}:
            return yaml.safe_load(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError("file", f"not valid JSON/YAML: {exc}") from None


# ---------------------------------------------------------------- running
def seed(engine: Engine, sc: Scenario) -> None:
    """Insert a scenario's users, loans, opening balances and agencies."""
    start = sc.run.start
    before = start - timedelta(days=1)
    last_disbursed: dict[str, date] = {}
    loans = []
    for spec in sc.loans:
        loan = lending.new_loan(spec.id, spec.user, spec.principal, spec.annual_rate_bp,
                                spec.term_months, spec.disbursed)
        loans.append(loan)
        seen = last_disbursed.get(spec.user, spec.disbursed)
        last_disbursed[spec.user] = max(spec.disbursed, seen)
    journals = [lending.bring_in(x, start) for x in loans]
    for u in sc.users:
        for account, amount in (("wallet", u.wallet), ("fund", u.fund)):
            if amount:
                acc = f"{account}:{u.id}"
                journals.append(lending.opening_balance(u.id, acc, amount, start))
    with engine.begin() as conn:
        user_rows.insert_new(conn, [{
            "id": u.id, "name": u.name, "phone": u.phone, "birth_date": u.birth_date,
            "identity_verified": u.identity_verified, "identity_expires": u.identity_expires,
            "score": u.score, "credit_limit": u.limit, "wallet": u.wallet, "fund": u.fund,
            "consent_wallet": u.consent.wallet, "consent_card": u.consent.card,
            "consent_fund": u.consent.fund, "card_token": synthetic_card_token(u.id),
            "last_recalc": before,
            "last_base": sc.config.base_limit(u.score),
            "next_recalc": before + timedelta(days=sc.config.limit_recalc_interval_days),
            "last_disbursed": last_disbursed.get(u.id)} for u in sc.users])
        cards.open_accounts(conn, {u.id: u.card for u in sc.users})
        agency_rows.insert_new(conn, sc.agencies)
        loan_rows.insert_loans(conn, loans)
        journal_rows.insert_journals(conn, journals)
    mark_closed_before(engine, start)


def run_scenario(data: Any, database_url: str | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Validate and run a scenario; returns the result JSON (SPEC section 11)."""
    sc = parse(data)
    if database_url is not None:
        return _run(sc, database_url, progress)
    with tempfile.TemporaryDirectory(prefix="creditcycle-scenario-") as tmp:
        return _run(sc, f"sqlite:///{tmp}/scenario.db", progress)


def _run(sc: Scenario, url: str, progress: Progress | None) -> dict[str, Any]:
    require_empty(url)
    migrate(url)
    engine = make_engine(url)
    try:
        seed(engine, sc)
        bank = SimulatedBank(engine)
        by_day: dict[date, list[tuple[str, Event]]] = {}
        for i, e in enumerate(sc.events):
            by_day.setdefault(e.date, []).append((f"scenario:{i}", e))
        for day in date_range(sc.run.start, sc.run.end):
            with engine.begin() as conn:
                apply_events(conn, by_day.get(day, []), sc.config)
            close_date(engine, day, sc.config, bank, progress=progress)
            with engine.begin() as conn:  # the hourly expiry, run at the end of the day
                expire_applications(conn, datetime.combine(
                    day + timedelta(days=1), time(0, 0), tzinfo=ZoneInfo(sc.config.time_zone)),
                    sc.config)
        return result(engine, sc.config.time_zone)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- result
def result(engine: Engine, time_zone: str = "Asia/Shanghai") -> dict[str, Any]:
    """What a scenario ended with: users, loans, events and journals, as JSON-ready data."""
    zone = ZoneInfo(time_zone)
    with engine.connect() as conn:
        state = results.final_state(conn)
        last = last_closed_day(conn)
        decisions = application_rows.every_decision(conn)
        balanced = not ledger_checks.check_all(conn)
    bank = state.cards
    people = {}
    for r in state.users:
        expired = last is not None and identity_expired(r.identity_expires, last)
        people[r.id] = {"score": r.score, "limit": r.credit_limit,
                        "limit_frozen": r.limit_frozen or expired, "closed": r.closed,
                        "wallet": r.wallet, "card": bank.get(r.id, 0), "fund": r.fund}
    loans = {}
    for x in state.loans:
        loans[x.id] = {"status": x.status, "dpd": x.dpd, "bucket": x.bucket,
                       "outstanding": x.outstanding(), "paid": x.paid(),
                       "collection_stage": x.collection_stage, "agency": x.agency}
    out: dict[str, Any] = {"users": people, "loans": loans}
    out["score_events"] = [
        {"date": r.day.isoformat(), "user": r.user_id, "loan": r.loan_id,
         "reason": r.reason, "old": r.old, "new": r.new}
        for r in state.score_events]
    out["limit_events"] = [
        {"date": r.day.isoformat(), "user": r.user_id, "old": r.old, "new": r.new,
         "reason": r.reasons.split(",")[0], "reasons": r.reasons.split(",")}
        for r in state.limit_events]
    out["notifications"] = [
        {"date": r.day.isoformat(), "kind": r.kind, "user": r.user_id, "loan": r.loan_id,
         "send_from": r.send_from.astimezone(zone).isoformat(),
         "send_until": r.send_until.astimezone(zone).isoformat()}
        for r in state.notifications]
    out["bureau_records"] = [
        {"date": r.day.isoformat(), "kind": r.kind, "user": r.user_id, "loan": r.loan_id,
         "status": r.status, "dpd": r.dpd}
        for r in state.bureau_records]
    out["handoffs"] = [
        {"date": r.day.isoformat(), "kind": "agency_handoff", "loan": r.loan_id,
         "agency": r.agency, "masked_name": r.masked_name, "masked_phone": r.masked_phone,
         "contact_token": r.contact_token, "amount_owed": r.amount_owed, "dpd": r.dpd}
        for r in state.handoffs]
    out["journals"] = [
        {"date": r.day.isoformat(), "kind": r.kind, "key": r.key, "user": r.user_id,
         "loan": r.loan_id, "amount": r.amount}
        for r in state.journals]
    out["refused"] = [
        {"date": r.day.isoformat(), "kind": r.kind, "user": r.user_id, "loan": r.loan_id,
         "reason": r.reason}
        for r in state.refusals]
    out["applications"] = {r.id: {"status": r.status, "reason": r.reason} for r in decisions}
    out["ledger_balanced"] = balanced
    return out


_ = User
