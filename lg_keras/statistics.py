"""Inference statistics of the reproduction: intervals over seeds, McNemar, equivalence, rank tests.

Numbers in, numbers out; no state and no I/O. Built on `scipy.stats` (t quantiles, `binomtest`,
`chi2`, `spearmanr`, `permutation_test`); the label metrics (accuracies, confusion, ACR) stay in
`lg_keras.metrics`.

Conventions worth knowing before reading a p-value from here:

- Intervals are Student t intervals of the mean, e.g. over seeds or over seed pairs.
- The equivalence test is the two one-sided tests (TOST) procedure: the difference is declared
  within +-margin at level alpha when the (1 - 2 alpha) t interval lies inside (-margin, +margin);
  a 90% interval is the two 5% one-sided tests.
- Permutation p-values count the observed arrangement as one of the arrangements. With N random
  permutations and k of them at least as extreme as the observed statistic, p = (k + 1) / (N + 1)
  (never 0). The exact version enumerates all n! pairings, the identity (the observed pairing)
  among them, and returns k / n!: the identity is always at least as extreme as itself, so this
  is the same rule, (k' + 1) / (N' + 1) over the n! - 1 other pairings, and the smallest p is
  1 / n!. Both are what `scipy.stats.permutation_test` computes (exact when n_resamples >= n!;
  "at least as extreme" within a relative tolerance of 100 machine epsilons).
"""

import math
import warnings

import numpy as np
from scipy import stats

from lg_keras import metrics

# McNemar: below this many discordant pairs the exact binomial test is used, above it the
# chi-square approximation with continuity correction (a common rule of thumb).
MCNEMAR_EXACT_BELOW = 25

# Spearman permutation test: all n! pairings up to this many points (8! = 40,320), a seeded Monte
# Carlo sample of MONTE_CARLO_PERMUTATIONS pairings above. The Monte Carlo p has a standard error
# of at most sqrt(0.05 * 0.95 / 20000) = 0.0015 near the 5% level.
EXACT_PERMUTATIONS_MAX = 8
MONTE_CARLO_PERMUTATIONS = 20000

ALTERNATIVES = ("greater", "less", "two-sided")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")


