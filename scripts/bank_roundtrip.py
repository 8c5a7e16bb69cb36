"""How fast the bank over HTTP is on this machine: a simulator process, one client.

    PYTHONPATH=. python scripts/bank_roundtrip.py [--batches 10] [--size 1000]

Prints the round-trip time of an empty-ish call (one debit) and, for batches of
``--size`` requests, the time per batch and debits per second, then the same for
queries of those keys. Not a test: a figure for the notes.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from adapters.bank_http import HttpBank
from adapters.bank_sim import SimAdmin, SimProcess
from domain.bank import DEBITED, DebitRequest

SECRET = secrets.token_hex(16)  # a throwaway simulator, started and stopped here


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--size", type=int, default=1000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimProcess(str(Path(tmp) / "bank.sqlite"), SECRET).start()
        try:
            cards = {f"tok-u{n:06d}": {"balance": 10**9} for n in range(args.size)}
            SimAdmin(sim.url, SECRET).set_cards(cards)
            bank = HttpBank(sim.url, SECRET)
            d = date(2026, 2, 15)
            singles = []
            for n in range(50):
                t = time.perf_counter()
                one = "tok-u000000"
                bank.debit([DebitRequest(f"rt{n}", "u000000", 1, d, card_token=one)])
                singles.append(time.perf_counter() - t)
            batch_t, query_t = [], []
            for b in range(args.batches):
                reqs = [DebitRequest(f"b{b}:{c}", c[4:], 100, d, card_token=c) for c in cards]
                t = time.perf_counter()
                got = bank.debit(reqs)
                batch_t.append(time.perf_counter() - t)
                if not all(r.status == DEBITED for r in got):
                    raise AssertionError("a round-trip debit was not debited")
                t = time.perf_counter()
                bank.query([r.key for r in reqs])
                query_t.append(time.perf_counter() - t)
            med = statistics.median
            print(f"one debit round trip: median {med(singles) * 1000:.1f} ms "
                  f"(p90 {sorted(singles)[44] * 1000:.1f} ms, 50 calls)")
            print(f"batch of {args.size} debits: median {med(batch_t) * 1000:.0f} ms "
                  f"= {args.size / med(batch_t):,.0f} debits/s ({args.batches} batches)")
            print(f"query of {args.size} keys: median {med(query_t) * 1000:.0f} ms "
                  f"= {args.size / med(query_t):,.0f} keys/s")
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
