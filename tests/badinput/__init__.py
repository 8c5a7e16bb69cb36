"""Bad input on every entry point, generated with hypothesis (issue 5, part 2).

``CASES`` counts the generated cases per entry point; the totals are printed at the
end of the run (see conftest.py).
"""

from collections import Counter

CASES: Counter[str] = Counter()
