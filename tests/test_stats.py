import random

from uchi.evals.stats import items_needed, mcnemar, paired_bootstrap, two_proportion_worse, wilson_interval, z_for


def test_critical_values():
    assert abs(z_for(0.95) - 1.95996) < 1e-3 and abs(z_for(0.90) - 1.64485) < 1e-3


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)
    assert abs(low - 0.4902) < 1e-3 and abs(high - 0.9433) < 1e-3
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 20)
    assert low < 1e-12 and 0.15 < high < 0.17


def test_paired_bootstrap_separates_real_gain_from_noise():
    rng = random.Random(1)
    reference = [rng.random() for _ in range(80)]
    better = [min(1.0, r + 0.2 + rng.gauss(0, 0.05)) for r in reference]
    noisy = [r + rng.gauss(0, 0.2) for r in reference]
    gain = paired_bootstrap(better, reference)
    assert gain.low > 0.1 and gain.delta > 0.15
    noise = paired_bootstrap(noisy, reference)
    assert noise.low < 0 < noise.high


def test_mcnemar_exact():
    candidate = [True] * 12 + [False] * 2 + [True] * 10
    reference = [False] * 12 + [True] * 2 + [True] * 10
    result = mcnemar(candidate, reference)
    assert (result["gained"], result["lost"]) == (12, 2) and abs(result["p"] - 0.01294) < 1e-4
    assert mcnemar([True, False], [True, False])["p"] == 1.0


def test_two_proportion_and_power():
    assert two_proportion_worse(30, 100, 10, 100) < 0.001
    assert two_proportion_worse(10, 100, 12, 100) > 0.5
    assert items_needed(0.1, 0.3) == 71
