"""Tests for lg_keras.statistics: printed tables, hand-worked cases and deliberately naive loops."""

import itertools
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from lg_keras import statistics

# Two-sided Student t critical values (any printed t table): 95% and 90% (= one-sided 5%).
T_TABLE_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 30: 2.042}
T_TABLE_90 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015}


# ---------------------------------------------------------------- naive references


def naive_mcnemar(correct_a, correct_b):
    b = c = 0
    for a_right, b_right in zip(correct_a, correct_b):
        b += int(a_right and not b_right)
        c += int(b_right and not a_right)
    n = b + c
    if n < 25:
        # Two-sided exact test as "sum of the outcomes no more likely than the observed one".
        pmf = [math.comb(n, i) / 2**n for i in range(n + 1)]
        p_value = sum(p for p in pmf if p <= pmf[b] * (1 + 1e-12))
        return b, c, float(min(b, c)), min(1.0, p_value)
    statistic = max(abs(b - c) - 1, 0) ** 2 / n
    return b, c, statistic, math.erfc(math.sqrt(statistic / 2))


def naive_mean_ci(values, table):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = table[n - 1] * std / math.sqrt(n)
    return mean, mean - half, mean + half


def naive_equivalence_outcome(values, margin):
    _, low, high = naive_mean_ci(values, T_TABLE_90)
    if -margin < low and high < margin:
        return "equivalent"
    if low > margin or high < -margin:
        return "outside"
    return "undecided"


def naive_average_ranks(values):
    ranks = []
    for v in values:
        below = sum(1 for w in values if w < v)
        equal = sum(1 for w in values if w == v)
        ranks.append(below + (equal + 1) / 2)
    return ranks


def naive_spearman(x, y):
    rx, ry = naive_average_ranks(list(x)), naive_average_ranks(list(y))
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var_x, var_y = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(var_x * var_y)


def brute_force_p(x, y, alternative):
    """k / n! over every pairing, the observed one included."""
    observed = naive_spearman(x, y)
    rhos = [naive_spearman(x, [y[i] for i in order])
            for order in itertools.permutations(range(len(y)))]
    if alternative == "greater":
        return np.mean([r >= observed - 1e-12 for r in rhos])
    return np.mean([r <= observed + 1e-12 for r in rhos])


# ---------------------------------------------------------------- t quantiles and intervals


@pytest.mark.parametrize("df", sorted(T_TABLE_95))
def test_t_critical_value_matches_table(df):
    np.testing.assert_allclose(statistics.t_critical_value(0.95, df), T_TABLE_95[df], atol=1e-3)
    if df in T_TABLE_90:
        np.testing.assert_allclose(statistics.t_critical_value(0.90, df), T_TABLE_90[df],
                                   atol=1e-3)


def test_t_critical_value_other_levels_large_df_and_errors():
    # df=1 is the Cauchy distribution, P(|T| < t) = 2 atan(t) / pi, so t = tan(confidence * pi / 2).
    np.testing.assert_allclose(statistics.t_critical_value(0.99, 1), math.tan(0.495 * math.pi))
    # df=2 has a closed form: t = 2 (confidence) / sqrt(2 (1 - confidence^2)).
    np.testing.assert_allclose(statistics.t_critical_value(0.9, 2), 1.8 / math.sqrt(2 * 0.19))
    np.testing.assert_allclose(statistics.t_critical_value(0.99, 10), 3.169, atol=1e-3)
    np.testing.assert_allclose(statistics.t_critical_value(0.95, 120), 1.980, atol=1e-3)
    np.testing.assert_allclose(statistics.t_critical_value(0.95, 10**6), 1.959966, atol=1e-6)
    with pytest.raises(ValueError, match="confidence must be in"):
        statistics.t_critical_value(95, 3)
    with pytest.raises(ValueError, match="df must be a positive integer; got 0"):
        statistics.t_critical_value(0.95, 0)


