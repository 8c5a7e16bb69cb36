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
    if run.local_bank_s is not None:
        print(f"the same night with the bank inside the database (before issue 13): "
              f"{run.local_bank_s:.2f}s")
    if run.profile is not None:
        print(f"profile: {run.profile} (and .json) in the results directory")
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

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.8))
    main = runs[0]
    names = [f.step for f in main.steps]
    a.barh(names, [f.seconds for f in main.steps], color="#3b6ea5")
    if main.bank is not None and "deduct" in names:
        deduct = main.steps[names.index("deduct")].seconds
        a.barh(["deduct"], [deduct * main.bank.bank_share], color="#e0a458",
               label=f"bank calls over HTTP ({main.bank.bank_share:.0%} of deduct)")
    a.axvline(main.floor_s, color="#c0392b", linestyle="--", label=f"floor {main.floor_s:.1f}s")
    title = f"{main.users:,} users: seconds per step (night {main.wall_s:.1f}s, HTTP bank"
    if main.local_bank_s is not None:
        title += f"; {main.local_bank_s:.1f}s with the bank in the database"
    a.set_title(title + ")", fontsize=9)
    a.invert_yaxis()
    a.legend(fontsize=8)
    sized = sorted((r for r in runs if r.history_days == 0), key=lambda r: r.users)
    b.plot([r.users for r in sized], [r.us_per_loan for r in sized], "o-", color="#3b6ea5",
           label="new loans, by portfolio size")
    for r in runs:
        b.annotate(f"{r.us_per_loan:.1f}", (r.users, r.us_per_loan), fontsize=8,
                   textcoords="offset points", xytext=(4, 4))
    old = [r for r in runs if r.history_days]
    if old:
        b.plot([r.users for r in old], [r.us_per_loan for r in old], "s", color="#e0a458",
               label="loans 700 days old")
    b.set_xscale("log")
    b.set_ylim(bottom=0)
    b.set_xlabel("users (one loan each)")
    b.set_ylabel("microseconds per loan")
    b.set_title("cost per loan: size and history", fontsize=9)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
