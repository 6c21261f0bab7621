"""Statistics of the report: intervals over seeds, paired differences, verdicts, rank correlation.

`Verdict` is the one verdict type: read once from a difference's Estimate, rendered against the
paper's sign by the report (`Verdict.against`, `verdict`), in plain words (`Verdict.reading`) and as
`lg advise`'s advice (`Verdict.advice`, also quoted by the study report).

The statistics themselves (t intervals, McNemar, TOST, Spearman permutation tests) are
`lg_keras.statistics`; this module turns them into the report's estimates and verdicts.

The primary evidence for every difference the paper claims (ΔA = A_FC - A_CC and its kin) is the
mean over seeds with a Student t 95% interval (`lg_keras.statistics.mean_confidence_interval`),
computed over seed PAIRS (seed s of one setting minus seed s of the other) when both sides have
that seed. McNemar's test on the same test images is secondary (`report_mcnemar`): it compares two
trained networks and says nothing about how much another seed would move them.

Verdicts, against the sign of the paper's number:

    reproduced       the interval excludes 0 on the paper's side
    not reproduced   the interval excludes 0 on the other side
    inconclusive     the interval covers 0, or there is one seed (no interval)
    pending          the runs are planned but not finished
    not run          the runs are not in the plan (trimmed by the profile, or skipped)

Where the paper calls a difference negligible (Table I CIFAR-100, Table VIII with 15 and 20
coarse classes) it claims no meaningful gain, not a positive one. Those claims get an equivalence
test (two one-sided t tests, TOST, at 5% each: the 90% interval over seed pairs) against a margin
of +-NEGLIGIBLE_MARGIN:

    reproduced (negligible)  the 90% interval lies inside +-margin
    not reproduced           it lies entirely above +margin or entirely below -margin
    inconclusive             otherwise, and always with one seed

A claim whose test restates another claim's by construction is listed as 'not counted'.
"""

import dataclasses
import math

import numpy as np

from lg_keras import statistics

CONFIDENCE = 0.95
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
PENDING = "pending"
NOT_RUN = "not run"
NO_CLAIM = "no directional claim"
REPRODUCED_NEGLIGIBLE = "reproduced (negligible)"
NOT_COUNTED = "not counted"