def test_mean_confidence_interval_matches_naive():
    # Mean 3, sample variance 2.5, t(0.95, df=4) = 2.776 (the table's 3 decimals set the tolerance).
    half = 2.776 * math.sqrt(2.5 / 5)
    np.testing.assert_allclose(statistics.mean_confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0]),
                               (3.0, 3.0 - half, 3.0 + half), atol=1e-3)
    rng = np.random.default_rng(7)
    for n in (2, 3, 5, 10, 11):
        values = list(rng.normal(70.0, 2.0, size=n))
        np.testing.assert_allclose(statistics.mean_confidence_interval(values),
                                   naive_mean_ci(values, T_TABLE_95), atol=1e-3)


def test_mean_confidence_interval_edges():
    mean, low, high = statistics.mean_confidence_interval([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)
    assert statistics.mean_confidence_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="values must be a non-empty"):
        statistics.mean_confidence_interval([])
    with pytest.raises(ValueError, match="confidence must be in"):
        statistics.mean_confidence_interval([1.0, 2.0], confidence=95)


# ---------------------------------------------------------------- equivalence (TOST)


def test_equivalence_hand_worked():
    # Mean 0.2, sd 0.1, se 0.1 / sqrt(3); t(0.95, 2) = 2.920: interval 0.2 +- 0.1686.
    result = statistics.equivalence_test([0.1, 0.2, 0.3], margin=0.5)
    np.testing.assert_allclose([result["mean"], result["low"], result["high"]],
                               [0.2, 0.2 - 0.1686, 0.2 + 0.1686], atol=1e-4)
    assert (result["n"], result["outcome"]) == (3, "equivalent")
    # The binding one-sided test is against +0.5: T = (0.2 - 0.5) / se = -5.196; with df = 2,
    # P(T <= t) = 1/2 + t / (2 sqrt(2 + t^2)) (closed form), 0.5 - 5.196 / (2 sqrt(29)) = 0.0175.
    t = -0.3 / (0.1 / math.sqrt(3))
    np.testing.assert_allclose(result["p_value"], 0.5 + t / (2 * math.sqrt(2 + t * t)))


@pytest.mark.parametrize("values, outcome", [
    ([1.0, 1.1, 1.2], "outside"),        # entirely above +0.5
    ([-1.0, -1.1, -1.2], "outside"),     # entirely below -0.5
    ([0.3, 0.5, 0.7], "undecided"),      # straddles +0.5
    ([-0.4, 0.0, 0.4], "undecided"),     # covers 0 but too wide for +-0.5
    ([0.1, 0.1], "equivalent"),          # no spread at all
])
def test_equivalence_outcomes(values, outcome):
    result = statistics.equivalence_test(values, margin=0.5)
    assert result["outcome"] == outcome == naive_equivalence_outcome(values, 0.5)
    # The interval inside +-margin is exactly the two one-sided tests both rejecting at 5%.
    assert (result["p_value"] < 0.05) == (outcome == "equivalent")


def test_equivalence_agrees_with_naive_and_its_p_value_on_random_inputs():
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(300):
        n = int(rng.integers(2, 7))
        values = list(rng.normal(rng.uniform(-1, 1), rng.uniform(0.05, 0.6), size=n))
        result = statistics.equivalence_test(values, margin=0.5)
        assert result["outcome"] == naive_equivalence_outcome(values, 0.5)
        assert (result["p_value"] < 0.05) == (result["outcome"] == "equivalent")
        seen.add(result["outcome"])
    assert seen == {"equivalent", "outside", "undecided"}


def test_equivalence_one_value_and_errors():
    result = statistics.equivalence_test([0.0], margin=0.5)
    assert result["outcome"] == "undecided" and math.isnan(result["p_value"])
    assert math.isnan(result["low"]) and result["mean"] == 0.0
    with pytest.raises(ValueError, match="margin must be > 0; got 0"):
        statistics.equivalence_test([0.1, 0.2], margin=0)


