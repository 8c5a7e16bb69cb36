"""The drills: demo, bench, chaos (the optional creditcycle[drills] extra)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import need_drills
from workers.scenario import load_file, run_scenario


@click.command()
@click.option("--users", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=120, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 16), default=2, show_default=True)
@click.option("--scenarios", is_flag=True, help="Run the example scenario files instead.")
def demo(users: int, days: int, concurrency: int, scenarios: bool) -> None:
    """Seed a portfolio, close months of business dates through real workers, summarise."""
    if scenarios:
        _scenario_demo(Path("examples"))
        return
    need_drills("demo")
    from drills.demo import run_demo

    run_demo(users=users, days=days, concurrency=concurrency)


def _scenario_demo(examples_dir: Path) -> None:
    from reports.summary import print_scenario_summary

    files = sorted(examples_dir.glob("*.json"))
    if not files:
        raise click.ClickException(f"no scenario files in {examples_dir}")
    for f in files:
        data: Any = load_file(f)
        print_scenario_summary(f.stem, data.get("description", ""), run_scenario(data))


@click.command("bench")
@click.option("--users", type=click.IntRange(1000, 5_000_000),
              default=lambda: int(os.environ.get("USERS", "1000000")),
              show_default="$USERS or 1000000")
@click.option("--chunk-size", type=click.IntRange(100, 100_000), default=12_500,
              show_default=True)
@click.option("--repeats", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Nights closed for the 1/10 and history runs (the median is kept).")
@click.option("--no-scaling", is_flag=True, help="Only the main run (no 1/10 and history runs).")
@click.option("--size", "sizes", type=click.IntRange(1000, 5_000_000), multiple=True,
              help="One night more at this many users, for the cost per loan across sizes "
                   "(repeatable: --size 5000000).")
@click.option("--profile", is_flag=True,
              help="Per step, PostgreSQL's time (pg_stat_statements) against the workers' CPU, "
                   "the bank calls' share of deduct, HOT updates: profile-<run>.txt/.json.")
@click.option("--local-bank", is_flag=True,
              help="Close the main night once more with the bank inside the database.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench-results"), show_default=True)
def bench_command(users: int, chunk_size: int, repeats: int, no_scaling: bool,
                  sizes: tuple[int, ...], profile: bool, local_bank: bool,
                  out_dir: Path) -> None:
    """Close one business date over a synthetic portfolio in PostgreSQL; compare with the floor."""
    need_drills("bench")
    from drills.bench import bench, summary_line

    runs = bench(users, scaling=not no_scaling, out_dir=out_dir, chunk_size=chunk_size,
                 repeats=repeats, profile=profile, sizes=sizes, local_bank=local_bank)
    click.echo(f"results: {out_dir / 'bench.json'}, plot: {out_dir / 'bench.png'}")
    click.echo(summary_line(runs[0]))


@click.command("chaos")
@click.option("--users", type=click.IntRange(100, 1_000_000), default=20_000, show_default=True)
@click.option("--days", type=click.IntRange(2, 365), default=60, show_default=True)
@click.option("--kills", type=click.IntRange(0, 10_000), default=60, show_default=True)
@click.option("--postgres-down", type=click.FloatRange(1, 300), default=12, show_default=True,
              help="Seconds PostgreSQL stays stopped.")
@click.option("--chunk-size", type=click.IntRange(10, 100_000), default=1000, show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("chaos-results"), show_default=True)
def chaos_command(users: int, days: int, kills: int, postgres_down: float, chunk_size: int,
                  out_dir: Path) -> None:
    """Close DAYS dates under SIGKILLs, restarts, outages and duplicates; compare with clean."""
    need_drills("chaos")
    from drills.chaos import run_chaos

    outcome = run_chaos(users=users, days=days, kills=kills, pg_down_s=postgres_down,
                        chunk_size=chunk_size, workdir=out_dir,
                        say=lambda m: click.echo(m, err=True))
    for line in outcome.harm.log:
        click.echo(f"  {line}", err=True)
    for problem in outcome.problems[:10]:
        click.echo(f"  problem: {problem}", err=True)
    click.echo(outcome.table())
    click.echo(outcome.line())
    events = outcome.events
    if outcome.double_takes or outcome.lost or outcome.imbalances or outcome.mismatches or (
            events is not None and (events.lost or events.doubled or events.problems)):
        sys.exit(1)
