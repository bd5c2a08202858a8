"""How much a test set can tell: confidence intervals and paired tests for accuracies.

- :func:`wilson` -- the Wilson score interval of a proportion (Wilson 1927), the usual
  choice for accuracies on a few hundred test images: it stays inside [0, 1] and keeps
  its coverage near 0 % and 100 %, where the normal approximation does not.
- :func:`mcnemar_exact` -- McNemar's exact test for two classifiers evaluated on the
  same test images: only the images on which exactly one of them is right count, and
  under the null hypothesis each such image is a fair coin (two-sided binomial test).
- :func:`smallest_resolvable` -- the smallest accuracy difference, in images, that the
  exact test can call significant on ``n`` images, for the note the report prints.

Plain Python (``math``), so results are the same everywhere and need no SciPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The two-sided 95 % normal quantile.
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``n``; (nan, nan) if n = 0."""
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}; got {successes}")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # Exact at the ends: 0 successes has lower bound 0, n successes upper bound 1.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of classifiers A and B on the same images."""

    n: int  # images compared
    only_a: int  # images A gets right and B wrong
    only_b: int  # images B gets right and A wrong
    p_value: float

    @property
    def difference(self) -> float:
        """Accuracy of B minus accuracy of A, as a fraction of ``n``."""
        return (self.only_b - self.only_a) / self.n if self.n else math.nan


def _binomial_two_sided(k: int, m: int) -> float:
    """P(X <= min(k, m-k)) * 2 for X ~ Binomial(m, 1/2), capped at 1."""
    if m == 0:
        return 1.0
    low = min(k, m - k)
    tail = sum(math.comb(m, i) for i in range(low + 1)) / 2**m
    return float(min(1.0, 2 * tail))


def mcnemar_exact(correct_a: list[bool], correct_b: list[bool]) -> McNemar:
    """McNemar's exact test on two equally long lists of per-image correctness."""
    if len(correct_a) != len(correct_b):
        raise ValueError("both classifiers must be scored on the same images")
    only_a = sum(1 for a, b in zip(correct_a, correct_b, strict=True) if a and not b)
    only_b = sum(1 for a, b in zip(correct_a, correct_b, strict=True) if b and not a)
    return McNemar(len(correct_a), only_a, only_b, _binomial_two_sided(only_a, only_a + only_b))


def smallest_resolvable(alpha: float = 0.05) -> int:
    """The fewest discordant images, all in one direction, for p < ``alpha`` (6 at 5 %):
    no difference smaller than this many images can be significant, whatever ``n``."""
    m = 1
    while _binomial_two_sided(0, m) >= alpha:
        m += 1
    return m
