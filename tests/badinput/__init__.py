"""Bad input on every entry point, generated with hypothesis (issue 5, part 2).

Each case breaks one field of a valid input and must be refused naming that field,
with the database unchanged. Generated cases per run (the max_examples of the modules):
task payloads through the Python API 5,200, through a real worker 280, through Flower's
task API 147; configuration 2,500; scenario files 2,100; command lines 1,000; the way
in's batches (events.record, users.upsert, their JSONL files; test_batches.py) 5,070:
16,297 in all. ``CASES`` counts them as they run; the totals are printed at the end of
the session (conftest.py).
"""

from collections import Counter

CASES: Counter[str] = Counter()
