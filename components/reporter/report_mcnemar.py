"""McNemar's test in the report: the secondary evidence beside every paired difference.

It compares two trained networks on the same test images, one test per seed both settings have,
from the runs' per-image correctness strings (metrics.json 'test_correct'). It says nothing about
how much another seed would move the networks, so verdicts never rest on it (report_stats).
"""

import numpy as np

from components.reporter import report_stats
from lg_keras import statistics


def by_seed(correct_a: dict, correct_b: dict) -> list[dict]:
    """McNemar tests of two settings on the same test images, one per shared seed.

    Args:
        correct_a: {seed: per-test-image 0/1 correctness as a '0101' string or a sequence}.
        correct_b: the same for the other setting.

    Returns:
        [{'seed', 'b', 'c', 'statistic', 'p_value', 'method'}, ...] for the seeds both have with
        the same number of test images; b counts images A got right and B wrong.
    """
    tests = []
    for seed in sorted(set(correct_a) & set(correct_b)):
        a, b = _correct_array(correct_a[seed]), _correct_array(correct_b[seed])
        if a is None or b is None or len(a) != len(b) or not len(a):
            continue
        tests.append({"seed": seed, **statistics.mcnemar_test(a, b)})
    return tests


def _correct_array(value) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        return np.frombuffer(value.encode(), np.uint8) - ord("0")
    return np.asarray(value, np.int64)


def format_tests(tests: list[dict]) -> str:
    """'p = 0.003 (b 40, c 18)' for one seed, 'p = 0.003, 0.21 (seeds 0, 1)' for several."""
    if not tests:
        return "—"
    if len(tests) == 1:
        t = tests[0]
        return (f"p = {report_stats.format_p(t['p_value'])} (b {t['b']}, c {t['c']}; "
                f"seed {t['seed']})")
    return (f"p = {', '.join(report_stats.format_p(t['p_value']) for t in tests)} "
            f"(seeds {', '.join(str(t['seed']) for t in tests)})")
