"""Hypothesis settings and value strategies shared by the fuzz tests of the reliability suite."""

import math

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# No example database in the repository, no deadline on a loaded 2-core machine; the example
# counts are set per test so the fast suite stays within its budget.
FUZZ = settings(deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def fuzz(max_examples: int) -> settings:
    """The suite's settings with `max_examples` generated cases."""
    return settings(FUZZ, max_examples=max_examples)

# Numbers at and around every bound the configs use, and the awkward floats.
EDGE_NUMBERS = (0, 1, -1, 2, 10, 32, 64, 1024, 1025, 10_000, 10_001, 65536, 100_000, 2**31,
                2**31 - 1, 2**63, -(2**63), 0.0, -0.0, 0.5, 0.999, 1.0, 1.5, 1e-9, 1e300,
                math.inf, -math.inf, math.nan)

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EDGE_NUMBERS), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))

json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def names_any(message: str, names) -> bool:
    """Whether `message` names one of `names` (as written or as Python's repr escapes it)."""
    return any(repr(n) in message or (n and (n in message or repr(n)[1:-1] in message))
               for n in map(str, names))
