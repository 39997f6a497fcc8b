"""The differential test of lockgate.checks against GX Core, at a larger size (not part of ``make test``).

    python -m bench.checks_differential --cases 20000 --seed 1

Same generator and rules as tests/unit/test_checks_differential.py (tests/support/checks_differential.py);
``--seed`` picks another stream of examples, so runs with different seeds cover different cases and
a failing seed reproduces. Prints the tally and every disagreement; exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Run examples until ``--cases`` cases were compared (or refused, or routed to GX)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="differential cases to run (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated examples (default 1)")
    parser.add_argument("--batch", type=int, default=40, help="expectations per example and GX call (default 40)")
    args = parser.parse_args(argv)

    import duckdb
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.support.checks_differential import Tally, compare_example, examples, gx_runner

    tally = Tally()
    con = duckdb.connect()
    gx_runner()

    @seed(args.seed)
    @settings(
        max_examples=max(1, -(-args.cases // args.batch)),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(examples(batch=args.batch))
    def run(example: tuple[list[tuple[Any, ...]], list[tuple[str, dict[str, Any]]]]) -> None:
        rows, cases = example
        compare_example(con, rows, cases, tally)

    started = time.monotonic()
    run()
    elapsed = time.monotonic() - started
    print(
        f"{tally.cases} cases in {elapsed:.0f} s (seed {args.seed}): {tally.compared} compared, "
        f"{tally.refused_by_both} refused by both, {tally.vacuous} refused (GX had no value to fail on), "
        f"{tally.refused_by_lockgate_only} refused by Lockgate only, {tally.routed_to_gx} routed to GX "
        f"({tally.row_level} also compared row by row as quarantine checks), "
        f"{len(tally.failures)} disagreements"
    )
    for failure in tally.failures:
        print("-", failure)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
