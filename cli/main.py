"""The ``creditcycle`` command: translate, call, print. Each group lives in its own module."""

from __future__ import annotations

import click

from cli import (
    bank_cmds,
    cycle_cmds,
    db_cmds,
    drill_cmds,
    import_bench_cmds,
    import_cmds,
    ingest_cmds,
    look_cmds,
    ops_cmds,
    outbox_cmds,
    run_cmds,
)
from cli.common import Main, env_settings


@click.group(cls=Main)
@click.version_option(package_name="creditcycle")
def main() -> None:
    """Nightly servicing jobs of a consumer micro-loan platform."""
    env_settings()  # a bad environment variable is refused before any command runs


COMMANDS = (
    db_cmds.migrate, db_cmds.seed,
    cycle_cmds.cycle,
    ops_cmds.repay, ops_cmds.limit, ops_cmds.agencies,
    run_cmds.worker, run_cmds.beat, run_cmds.flower, run_cmds.up,
    drill_cmds.demo, drill_cmds.bench_command, drill_cmds.chaos_command,
    look_cmds.scenario, look_cmds.explain, look_cmds.report,
    bank_cmds.bank_sim,
    outbox_cmds.outbox,
    ingest_cmds.events, ingest_cmds.users,
    import_cmds.import_book,
    import_bench_cmds.import_bench,
)
for _command in COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":
    main()
