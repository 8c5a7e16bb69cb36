"""Plain-words explanations of a borrower's history, in English and Chinese.

The facts come from outside (``reports.explain`` reads them); this module
only words them. A fact is a ``Line``: a kind, a date (or a range) and typed
values. Each kind has one template per language; values render by type
(amounts in yuan, dates in the language's style, reason codes as phrases),
and a ``Frag`` is a nested template, so optional clauses stay translatable.
The words themselves, in both languages, are in ``domain.explain_templates`` (every
template) and ``domain.explain_texts`` (names and reason codes). Also here: the pure
arithmetic of remedies (when a limit multiplier lapses, which score band comes next),
since it is the SPEC's rules read backwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from domain import activity as act
from domain.config import ProductConfig
from domain.explain_templates import TEXT as TEXT  # noqa: PLC0414 (re-exported, for mypy)
from domain.explain_texts import CODES as CODES  # noqa: PLC0414 (re-exported, for mypy)
from domain.explain_texts import NAMES, OR, SEPARATORS
from domain.money import round_half_up, yuan

LANGS = ("en", "zh")


@dataclass(frozen=True, slots=True)
class Yuan:
    """An amount of money in fen, shown in yuan."""

    fen: int


@dataclass(frozen=True, slots=True)
class Codes:
    """Reason codes (limit, refusal), shown as a list of phrases."""

    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Parts:
    """Amounts by named part (a source of money, a component of debt)."""

    parts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Ids:
    """Loan ids, shown as a list."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Either:
    """Ids joined as alternatives: "the wallet or the money-market fund", "零钱或货币基金"."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Days:
    """A number of days: "1 day", "6 days", "6天"."""

    n: int


@dataclass(frozen=True, slots=True)
class Loans:
    """Loan ids with their noun: "loan L1", "loans L1 and L2", "借款L1、L2"."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Frag:
    """A nested template: its own kind and values."""

    kind: str
    values: Mapping[str, Value] = field(default_factory=dict)


Value = str | int | date | Yuan | Days | Codes | Parts | Ids | Either | Loans | Frag | None


@dataclass(frozen=True, slots=True)
class Line:
    kind: str
    values: Mapping[str, Value] = field(default_factory=dict)
    day: date | None = None
    until: date | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    user_id: str
    as_of: date | None
    state: tuple[Line, ...]
    remedies: tuple[Line, ...]
    timeline: tuple[Line, ...]


# ---------------------------------------------------------------- remedies, by the rules
@dataclass(frozen=True, slots=True)
class Lapse:
    """A limit multiplier in force and the date it stops applying (None: not by itself)."""

    code: str
    count: int
    since: date | None
    until: date | None


def lapses(activity: act.Activity, on: date) -> list[Lapse]:
    """When each activity-driven multiplier in force on ``on`` lapses, if nothing new comes.

    A window rule with threshold k over w days lapses when the k-th most
    recent signal leaves the window: w days after it.
    """
    out: list[Lapse] = []
    if act.capacity_declined(activity, on):
        cap = activity.capacity_decline_on
        if cap is None:  # capacity_declined means it has a date
            raise AssertionError("capacity declined without a date")
        out.append(Lapse("CAPACITY_DECLINE", 1, cap,
                         cap + timedelta(days=act.CAPACITY_WINDOW)))
    inquiries = sorted(d for d in activity.inquiries
                       if d > on - timedelta(days=act.INQUIRY_WINDOW))
    if len(inquiries) >= 3:
        out.append(Lapse("MULTI_BORROWING", len(inquiries), inquiries[0],
                         inquiries[-3] + timedelta(days=act.INQUIRY_WINDOW)))
    if activity.flagged_contacts >= 3:
        out.append(Lapse("FLAGGED_CONTACTS", activity.flagged_contacts, None, None))
    churn = sorted(d for d in activity.churn if d > on - timedelta(days=act.CHURN_WINDOW))
    if len(churn) >= 2:
        out.append(Lapse("IDENTITY_CHURN", len(churn), churn[0],
                         churn[-2] + timedelta(days=act.CHURN_WINDOW)))
    return out


def next_band(score: int, config: ProductConfig) -> tuple[int, int] | None:
    """The lowest score of the next higher base-limit band, and that band's base."""
    for low, base in config.limit_base_table:
        if low > score and base > config.base_limit(score):
            return low, base
    return None