# The equivalence test of the negligible claims: two one-sided 5% tests = a 90% interval.
EQUIVALENCE_CONFIDENCE = 0.90
# Its margin, as a fraction (0.5 percentage points of coarse test accuracy). It sits above the
# largest ΔA the paper calls negligible (+0.16, Table VIII, 15 coarse classes) and below the
# smallest it presents as a real gain (+0.78 on CIFAR-10, "non-trivial", Sec. IV), and it is about
# three times this machine's seed-pair spread (SEED_PAIR_SD), so a few seeds can pass it.
NEGLIGIBLE_MARGIN = 0.005
# Spread of ΔA over seed pairs on this machine: Table I CIFAR-10, cpu profile, ΔA +1.06 [+0.66,
# +1.46] over 3 seed pairs (README), a 95% half-width of 0.40 points = t(0.975, 2) sd / sqrt(3).
REFERENCE_HALF_WIDTH, REFERENCE_PAIRS = 0.0040, 3
SEED_PAIR_SD = (REFERENCE_HALF_WIDTH * math.sqrt(REFERENCE_PAIRS)
                / statistics.t_critical_value(CONFIDENCE, REFERENCE_PAIRS - 1))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its interval.

    Attributes:
        seeds: the seeds the values come from (pairs: seeds both sides have).
        values: one value per seed, same order.
        mean: their mean (nan when there are none).
        low: lower end of the interval (nan for fewer than two values).
        high: upper end (nan for fewer than two values).
        unpaired: True when the two sides share no seed and `mean` is a difference of means.
    """

    seeds: tuple = ()
    values: tuple = ()
    mean: float = math.nan
    low: float = math.nan
    high: float = math.nan
    unpaired: bool = False

    @property
    def n(self) -> int:
        """The number of seeds (or seed pairs)."""
        return len(self.values)

    def format(self, scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
        """'98.42 [98.10, 98.74] (n=3)', '98.42 (one seed)' or '—' (values times `scale`)."""
        if not self.n:
            return "—"
        sign = "+" if signed else ""
        text = f"{self.mean * scale:{sign}.{digits}f}"
        if self.unpaired:
            return f"{text} (difference of means, unpaired seeds)"
        if self.n == 1:
            return f"{text} (one seed)"
        low, high = self.low * scale, self.high * scale
        return f"{text} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}] (n={self.n})"


# What a difference's seeds can show (Verdict.evidence).
NO_RESULT, UNPAIRED, ONE_SEED, INTERVAL = "no result", "unpaired", "one seed", "interval"


def _sign(value: float) -> int:
    return 1 if value > 0 else -1 if value < 0 else 0


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the seeds say about a difference (ΔA and its kin), read once from its Estimate.

    `Verdict.of(estimate)` is the only place that reads an estimate's direction; the paper's
    report renders the verdict against the paper's sign (`against`) and in plain words
    (`reading`), `lg advise` and the study report as advice on fine labels (`advice`).

    Attributes:
        evidence: NO_RESULT (no value yet), UNPAIRED (a difference of means: the sides share no
            seed), ONE_SEED (one seed pair, no interval) or INTERVAL (two or more seed pairs).
        sign: the sign of the mean difference: +1, -1 or 0 (also 0 without a result).
        side: with an INTERVAL, +1 when it lies above 0, -1 when below 0, 0 when it covers 0
            (and 0 without an interval).
    """

    evidence: str
    sign: int = 0
    side: int = 0

    @classmethod
    def of(cls, est: Estimate) -> "Verdict":
        """Reads an estimate of a difference (its mean and interval over seed pairs)."""
        if not est.n:
            return cls(NO_RESULT)
        if est.unpaired or est.n == 1:
            return cls(UNPAIRED if est.unpaired else ONE_SEED, _sign(est.mean))
        side = 1 if est.low > 0 else -1 if est.high < 0 else 0
        return cls(INTERVAL, _sign(est.mean), side)

    def against(self, paper_value: float | None, missing: str | None = None) -> str:
        """The verdict against the paper's number (module docstring).

        Args:
            paper_value: the paper's difference; only its sign is used (0 or None: no direction).
            missing: PENDING or NOT_RUN when a needed setting has no result yet.

        Returns:
            One of the verdict strings; one-seed and unpaired cases say so and give our sign.
        """
        if self.evidence == NO_RESULT:
            return missing or PENDING
        if paper_value is None or paper_value == 0:
            return NO_CLAIM
        side = 1 if paper_value > 0 else -1
        if self.evidence != INTERVAL:
            agrees = "same sign as the paper" if self.sign == side else "opposite sign to the paper"
            seeds = "unpaired seeds" if self.evidence == UNPAIRED else "one seed"
            return f"{INCONCLUSIVE} ({seeds}; {agrees})"
        return {side: REPRODUCED, -side: NOT_REPRODUCED}.get(self.side, INCONCLUSIVE)

    def reading(self) -> str:
        """A plain reading of the difference, without reference to the paper."""
        if self.evidence == NO_RESULT:
            return "no result yet"
        if self.evidence != INTERVAL:
            direction = {1: "gain", -1: "loss", 0: "no difference"}[self.sign]
            return f"{direction} from one seed (run-to-run variation unknown)"
        return {1: "gain (interval above 0)", -1: "loss (interval below 0)",
                0: "no clear effect (interval covers 0)"}[self.side]

    def advice(self) -> str:
        """The verdict in `lg advise`'s words, for ΔA of fine-type labels against coarse ones."""
        if self.evidence == NO_RESULT:
            return "No finished seed pair yet: train both the fine and the coarse runs of a seed."
        if self.evidence == UNPAIRED:
            return ("Unclear: the fine and coarse runs share no seed, so there is no paired "
                    "interval; run matching seeds.")
        if self.evidence == ONE_SEED:
            direction = {1: "higher", -1: "lower", 0: "equal"}[self.sign]
            return (f"Not enough evidence: one seed pair only ({direction} with fine labels). Run-"
                    f"to-run variation is unknown with one seed; run more seeds before deciding.")
        return {1: "Fine labels paid off: the whole interval is above 0.",
                -1: "Fine labels did not pay off: they lowered coarse accuracy (interval below 0).",
                0: "No clear effect: the interval covers 0; more seeds would narrow it."}[self.side]


