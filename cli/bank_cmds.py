"""``creditcycle bank-sim``: the bank simulator (docs/bank-protocol.md) as a process."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import click
from pydantic import ValidationError

from cli.common import env_settings, fail, url_or_exit
from domain.commands import InputError

_FAULTS = (
    ("--latency-ms", int, "milliseconds before every answer"),
    ("--timeout-rate", float, "share of calls that hang --hang-seconds, not applied"),
    ("--error-rate", float, "share of calls answered 503, not applied"),
    ("--late-rate", float, "share of calls applied but answered --hang-seconds late"),
    ("--partial-rate", float, "share of debits that take only part of what they could"),
    ("--hang-seconds", float, "how long a timed-out or late call hangs"),
    ("--seed", int, "the seed of the fault draws (a run repeats)"),
)


def _fault_options(command: Any) -> Any:
    for flag, kind, text in reversed(_FAULTS):
        command = click.option(flag, type=kind, default=None, help=text)(command)
    return click.option("--faults-on", type=click.Choice(["both", "debits", "query"]),
                        default=None, help="which calls meet the faults (default both)")(command)


@click.command("bank-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8800, show_default=True,
              help="0 picks a free port (printed when it listens)")
@click.option("--db", default="bank-sim.sqlite", show_default=True,
              help="its own SQLite file (cards and the ledger of debits)")
@click.option("--secret", default=None,
              help="the bank secret (prefer CREDITCYCLE_BANK_SECRET: ps shows a command line)")
@click.option("--cards-from-database", is_flag=True,
              help="before serving, load the cards of DATABASE_URL's portfolio it does not "
                   "know yet (one bulk load; a card it knows keeps its balance)")
@_fault_options
def bank_sim(host: str, port: int, db: str, secret: str | None, cards_from_database: bool,
             **faults: Any) -> None:
    """Run the bank simulator: the workers' CREDITCYCLE_BANK_URL, signed with
    CREDITCYCLE_BANK_SECRET; cards come from the portfolio (--cards-from-database) or
    its admin endpoint PUT /admin/cards."""
    from adapters.bank_sim import run
    from adapters.bank_sim_store import Faults

    given = env_settings().bank_secret
    key = secret or (given.get_secret_value() if given is not None else "")
    if not key:
        fail(InputError("CREDITCYCLE_BANK_SECRET", "is required: the secret that signs the "
                        "bank's bodies (the workers' too); set it, or pass --secret"))
    try:
        chosen = Faults.model_validate({k: v for k, v in faults.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        fail(InputError("--" + str(err["loc"][0]).replace("_", "-"), err["msg"]))
        raise AssertionError from None
    if cards_from_database:
        loaded = seed_bank(url_or_exit(None), db, replace=False)
        click.echo(f"bank-sim: {loaded:,} new cards loaded from the database", err=True)
    args = argparse.Namespace(host=host, port=port, db=db, secret=key)
    sys.exit(run(args, chosen))


def seed_bank(database_url: str, sim_db: str, *, replace: bool = True) -> int:
    """Build the simulator's cards from the portfolio's (``sim_bank_accounts``: each user's
    card token, its balance, an invalid card), in one read and one bulk write; with
    ``replace=False`` only the cards it does not know yet."""
    from adapters.bank_sim_store import Store
    from store.debits import card_balances
    from store.engine import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            cards = [(token, balance, "card_invalid" if invalid else None)
                     for token, balance, invalid in card_balances(conn)]
    finally:
        engine.dispose()
    store = Store(sim_db)
    try:
        return store.load_cards(cards, replace=replace)
    finally:
        store.close()