def test_seeds_needed_for_equivalence_at_this_machines_spread():
    # CIFAR-10 here: a 3-seed-pair 95% half-width of 0.40 points, so the sd of ΔA over seed
    # pairs is 0.40 sqrt(3) / t(0.975, 2) = 0.40 * 1.732 / 4.303 = 0.161 points.
    sd = 0.40 * math.sqrt(3) / T_TABLE_95[2]
    np.testing.assert_allclose(sd, 0.161, atol=1e-3)
    # 90% half-widths t(0.95, n - 1) sd / sqrt(n): n=2 0.719, n=3 0.271, n=4 0.190.
    for n, half in ((2, 6.314 * sd / math.sqrt(2)), (3, 2.920 * sd / math.sqrt(3)),
                    (4, 2.353 * sd / 2)):
        np.testing.assert_allclose(statistics.interval_half_width(sd, n, 0.90), half, atol=1e-3)
    assert statistics.seeds_to_pass_equivalence(0.5, sd) == 3
    assert statistics.seeds_to_pass_equivalence(0.25, sd) == 4
    assert statistics.seeds_to_pass_equivalence(0.5, 0.0) == 2
    assert statistics.seeds_to_pass_equivalence(0.01, 10.0, max_n=50) is None
    # Power rule: n=2: (6.314 + 3.078)^2 (0.161 / 0.5)^2 = 9.15 > 2; n=3: (2.920 + 1.886)^2 *
    # 0.1037 = 2.39 <= 3.
    assert statistics.seeds_for_equivalence_power(0.5, sd) == 3
    assert statistics.seeds_for_equivalence_power(0.25, sd) == 6


def test_power_rule_holds_in_simulation():
    # With a true ΔA of 0, the TOST passes in at least `power` of seeded simulated experiments at
    # the number of seeds the rule gives, and clearly less often with two seeds fewer.
    sd, margin = 0.161, 0.25
    n = statistics.seeds_for_equivalence_power(margin, sd)
    rng = np.random.default_rng(0)

    def pass_rate(size):
        draws = rng.normal(0.0, sd, size=(4000, size))
        return np.mean([statistics.equivalence_test(d, margin)["outcome"] == "equivalent"
                        for d in draws])

    assert pass_rate(n) >= 0.8 > pass_rate(n - 2)


# ---------------------------------------------------------------- McNemar


def _paired(b, c, both_right=5, both_wrong=3):
    """Correctness vectors with b images only A got right and c only B got right."""
    correct_a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    correct_b = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return np.array(correct_a), np.array(correct_b)


def test_mcnemar_exact_hand_worked():
    # b=1, c=6: n=7, P(X <= 1) = (C(7,0) + C(7,1)) / 2^7 = 8/128, two-sided 16/128 = 0.125.
    result = statistics.mcnemar_test(*_paired(1, 6))
    assert result == {"b": 1, "c": 6, "statistic": 1.0, "p_value": pytest.approx(0.125),
                      "method": "exact"}
    # b == c: the doubled tail exceeds 1 and is capped; no discordant pair at all gives 1 too.
    assert statistics.mcnemar_test(*_paired(3, 3))["p_value"] == 1.0
    assert statistics.mcnemar_test(*_paired(0, 0))["p_value"] == 1.0


def test_mcnemar_chi2_hand_worked():
    # b=30, c=50: (|30 - 50| - 1)^2 / 80 = 361/80 = 4.5125; P(chi2_1 > 4.5125) = 0.0336.
    result = statistics.mcnemar_test(*_paired(30, 50))
    assert (result["b"], result["c"], result["method"]) == (30, 50, "chi2")
    np.testing.assert_allclose(result["statistic"], 4.5125)
    np.testing.assert_allclose(result["p_value"], 0.033648, atol=1e-6)


def test_mcnemar_matches_naive_on_random_inputs():
    rng = np.random.default_rng(6)
    for size in (10, 30, 60, 200):
        correct_a, correct_b = rng.random(size) < 0.7, rng.random(size) < 0.6
        result = statistics.mcnemar_test(correct_a, correct_b)
        expected = naive_mcnemar(correct_a, correct_b)
        np.testing.assert_allclose(
            [result["b"], result["c"], result["statistic"], result["p_value"]], expected)