def estimate(values_by_seed: dict, confidence: float = CONFIDENCE) -> Estimate:
    """Mean and t interval of per-seed values (an empty dict gives an empty Estimate).

    Args:
        values_by_seed: {seed: finite float}.
        confidence: the interval's coverage.

    Returns:
        An Estimate; low and high are nan for a single seed.
    """
    items = sorted((s, float(v)) for s, v in values_by_seed.items()
                   if v is not None and math.isfinite(float(v)))
    if not items:
        return Estimate()
    seeds, values = zip(*items)
    mean, low, high = statistics.mean_confidence_interval(values, confidence)
    return Estimate(seeds=seeds, values=values, mean=mean, low=low, high=high)


def paired_difference(a: dict, b: dict, confidence: float = CONFIDENCE) -> Estimate:
    """a - b over the seeds both have; a difference of means (flagged unpaired) if none shared.

    Args:
        a: {seed: value} of one setting (e.g. A_FC per seed).
        b: {seed: value} of the other (e.g. A_CC per seed).
        confidence: the interval's coverage.

    Returns:
        The Estimate of the per-seed differences.
    """
    a = {s: v for s, v in a.items() if v is not None}
    b = {s: v for s, v in b.items() if v is not None}
    common = sorted(set(a) & set(b))
    if common:
        return estimate({s: a[s] - b[s] for s in common}, confidence)
    if a and b:
        return Estimate(seeds=(), values=(float(np.mean(list(a.values()))
                                                - np.mean(list(b.values()))),),
                        mean=float(np.mean(list(a.values())) - np.mean(list(b.values()))),
                        unpaired=True)
    return Estimate()


def availability(*states: str) -> str | None:
    """Combines the availability of the settings a claim needs: None when all have results.

    Args:
        states: per setting 'done', PENDING or NOT_RUN.

    Returns:
        NOT_RUN if any setting is not run, else PENDING if any is pending, else None.
    """
    if NOT_RUN in states:
        return NOT_RUN
    if PENDING in states:
        return PENDING
    return None


def verdict(paper_value: float | None, est: Estimate, missing: str | None = None) -> str:
    """The verdict on a claimed difference: `Verdict.of(est).against(paper_value, missing)`."""
    return Verdict.of(est).against(paper_value, missing)


def equivalence_verdict(est: Estimate, missing: str | None = None,
                        margin: float = NEGLIGIBLE_MARGIN,
                        confidence: float = EQUIVALENCE_CONFIDENCE) -> str:
    """The verdict on a difference the paper calls negligible (module docstring).

    Args:
        est: our per-seed-pair differences.
        missing: PENDING or NOT_RUN when a needed setting has no result yet.
        margin: the equivalence margin (a fraction, like the values).
        confidence: coverage of the TOST interval.

    Returns:
        REPRODUCED_NEGLIGIBLE, NOT_REPRODUCED or INCONCLUSIVE (one-seed and unpaired cases say
        so and say where our mean falls), or missing/PENDING without results.
    """
    evidence = Verdict.of(est).evidence
    if evidence == NO_RESULT:
        return missing or PENDING
    where = "inside" if abs(est.mean) < margin else "outside"
    bound = f"±{margin * 100:.2f}"
    if evidence == UNPAIRED:
        return f"{INCONCLUSIVE} (unpaired seeds; mean {where} {bound})"
    if evidence == ONE_SEED:
        return f"{INCONCLUSIVE} (one seed; {where} {bound})"
    outcome = statistics.equivalence_test(est.values, margin, confidence)["outcome"]
    return {"equivalent": REPRODUCED_NEGLIGIBLE, "outside": NOT_REPRODUCED}.get(outcome,
                                                                                INCONCLUSIVE)