def multiplier_text(value: Fraction | Decimal | int) -> str:
    """A multiplier such as 7/10 or 0.5 as a short decimal (0.7, 0.5, 0.52), for people."""
    f = value if isinstance(value, Fraction) else Fraction(value)
    whole, cents = divmod(round_half_up(f * 100), 100)
    return f"{whole}.{cents:02d}".rstrip("0").rstrip(".")


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return lang


def fmt_date(day: date, lang: str) -> str:
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def fmt_yuan(fen: int, lang: str) -> str:
    return f"{yuan(fen)}元" if lang == "zh" else f"{yuan(fen)} yuan"


def _join(items: Sequence[str], lang: str, last: str | None = None) -> str:
    _, comma, and_ = SEPARATORS[lang]
    last = and_ if last is None else last
    if len(items) <= 1:
        return "".join(items)
    return comma.join(items[:-1]) + last + items[-1]


def fmt_value(value: Value, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Yuan):
        return fmt_yuan(value.fen, lang)
    if isinstance(value, date):
        return fmt_date(value, lang)
    if isinstance(value, Codes):
        semi = SEPARATORS[lang][0]
        return semi.join(CODES[lang].get(c, c) for c in value.codes)
    if isinstance(value, Parts):
        names = NAMES[lang]
        items = [names.get(k, k + " {amount}").format(amount=fmt_yuan(v, lang))
                 for k, v in value.parts]
        return SEPARATORS[lang][1].join(items)
    if isinstance(value, Ids | Either):
        names = NAMES[lang]
        words = [names.get(i, i) if i.startswith("src_") else i for i in value.ids]
        return _join(words, lang, OR[lang] if isinstance(value, Either) else None)
    if isinstance(value, Days):
        if lang == "zh":
            return f"{value.n}天"
        return "1 day" if value.n == 1 else f"{value.n} days"
    if isinstance(value, Loans):
        ids = _join(list(value.ids), lang)
        if lang == "zh":
            return f"借款{ids}"
        return f"loan {ids}" if len(value.ids) == 1 else f"loans {ids}"
    if isinstance(value, Frag):
        return phrase(value.kind, value.values, lang)
    return str(value)


def phrase(kind: str, values: Mapping[str, Value], lang: str = "en") -> str:
    """One template filled in; a missing template or value is a programming error."""
    template = TEXT[_check_lang(lang)][kind]
    return template.format(**{k: fmt_value(v, lang) for k, v in values.items()})


def _when(line: Line) -> str:
    if line.day is None:
        return ""
    if line.until is not None and line.until != line.day:
        return f"{line.day.isoformat()} … {line.until.isoformat()}"
    return line.day.isoformat()


def render(ex: Explanation, lang: str = "en", since: date | None = None) -> str:
    """The explanation as text a support agent can paste: state, remedies, timeline."""
    _check_lang(lang)
    out: list[str] = []
    if ex.as_of is None:
        out.append(phrase("title_no_close", {"user": ex.user_id}, lang))
    else:
        out.append(phrase("title", {"user": ex.user_id, "as_of": ex.as_of}, lang))
    out += ["", phrase("h_state", {}, lang)]
    out += [f"- {phrase(x.kind, x.values, lang)}" for x in ex.state]
    out += ["", phrase("h_remedies", {}, lang)]
    if ex.remedies:
        out += [f"- {phrase(x.kind, x.values, lang)}" for x in ex.remedies]
    else:
        out.append(f"- {phrase('no_remedy', {}, lang)}")
    heading = phrase("h_timeline_since", {"since": since}, lang) if since else \
        phrase("h_timeline", {}, lang)
    out += ["", heading]
    lines = [x for x in ex.timeline
             if since is None or (x.until or x.day or since) >= since]
    if not lines:
        out.append(phrase("nothing", {}, lang))
    width = max((len(_when(x)) for x in lines), default=10)
    out += [f"{_when(x).ljust(width)}  {phrase(x.kind, x.values, lang)}" for x in lines]
    return "\n".join(out) + "\n"


__all__ = [
    "LANGS", "Codes", "Days", "Either", "Explanation", "Frag", "Ids", "Lapse", "Line", "Loans",
    "Parts", "Value", "Yuan",
    "fmt_date", "fmt_value", "fmt_yuan", "lapses", "multiplier_text", "next_band", "phrase",
    "render",
]
