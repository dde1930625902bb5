"""In-process time of the network diagnosis on the fresh set (issue 18): ``diagnose`` on each mistake's
case (widths 4-5-6-3, m = 4, as check re-draws), and the part of it the neighbourhood search
(``exact_neighbours``) and the locator (``locate``) take on their own.

    .venv/bin/python benchmarks/fresh_diagnose_time.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fresh import MISTAKES  # noqa: E402
from fresh.verify import case_for, load  # noqa: E402

from crosscheck.diagnosis.diagnose import diagnose  # noqa: E402
from crosscheck.diagnosis.locate import locate  # noqa: E402
from crosscheck.diagnosis.neighbourhood import exact_neighbours  # noqa: E402
from crosscheck.errors import ConventionError  # noqa: E402


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    total, search, where = [], [], []
    for entry in MISTAKES.values():
        case = case_for(entry.options, "distinct", m=4)
        try:
            got = load(entry.target)(*case.user_inputs())
            canonical = case.convention.params_from_user(got, case.network, gradient=True)
        except (ConventionError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            continue  # crashes and container slips: named without a search
        total.append(best(lambda c=case, g=got: diagnose(c, g)))
        search.append(best(lambda c=case, g=canonical: exact_neighbours(c, g)))
        where.append(best(lambda c=case, g=canonical: locate(c, g)))
    for label, xs in (("diagnose", total), ("neighbourhood search", search), ("locate", where)):
        print(f"{label}: median {1e3 * statistics.median(xs):.1f} ms, max {1e3 * max(xs):.1f} ms "
              f"({len(xs)} mistakes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