def equivalence_evidence(est: Estimate, paper_value: float | None,
                         margin: float = NEGLIGIBLE_MARGIN,
                         confidence: float = EQUIVALENCE_CONFIDENCE) -> str:
    """'ours ΔA +0.10, 90% interval [-0.05, +0.25] (n=3) inside ±0.50 vs paper +0.01; ...'."""
    paper = "—" if paper_value is None else f"{paper_value:+.2f}"
    bound = f"±{margin * 100:.2f} points"
    evidence = Verdict.of(est).evidence
    if evidence == NO_RESULT:
        return f"no result yet vs paper {paper}"
    if evidence != INTERVAL:
        need = statistics.seeds_to_pass_equivalence(margin, SEED_PAIR_SD, confidence)
        return (f"ours ΔA {est.format(signed=True)} vs paper {paper}; negligible = within "
                f"{bound}, which needs an interval: at least {need} seed pairs at this "
                f"machine's seed spread")
    result = statistics.equivalence_test(est.values, margin, confidence)
    where = {"equivalent": "inside", "outside": "entirely outside"}.get(result["outcome"],
                                                                        "not inside")
    sd = float(np.std(est.values, ddof=1))
    need = statistics.seeds_to_pass_equivalence(margin, sd, confidence)
    seeds = (f"{need} seed pairs would let it pass" if need
             else "no practical number of seed pairs would let it pass")
    return (f"ours ΔA {result['mean'] * 100:+.2f}, {confidence:.0%} interval "
            f"[{result['low'] * 100:+.2f}, {result['high'] * 100:+.2f}] (n={est.n}) {where} "
            f"{bound} vs paper {paper}; TOST p = {format_p(result['p_value'])}; "
            f"with a true ΔA of 0 and this claim's seed-pair sd ({sd * 100:.2f} points), {seeds}")


