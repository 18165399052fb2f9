"""Statistics for gates: intervals and paired tests, so decisions use bounds rather than point estimates.

Plain Python (math + random): the inputs are at most a few thousand items.
"""
from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def z_for(confidence: float) -> float:
    """Two-sided critical value, e.g. 0.95 -> 1.96 (bisection on the normal CDF)."""
    target, low, high = 1 - (1 - confidence) / 2, 0.0, 10.0
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if normal_cdf(mid) < target else (low, mid)
    return (low + high) / 2


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there is no data."""
    if n == 0:
        return 0.0, 1.0
    z = z_for(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Difference:
    """candidate − reference on the same items, with a confidence interval."""
    delta: float
    low: float
    high: float
    n: int


def paired_bootstrap(candidate: list[float], reference: list[float], *, confidence: float = 0.95,
                     resamples: int = 2000, seed: int = 0) -> Difference:
    """Percentile bootstrap of the mean paired difference (items resampled together)."""
    if len(candidate) != len(reference):
        raise ValueError("paired samples must have the same items")
    n = len(candidate)
    if n == 0:
        return Difference(0.0, -1.0, 1.0, 0)
    diffs = [c - r for c, r in zip(candidate, reference)]
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(diffs, k=n)) for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[int(tail * (resamples - 1))]
    high = means[int(math.ceil((1 - tail) * (resamples - 1)))]
    return Difference(statistics.fmean(diffs), low, high, n)


def mcnemar(candidate_right: list[bool], reference_right: list[bool]) -> dict:
    """Exact McNemar test on paired right/wrong outcomes; p is two-sided."""
    gained = sum(c and not r for c, r in zip(candidate_right, reference_right))
    lost = sum(r and not c for c, r in zip(candidate_right, reference_right))
    discordant = gained + lost
    if discordant == 0:
        return {"gained": 0, "lost": 0, "p": 1.0}
    k = min(gained, lost)
    tail = sum(math.comb(discordant, i) for i in range(k + 1)) / 2 ** discordant
    return {"gained": gained, "lost": lost, "p": min(1.0, 2 * tail)}


def two_proportion_worse(bad_a: int, n_a: int, bad_b: int, n_b: int) -> float:
    """One-sided p-value that group a's rate of bad outcomes is higher than group b's (pooled z-test)."""
    if n_a == 0 or n_b == 0:
        return 1.0
    pooled = (bad_a + bad_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (bad_a / n_a - bad_b / n_b) / se
    return 1 - normal_cdf(z)


def items_needed(effect: float, sd: float, *, confidence: float = 0.95, power: float = 0.8) -> int:
    """Paired items needed to detect a mean difference `effect` with difference s.d. `sd`."""
    if effect <= 0:
        raise ValueError("effect must be positive")
    z_alpha, z_beta = z_for(confidence), z_for(2 * power - 1)
    return math.ceil(((z_alpha + z_beta) * sd / effect) ** 2)


def detectable_gain(n: int, sd: float, *, confidence: float = 0.95, power: float = 0.8) -> float:
    """The smallest mean difference n paired items with difference s.d. `sd` detect (items_needed inverted)."""
    if n <= 0:
        return math.inf
    return (z_for(confidence) + z_for(2 * power - 1)) * sd / math.sqrt(n)
