"""Provides bounded metric series for charts: min/max buckets that keep spikes, and bias-corrected EMA smoothing.

A chart has about one column per point it can show, so a million-step run need not be kept point by
point. `ReducedSeries` holds at most `capacity` buckets of consecutive points; when it fills, neighbour
buckets merge in pairs (each bucket then covers twice as many points). A bucket keeps its minimum and
maximum with where they happened, so a loss spike survives any amount of reduction, and its mean, which
the smoothed curve is drawn from. Memory is O(capacity) whatever the run length. No numpy or torch:
the app imports this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The x coordinates every point carries, so a chart can switch its x axis without new data.
AXES = ("step", "epoch", "time")


@dataclass
class Reduced:
    """What one chart trace draws: the raw envelope (min and max per column) and the mean per column."""

    env_x: list[float] = field(default_factory=list)
    env_y: list[float] = field(default_factory=list)
    mean_x: list[float] = field(default_factory=list)
    mean_y: list[float] = field(default_factory=list)


class ReducedSeries:
    """A stream of (x, y) points kept as at most `capacity` min/max/mean buckets."""

    __slots__ = ("capacity", "width", "count", "last", "_n", "_sum", "_lo", "_lo_x", "_hi", "_hi_x", "_first_x", "_last_x")

    def __init__(self, capacity: int = 1024):
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.capacity = capacity
        self.width = 1  # points per full bucket; doubles at each merge
        self.count = 0  # finite points seen
        self.last: float | None = None
        # One entry per bucket in each list: parallel lists are far lighter than one object per bucket.
        self._n: list[int] = []
        self._sum: list[float] = []
        self._lo: list[float] = []
        self._lo_x: list[tuple[float, float, float]] = []
        self._hi: list[float] = []
        self._hi_x: list[tuple[float, float, float]] = []
        self._first_x: list[tuple[float, float, float]] = []
        self._last_x: list[tuple[float, float, float]] = []

    def __len__(self) -> int:
        return len(self._n)

    def append(self, y: float | None, step: float, epoch: float, t: float) -> None:
        """Add one point; a missing or non-finite value (a diverged loss) is skipped."""
        if y is None or not math.isfinite(y):
            return
        x = (step, epoch, t)
        self.count += 1
        self.last = y
        if self._n and self._n[-1] < self.width:
            self._add_to_last(y, x)
            return
        if len(self._n) >= self.capacity:
            self._merge_pairs()
            if self._n[-1] < self.width:
                self._add_to_last(y, x)
                return
        self._n.append(1)
        self._sum.append(y)
        self._lo.append(y)
        self._lo_x.append(x)
        self._hi.append(y)
        self._hi_x.append(x)
        self._first_x.append(x)
        self._last_x.append(x)

    def drop_after(self, step: float) -> None:
        """Forget the points logged after `step`: a resumed run logs them again from its checkpoint at `step`.

        Whole buckets go. Until the series has reduced (1,024 points by default) a bucket is one point, so this is
        exact; after that, a bucket holding points from both sides of `step` stays whole.
        """
        keep = len(self._n)
        while keep and self._first_x[keep - 1][0] > step:
            keep -= 1
        if keep == len(self._n):
            return
        self.count -= sum(self._n[keep:])
        for part in (self._n, self._sum, self._lo, self._lo_x, self._hi, self._hi_x, self._first_x, self._last_x):
            del part[keep:]
        self.last = self._sum[-1] / self._n[-1] if self._n else None

    def _add_to_last(self, y: float, x: tuple[float, float, float]) -> None:
        i = len(self._n) - 1
        self._n[i] += 1
        self._sum[i] += y
        if y < self._lo[i]:
            self._lo[i], self._lo_x[i] = y, x
        if y > self._hi[i]:
            self._hi[i], self._hi_x[i] = y, x
        self._last_x[i] = x

    def _merge_pairs(self) -> None:
        """Halve the number of buckets by merging neighbours: the reduction that bounds memory."""
        n, s, lo, lo_x, hi, hi_x, fx, lx = [], [], [], [], [], [], [], []
        for i in range(0, len(self._n), 2):
            j = i + 1 if i + 1 < len(self._n) else i
            n.append(self._n[i] + (self._n[j] if j != i else 0))
            s.append(self._sum[i] + (self._sum[j] if j != i else 0.0))
            a = i if self._lo[i] <= self._lo[j] else j
            b = i if self._hi[i] >= self._hi[j] else j
            lo.append(self._lo[a])
            lo_x.append(self._lo_x[a])
            hi.append(self._hi[b])
            hi_x.append(self._hi_x[b])
            fx.append(self._first_x[i])
            lx.append(self._last_x[j])
        self._n, self._sum, self._lo, self._lo_x, self._hi, self._hi_x, self._first_x, self._last_x = n, s, lo, lo_x, hi, hi_x, fx, lx
        self.width *= 2

    def reduce(self, columns: int, axis: str = "step", origin: float = 0.0) -> Reduced:
        """At most about `columns` groups of buckets: per group its min and max (in x order) and its mean.

        `origin` is subtracted from x (the run's start time for the wall-time axis).
        """
        k = AXES.index(axis)
        out = Reduced()
        total = len(self._n)
        if total == 0:
            return out
        columns = max(1, columns)
        per = max(1, math.ceil(total / columns))
        for start in range(0, total, per):
            stop = min(total, start + per)
            lo_i = min(range(start, stop), key=self._lo.__getitem__)
            hi_i = max(range(start, stop), key=self._hi.__getitem__)
            lo_x, hi_x = self._lo_x[lo_i][k] - origin, self._hi_x[hi_i][k] - origin
            if lo_x <= hi_x:
                out.env_x += (lo_x, hi_x)
                out.env_y += (self._lo[lo_i], self._hi[hi_i])
            else:
                out.env_x += (hi_x, lo_x)
                out.env_y += (self._hi[hi_i], self._lo[lo_i])
            n = sum(self._n[start:stop])
            out.mean_x.append((self._first_x[start][k] + self._last_x[stop - 1][k]) / 2 - origin)
            out.mean_y.append(sum(self._sum[start:stop]) / n)
        return out

    # ---- summary figures (exact: every point went through min, max and sum)
    def max(self) -> tuple[float, tuple[float, float, float]] | None:
        """The largest value and its (step, epoch, time)."""
        if not self._n:
            return None
        i = max(range(len(self._hi)), key=self._hi.__getitem__)
        return self._hi[i], self._hi_x[i]

    def min(self) -> tuple[float, tuple[float, float, float]] | None:
        if not self._n:
            return None
        i = min(range(len(self._lo)), key=self._lo.__getitem__)
        return self._lo[i], self._lo_x[i]

    def mean(self) -> float | None:
        return sum(self._sum) / self.count if self.count else None

    def first_reaching(self, target: float, higher: bool = True) -> tuple[float, float, float] | None:
        """Where the series first reached `target` (>= when higher, else <=): exact while buckets hold one
        point (epoch series), otherwise the place of the reaching bucket's extreme."""
        for i in range(len(self._n)):
            if higher and self._hi[i] >= target:
                return self._hi_x[i]
            if not higher and self._lo[i] <= target:
                return self._lo_x[i]
        return None


def ema(values: list[float], weight: float) -> list[float]:
    """Bias-corrected exponential moving average (as in Adam): no pull towards zero at the start.

    weight 0 returns the values unchanged; 0.9 averages over roughly the last ten points.
    """
    if weight <= 0.0:
        return list(values)
    out, m, correction = [], 0.0, 1.0
    for v in values:
        m = weight * m + (1.0 - weight) * v
        correction *= weight
        out.append(m / (1.0 - correction))
    return out