def format_p(p: float) -> str:
    """A p-value as the report prints it: '0.042', or '5e-05' below 0.001, never '0.000'.

    A Monte Carlo permutation p is at least 1 / (MONTE_CARLO_PERMUTATIONS + 1), about 5e-05.
    """
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def equivalence_design(margin: float = NEGLIGIBLE_MARGIN, sd: float = SEED_PAIR_SD,
                       confidence: float = EQUIVALENCE_CONFIDENCE) -> list[str]:
    """The report's account of the equivalence test: margin, verdicts and how many seeds.

    Args:
        margin: the equivalence margin (a fraction).
        sd: the spread of ΔA over seed pairs (a fraction).
        confidence: coverage of the TOST interval.

    Returns:
        Paragraphs of text.
    """
    points, sd_points = margin * 100, sd * 100
    t_ref = statistics.t_critical_value(CONFIDENCE, REFERENCE_PAIRS - 1)
    widths = ", ".join(f"{statistics.interval_half_width(sd_points, n, confidence):.2f} (n={n})"
                       for n in range(2, 7))
    to_pass = statistics.seeds_to_pass_equivalence(margin, sd, confidence)
    powered = statistics.seeds_for_equivalence_power(margin, sd, confidence, power=0.8)
    return [
        "Three claims say a difference is negligible, not that it is positive: Table I CIFAR-100 "
        "(ΔA +0.01), Table VIII with 15 and 20 coarse classes (+0.16, +0.01). A test of sign "
        "cannot confirm 'no meaningful gain', so these claims get an equivalence test: two "
        f"one-sided t tests (TOST) at 5% each, i.e. the {confidence:.0%} interval of ΔA over "
        f"seed pairs against a margin of ±{points:.2f} points.",
        f"Verdicts: '{REPRODUCED_NEGLIGIBLE}' = the {confidence:.0%} interval lies inside "
        f"±{points:.2f}; '{NOT_REPRODUCED}' = it lies entirely above +{points:.2f} or entirely "
        f"below -{points:.2f}; '{INCONCLUSIVE}' = otherwise, and always with one seed.",
        f"Margin ±{points:.2f} points: above the largest ΔA the paper calls negligible (+0.16, "
        "Table VIII) and below the smallest it presents as a real gain (+0.78 on CIFAR-10, "
        f"'non-trivial', Sec. IV); about {margin / sd:.0f} times this machine's seed-pair spread, "
        "so a few seeds can pass it.",
        f"Seeds: the standard deviation of ΔA over seed pairs here is {sd_points:.2f} points "
        f"(Table I CIFAR-10, {REFERENCE_PAIRS} seed pairs, 95% half-width "
        f"{REFERENCE_HALF_WIDTH * 100:.2f} = t(0.975, {REFERENCE_PAIRS - 1}) sd / "
        f"sqrt({REFERENCE_PAIRS}), so sd = {REFERENCE_HALF_WIDTH * 100:.2f} x "
        f"sqrt({REFERENCE_PAIRS}) / {t_ref:.3f}). With a true ΔA of 0 the {confidence:.0%} "
        f"half-width t({(1 + confidence) / 2:.3f}, n-1) x {sd_points:.2f} / sqrt(n) is {widths} "
        f"points; it must be below {points:.2f} for the test to be able to pass, so n = "
        f"{to_pass} seed pairs at least (one seed pair never can). The usual TOST sample-size "
        f"rule (true ΔA 0, power 80%) gives n = {powered}. A dataset whose seeds spread more "
        "needs more: each negligible claim's evidence gives the number at its own spread.",
    ]


def trend_verdict(x, y, claimed_sign: int, missing: str | None = None) -> tuple[str, str]:
    """Verdict on a claimed monotone relation between x and y (e.g. ACR and ΔA).

    One-sided permutation tests of Spearman's rho at the 5% level
    (`lg_keras.statistics.spearman_permutation_p`: exact up to 8 points, else (k + 1) / (N + 1)
    over 20,000 seeded pairings): on the paper's side for 'reproduced', on the other side for
    'not reproduced'. Uses the points' means: the seed-to-seed spread of each point is not part
    of this test.

    Args:
        x: the points' x values.
        y: the points' y values.
        claimed_sign: +1 (y grows with x) or -1.
        missing: PENDING or NOT_RUN when some of the claim's points are not available.

    Returns:
        (verdict, evidence text).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 3:
        return missing or PENDING, f"{len(x)} point(s) so far; a rank correlation needs 3 or more"
    rho = statistics.spearman(x, y)
    if math.isnan(rho):
        return INCONCLUSIVE, f"{len(x)} points; rank correlation undefined (ties on one axis)"
    toward, away = ("greater", "less") if claimed_sign > 0 else ("less", "greater")
    p_toward = statistics.spearman_permutation_p(x, y, toward)
    p_away = statistics.spearman_permutation_p(x, y, away)
    text = (f"Spearman rho = {rho:+.2f} over {len(x)} points; one-sided permutation p = "
            f"{format_p(p_toward)} in the paper's direction")
    if missing:
        text += f" (some points {missing})"
    if p_toward < 0.05:
        return REPRODUCED, text
    if p_away < 0.05:
        return NOT_REPRODUCED, text + f", p = {format_p(p_away)} against it"
    return INCONCLUSIVE, text
