"""Readable summaries for people: what a night, or a story, did."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from domain.money import yuan

console = Console()


def print_scenario_summary(name: str, description: str, result: dict[str, Any]) -> None:
    """Print a scenario's loans, collections and users as tables."""
    table = Table(title=f"{name}", title_justify="left", show_lines=False)
    for col in ("loan", "status", "dpd", "bucket", "owed (yuan)", "paid (yuan)", "stage",
                "agency"):
        table.add_column(col)
    for lid, x in result["loans"].items():
        table.add_row(lid, x["status"], str(x["dpd"]), x["bucket"],
                      yuan(sum(x["outstanding"].values())), yuan(sum(x["paid"].values())),
                      x["collection_stage"], x["agency"] or "")
    if description:
        console.print(f"[dim]{description}[/dim]")
    console.print(table)
    collected: Counter[str] = Counter()
    for j in result["journals"]:
        if j["kind"].startswith("deduct_"):
            collected[j["kind"].removeprefix("deduct_")] += j["amount"]
    users = ", ".join(f"{u}: score {v['score']}, limit {yuan(v['limit'])}"
                      + (" (frozen)" if v["limit_frozen"] else "")
                      + (" (closed)" if v["closed"] else "")
                      for u, v in result["users"].items())
    console.print(f"  users: {users}")
    if collected:
        console.print("  collected: " + ", ".join(f"{k} {yuan(v)}" for k, v in collected.items()))
    reasons = Counter(e["reason"] for e in result["score_events"])
    if reasons:
        console.print("  score events: " + ", ".join(f"{k} x{v}" for k, v in reasons.items()))
    for h in result["handoffs"]:
        console.print(f"  handoff {h['date']}: {h['loan']} to {h['agency']} at DPD {h['dpd']} "
                      f"({h['masked_name']}, {h['masked_phone']}, owed {yuan(h['amount_owed'])})")
    for r in result["refused"]:
        console.print(f"  refused {r['kind']} {r['date']}: {r['reason']}")
    console.print(f"  ledger balanced: {result['ledger_balanced']}\n")
