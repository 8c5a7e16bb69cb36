"""The ``creditcycle`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from workers.scenario import ScenarioError, load_file, run_scenario

EXIT_INVALID = 2


@click.group()
@click.version_option(package_name="creditcycle")
def main() -> None:
    """Nightly servicing jobs of a consumer micro-loan platform."""


@main.group()
def scenario() -> None:
    """Run stories written as scenario files (SPEC section 11)."""


@scenario.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result JSON here (default: standard output).")
@click.option("--database-url", default=None,
              help="Run on this (empty) database instead of a temporary SQLite file.")
def scenario_run(file: Path, out: Path | None, database_url: str | None) -> None:
    """Run FILE on a fresh database and write the final state."""
    try:
        result = run_scenario(load_file(file), database_url=database_url)
    except ScenarioError as exc:
        click.echo(f"invalid scenario {file}: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@main.command()
@click.option("--examples", "examples_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("examples"), show_default=True)
def demo(examples_dir: Path) -> None:
    """Run the example scenarios and print what happened in each."""
    from workers.report import print_scenario_summary

    files = sorted(examples_dir.glob("*.json"))
    if not files:
        raise click.ClickException(f"no scenario files in {examples_dir}")
    for f in files:
        data: Any = load_file(f)
        result = run_scenario(data)
        print_scenario_summary(f.stem, data.get("description", ""), result)


if __name__ == "__main__":
    main()