def test_mcnemar_input_errors():
    with pytest.raises(ValueError, match="same length"):
        statistics.mcnemar_test([True, False], [True])
    with pytest.raises(ValueError, match="correct_b must hold booleans or 0/1"):
        statistics.mcnemar_test([1, 0], [2, 0])


# ---------------------------------------------------------------- rank correlation


def test_spearman_matches_naive_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 5, 9).astype(float), rng.normal(size=9)
        if np.ptp(x) == 0:
            continue
        assert statistics.spearman(x, y) == pytest.approx(naive_spearman(x, y))
    assert math.isnan(statistics.spearman([1.0], [2.0]))
    assert math.isnan(statistics.spearman([1, 1, 1], [1, 2, 3]))
    assert statistics.spearman([1, 2], [5, 3]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same length"):
        statistics.spearman([1, 2, 3], [1, 2])


def test_permutation_p_is_exact_for_small_samples():
    x, y = [1, 2, 3, 4, 5], [2.0, 1.0, 4.0, 3.0, 5.0]
    for alternative in ("greater", "less"):
        assert statistics.spearman_permutation_p(x, y, alternative) == pytest.approx(
            brute_force_p(x, y, alternative))
    # Ties: exact counting of pairings that tie the observed statistic.
    x, y = [1, 1, 2, 3, 3, 4], [0.5, 0.2, 0.9, 0.9, 0.1, 0.7]
    assert statistics.spearman_permutation_p(x, y) == pytest.approx(brute_force_p(x, y, "greater"))
    # The observed (identity) pairing is one of the n! counted: a perfect rank order gives 1/n!.
    assert statistics.spearman_permutation_p([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1 / 24)
    assert statistics.spearman_permutation_p(range(8), range(8)) == pytest.approx(
        1 / math.factorial(8))
    # scipy's two-sided convention: twice the smaller one-sided p, at most 1.
    two = statistics.spearman_permutation_p(x, y, "two-sided")
    assert two == pytest.approx(min(1.0, 2 * min(statistics.spearman_permutation_p(x, y, a)
                                                 for a in ("greater", "less"))))
    assert math.isnan(statistics.spearman_permutation_p([1, 2], [1, 2]))
    with pytest.raises(ValueError, match="Unknown alternative 'up'. Available: greater, less"):
        statistics.spearman_permutation_p([1, 2, 3], [1, 2, 3], "up")


def test_monte_carlo_permutation_p_counts_the_observed_pairing():
    n, draws = 10, statistics.MONTE_CARLO_PERMUTATIONS
    # Perfect order over 10 points: no random pairing of 20,000 (each the identity with chance
    # 1/10!) reaches it, so k = 0 and p = (0 + 1) / (N + 1), never 0.
    assert statistics.spearman_permutation_p(range(n), range(n)) == pytest.approx(1 / (draws + 1))
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=9), rng.normal(size=9)
    # Just above the exact limit the estimate is (k + 1) / (N + 1) for an integer k, and close
    # to the exact p over all 9! pairings (binomial standard error at most 0.0036).
    ranks_x = naive_average_ranks(list(x))
    p = statistics.spearman_permutation_p(x, y, "greater", seed=5)
    k = p * (draws + 1) - 1
    assert k == pytest.approx(round(k), abs=1e-6)
    orders = np.array(list(itertools.permutations(range(9))))
    ranks_y = np.array(naive_average_ranks(list(y)))
    centred_x = np.array(ranks_x) - 5
    null = (ranks_y[orders] - 5) @ centred_x
    exact = np.mean(null >= (ranks_y - 5) @ centred_x - 1e-9)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / draws) + 1 / draws
    assert statistics.spearman_permutation_p(x, y, seed=5) == p  # seeded: reproducible


def test_module_imports_no_tensorflow_keras_or_pandas():
    # Library code on numpy + scipy only (lg_keras layering, STYLE.md section 5).
    code = ("import sys, lg_keras.statistics; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True, cwd=pathlib.Path(__file__).resolve().parents[2])
    assert completed.stdout.strip() == "[]"