def _finite_values(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError("values must be a non-empty 1-D sequence of finite numbers; got "
                         f"{values!r}.")
    return array


# --------------------------------------------------------------------------- intervals

def t_critical_value(confidence: float, df: int) -> float:
    """The two-sided Student t critical value t with P(|T| < t) = confidence.

    Args:
        confidence: in (0, 1), e.g. 0.95.
        df: degrees of freedom, a positive integer.

    Returns:
        t, e.g. 12.706 for (0.95, 1) and 2.262 for (0.95, 9).

    Raises:
        ValueError: on a confidence outside (0, 1) or df < 1.
    """
    _check_confidence(confidence)
    if int(df) != df or df < 1:
        raise ValueError(f"df must be a positive integer; got {df!r}.")
    return float(stats.t.ppf((1 + confidence) / 2, df))


def interval_half_width(sd: float, n: int, confidence: float = 0.95) -> float:
    """Half-width t * sd / sqrt(n) of the t interval of a mean of n values with spread sd.

    Args:
        sd: the standard deviation of one value (e.g. of ΔA over seed pairs).
        n: the number of values, at least 2.
        confidence: the interval's coverage.

    Returns:
        The half-width, in the units of sd.
    """
    return t_critical_value(confidence, n - 1) * sd / math.sqrt(n)


def mean_confidence_interval(values, confidence=0.95) -> tuple[float, float, float]:
    """Mean and Student t confidence interval, e.g. over seeds.

    Args:
        values: 1-D sequence of finite numbers, at least one.
        confidence: the interval's coverage, in (0, 1).

    Returns:
        (mean, low, high); (value, nan, nan) for a single value.

    Raises:
        ValueError: on an empty or non-finite input or a confidence outside (0, 1).
    """
    array = _finite_values(values)
    _check_confidence(confidence)
    mean = float(array.mean())
    if array.size == 1:
        return mean, math.nan, math.nan
    half_width = interval_half_width(float(array.std(ddof=1)), array.size, confidence)
    return mean, mean - half_width, mean + half_width


# --------------------------------------------------------------------------- equivalence

def equivalence_test(values, margin: float, confidence: float = 0.90) -> dict:
    """Two one-sided tests (TOST) of whether the mean of `values` lies within +-margin.

    H0: mean <= -margin or mean >= +margin; H1: -margin < mean < +margin. Each one-sided t test
    at level alpha = (1 - confidence) / 2; together they reject H0 exactly when the two-sided
    `confidence` interval lies inside (-margin, +margin). The outcome reads the same interval:

        'equivalent'  the interval lies inside (-margin, +margin)
        'outside'     it lies entirely above +margin or entirely below -margin
        'undecided'   otherwise, and always for a single value (no interval)

    Args:
        values: 1-D finite numbers, e.g. ΔA per seed pair.
        margin: the equivalence margin, > 0, in the units of values.
        confidence: coverage of the interval; 0.90 gives the usual 5% TOST.

    Returns:
        {'n', 'mean', 'low', 'high' (the interval; nan for one value), 'p_value' (the larger of
        the two one-sided p-values; nan for one value), 'outcome'}.

    Raises:
        ValueError: on empty or non-finite values, margin <= 0 or a confidence outside (0, 1).
    """
    array = _finite_values(values)
    if not margin > 0:
        raise ValueError(f"margin must be > 0; got {margin!r}.")
    mean, low, high = mean_confidence_interval(array, confidence)
    out = {"n": int(array.size), "mean": mean, "low": low, "high": high, "p_value": math.nan,
           "outcome": "undecided"}
    if array.size == 1:
        return out
    se = float(array.std(ddof=1)) / math.sqrt(array.size)
    if se == 0:
        out["p_value"] = 0.0 if abs(mean) < margin else 1.0
    else:
        df = array.size - 1
        p_above_lower = stats.t.sf((mean + margin) / se, df)   # H0: mean <= -margin
        p_below_upper = stats.t.cdf((mean - margin) / se, df)  # H0: mean >= +margin
        out["p_value"] = float(max(p_above_lower, p_below_upper))
    if -margin < low and high < margin:
        out["outcome"] = "equivalent"
    elif low > margin or high < -margin:
        out["outcome"] = "outside"
    return out


def seeds_to_pass_equivalence(margin: float, sd: float, confidence: float = 0.90,
                              max_n: int = 1000) -> int | None:
    """The fewest values whose interval is narrower than the margin (with a true mean of 0).

    The TOST can pass only when the half-width t(n - 1) * sd / sqrt(n) is below the margin; with
    the mean exactly 0 it then passes. Any sampling error of the mean uses up the rest, so this
    is a floor: see `seeds_for_equivalence_power` for the number that passes most of the time.

    Args:
        margin: the equivalence margin (> 0).
        sd: standard deviation of one value (e.g. of ΔA over seed pairs), >= 0.
        confidence: coverage of the TOST interval.
        max_n: give up above this many.

    Returns:
        The smallest n >= 2 with half-width < margin, or None if none up to max_n.
    """
    for n in range(2, max_n + 1):
        if interval_half_width(sd, n, confidence) < margin:
            return n
    return None


def seeds_for_equivalence_power(margin: float, sd: float, confidence: float = 0.90,
                                power: float = 0.80, max_n: int = 1000) -> int | None:
    """The fewest values for the TOST to pass with probability `power` when the true mean is 0.

    The usual sample-size rule for a one-sample equivalence test with true difference 0 (Chow,
    Shao and Wang, Sample Size Calculations in Clinical Research, sec. 3.2): the smallest n with
    n >= (t(1 - alpha, n - 1) + t(1 - beta / 2, n - 1))^2 sd^2 / margin^2, alpha = (1 -
    confidence) / 2, beta = 1 - power.

    Args:
        margin: the equivalence margin (> 0).
        sd: standard deviation of one value, >= 0.
        confidence: coverage of the TOST interval.
        power: the wanted probability of passing, in (0, 1).
        max_n: give up above this many.

    Returns:
        The smallest such n >= 2, or None if none up to max_n.
    """
    _check_confidence(power)
    alpha, beta = (1 - confidence) / 2, 1 - power
    for n in range(2, max_n + 1):
        quantiles = stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(1 - beta / 2, n - 1)
        if quantiles * sd / math.sqrt(n) <= margin:
            return n
    return None


# --------------------------------------------------------------------------- McNemar

def _correctness(values, name: str) -> np.ndarray:
    array = metrics.as_labels(values, name)
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans or 0/1; got values {np.unique(array)[:10]}.")
    return array.astype(bool)


def mcnemar_test(correct_a, correct_b) -> dict:
    """McNemar's paired test of two classifiers on the same test images.

    Exact two-sided binomial test (`scipy.stats.binomtest`, p = 1/2; statistic = min(b, c)) when
    b + c < MCNEMAR_EXACT_BELOW, else the chi-square test with continuity correction, statistic
    max(|b - c| - 1, 0)^2 / (b + c), 1 degree of freedom (`scipy.stats.chi2`).

    Args:
        correct_a: booleans (or 0/1), shape (n,): whether classifier A got each image right.
        correct_b: the same for classifier B, on the same images in the same order.

    Returns:
        {'b': images A got right and B wrong, 'c': A wrong and B right, 'statistic', 'p_value'
        (at most 1), 'method': 'exact' or 'chi2'}.

    Raises:
        ValueError: on different lengths or values other than 0/1.
    """
    a_right, b_right = _correctness(correct_a, "correct_a"), _correctness(correct_b, "correct_b")
    if len(a_right) != len(b_right):
        raise ValueError(f"correct_a and correct_b must have the same length; got "
                         f"{len(a_right)} and {len(b_right)}.")
    b, c = int(np.sum(a_right & ~b_right)), int(np.sum(~a_right & b_right))
    n = b + c
    if n < MCNEMAR_EXACT_BELOW:
        # No discordant pair: nothing tells the classifiers apart (binomtest needs n >= 1).
        p_value = float(stats.binomtest(b, n, 0.5).pvalue) if n else 1.0
        statistic, method = float(min(b, c)), "exact"
    else:
        statistic = max(abs(b - c) - 1, 0) ** 2 / n
        p_value, method = float(stats.chi2.sf(statistic, 1)), "chi2"
    return {"b": b, "c": c, "statistic": statistic, "p_value": min(1.0, p_value), "method": method}


# --------------------------------------------------------------------------- rank correlation

def _paired_arrays(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"x and y must be 1-D and have the same length; got shapes {x.shape} "
                         f"and {y.shape}.")
    return x, y


def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties), `scipy.stats.spearmanr`.

    Args:
        x: 1-D numbers.
        y: 1-D numbers, same length.

    Returns:
        rho in [-1, 1]; nan for fewer than 2 points or a constant side.
    """
    x, y = _paired_arrays(x, y)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(x, y).statistic)


def spearman_permutation_p(x, y, alternative: str = "greater", seed: int = 0) -> float:
    """P-value of Spearman's rho under random pairings of y with x (`scipy.stats.permutation_test`).

    Exact (all n! pairings, the observed one included, p = k / n!) up to EXACT_PERMUTATIONS_MAX
    points; above, MONTE_CARLO_PERMUTATIONS seeded random pairings with p = (k + 1) / (N + 1)
    (module docstring). The statistic permuted is the dot product of twice the centred ranks, an
    integer, so ties with the observed value are exact; it orders pairings as rho does. For
    'two-sided', scipy's convention: twice the smaller one-sided p, at most 1.

    Args:
        x: 1-D numbers.
        y: 1-D numbers, same length.
        alternative: 'greater' (rho > 0 claimed), 'less' or 'two-sided'.
        seed: seed of the Monte Carlo pairings.

    Returns:
        The p-value; nan for fewer than 3 points or an undefined rho (a constant side).

    Raises:
        ValueError: on an unknown alternative or x, y of different lengths.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"Unknown alternative {alternative!r}. Available: "
                         f"{', '.join(ALTERNATIVES)}.")
    x, y = _paired_arrays(x, y)
    if len(x) < 3 or math.isnan(spearman(x, y)):
        return math.nan
    # 2 * average rank is an integer, so these centred ranks are integers.
    rank_x = 2 * stats.rankdata(x) - (len(x) + 1)
    rank_y = 2 * stats.rankdata(y) - (len(y) + 1)

    def statistic(ranks, axis=-1):
        return np.sum(ranks * rank_x, axis=axis)

    exact = len(x) <= EXACT_PERMUTATIONS_MAX
    result = stats.permutation_test(
        (rank_y,), statistic, permutation_type="pairings", vectorized=True,
        n_resamples=math.factorial(len(x)) if exact else MONTE_CARLO_PERMUTATIONS,
        alternative=alternative, rng=np.random.default_rng(seed))
    return float(result.pvalue)
