"""Ratios of measured readings for `make bench`, safe against readings that come out as zero.

A timer or a CPU-time counter can read 0 on a tiny measurement (process CPU time ticks in
10 ms steps on Linux), and a throughput built on it can then be 0 or missing. A ratio with such a
denominator has no value: it is None (printed as null), never a ZeroDivisionError or an inf.

    ratio(beam_seconds, plain_seconds)  # 1.32, or None when plain_seconds read 0
"""

import math


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or not finite, or the denominator
    is not positive."""
    if numerator is None or denominator is None:
        return None
    numerator, denominator = float(numerator), float(denominator)
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return None
    return numerator / denominator
