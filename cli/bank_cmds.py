"""``creditcycle bank-sim``: the bank simulator (docs/bank-protocol.md) as a process."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import click
from pydantic import ValidationError

from cli.common import env_settings, fail
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
@_fault_options
def bank_sim(host: str, port: int, db: str, secret: str | None, **faults: Any) -> None:
    """Run the bank simulator: the workers' CREDITCYCLE_BANK_URL, signed with
    CREDITCYCLE_BANK_SECRET; cards are seeded through its admin endpoints."""
    from adapters.bank_sim import Faults, run

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
    args = argparse.Namespace(host=host, port=port, db=db, secret=key)
    sys.exit(run(args, chosen))
