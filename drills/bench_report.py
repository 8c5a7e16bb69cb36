"""``make bench``, what a person reads: the table of a run and the plot. Used by
``drills.bench``."""

from __future__ import annotations

from pathlib import Path

from drills.bench_figures import Run


def _report(run: Run) -> Run:
    print(f"\n== {run.label}: {run.users:,} users, {run.history_days}-day history "
          f"(seeded in {run.seed_s:.1f}s)")
    print(f"{'step':<16}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    for f in run.steps:
        print(f"{f.step:<16}{f.rows:>10,}{f.seconds:>10.2f}{f.rows_per_s:>12,.0f}")
    if run.bank is not None:
        b = run.bank
        print(f"deduct chunks {b.chunk_s:.2f}s: bank calls {b.bank_s:.2f}s "
              f"({b.bank_share:.0%}, {b.calls:,} calls over HTTP), the rest {b.rest_s:.2f}s")
    if len(run.nights_s) > 1:
        print(f"nights (s): {', '.join(f'{x:.2f}' for x in run.nights_s)}; median kept")
    print(f"night wall {run.wall_s:.2f}s; floor {run.floor_s:.2f}s for {run.captured_rows:,} "
          f"changed rows; ratio {run.ratio:.2f}; peak worker RSS {run.peak_rss_mb:.0f} MB; "
          f"{run.us_per_loan:.1f} us per loan", flush=True)
    return run


def _plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    main = runs[0]
    a.barh([f.step for f in main.steps], [f.seconds for f in main.steps], color="#3b6ea5")
    a.axvline(main.floor_s, color="#c0392b", linestyle="--", label=f"floor {main.floor_s:.1f}s")
    a.set_title(f"{main.users:,} users: seconds per step (night {main.wall_s:.1f}s)")
    a.invert_yaxis()
    a.legend()
    labels = [f"{r.label}\n{r.users:,}" for r in runs]
    b.bar(labels, [r.us_per_loan for r in runs], color=["#3b6ea5", "#7fa7d6", "#e0a458"][
        :len(runs)])
    b.set_ylabel("microseconds per loan")
    b.set_title("cost per loan: size and history")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

