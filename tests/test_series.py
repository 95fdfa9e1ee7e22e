"""Tests of the bounded chart series: memory stays bounded, spikes survive reduction, EMA is bias-corrected."""

import math

import pytest

from vitui.series import ReducedSeries, ema
from vitui.widgets.charts import y_ticks


def fill(n: int, capacity: int = 256, spike_at: int | None = None) -> ReducedSeries:
    series = ReducedSeries(capacity)
    for i in range(n):
        y = 1.0 / (1 + i) + (50.0 if i == spike_at else 0.0)
        series.append(y, i, i / 100, 1000.0 + i * 0.5)
    return series


def test_buckets_stay_bounded_whatever_the_length():
    for n in (10, 1000, 200_000):
        series = fill(n)
        assert len(series) <= 256
        assert series.count == n
    assert fill(10).width == 1  # short series keep every point


def test_a_single_spike_survives_any_reduction():
    series = fill(200_000, spike_at=123_457)
    for columns in (10, 80, 300):
        reduced = series.reduce(columns)
        peak = max(range(len(reduced.env_y)), key=reduced.env_y.__getitem__)
        assert reduced.env_y[peak] == pytest.approx(50.0 + 1 / 123_458)
        assert reduced.env_x[peak] == 123_457  # drawn where it happened
        assert len(reduced.mean_x) <= columns
        assert len(reduced.env_x) == 2 * len(reduced.mean_x)


def test_envelope_is_in_x_order_within_each_column():
    reduced = fill(5000, spike_at=10).reduce(40)
    pairs = list(zip(reduced.env_x[::2], reduced.env_x[1::2]))
    assert all(a <= b for a, b in pairs)
    assert all(pairs[i][1] <= pairs[i + 1][0] for i in range(len(pairs) - 1))


def test_summary_figures_are_exact_after_merging():
    series = fill(100_000)
    assert series.max() == (1.0, (0, 0.0, 1000.0))
    assert series.min()[0] == pytest.approx(1 / 100_000)
    assert series.mean() == pytest.approx(sum(1 / (1 + i) for i in range(100_000)) / 100_000)


def test_axes_and_time_origin():
    series = fill(10)
    assert series.reduce(100, "epoch").mean_x[:2] == [0.0, 0.01]
    assert series.reduce(100, "time", origin=1000.0).mean_x[:2] == [0.0, 0.5]


def test_missing_and_non_finite_values_are_skipped():
    series = ReducedSeries(8)
    for y in (1.0, None, math.nan, math.inf, 2.0):
        series.append(y, 0, 0, 0)
    assert series.count == 2
    assert series.reduce(10).mean_y == [1.0, 2.0]


def test_first_reaching():
    series = ReducedSeries(16)
    for epoch, acc in enumerate([0.3, 0.5, 0.7, 0.72, 0.8], start=1):
        series.append(acc, epoch * 10, epoch, 0)
    assert series.first_reaching(0.7) == (30, 3, 0)
    assert series.first_reaching(0.9) is None
    assert series.first_reaching(0.4, higher=False) == (10, 1, 0)


def test_ema_is_bias_corrected():
    assert ema([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])  # no pull towards zero
    assert ema([1.0, 2.0], 0.5) == pytest.approx([1.0, 1.25 / 0.75])
    assert ema([1.0, 5.0], 0.0) == [1.0, 5.0]


def test_capacity_must_allow_merging():
    with pytest.raises(ValueError):
        ReducedSeries(1)


def test_chart_tick_labels_are_short_and_distinct():
    assert y_ticks(0.0009921, 0.0009995, 3)[1] == ["9.921e-4", "9.958e-4", "9.995e-4"]
    assert y_ticks(0.28, 2.4, 2)[1] == ["0.3", "2.4"]  # short, but never far from the tick
    assert y_ticks(1200, 3600, 4)[1] == ["1200", "2000", "2800", "3600"]
    assert y_ticks(0.2, 0.2, 3)[1] == ["0.18", "0.20", "0.22"]  # a flat line gets room around it
    assert y_ticks(0, 1e-3, 3)[1] == ["0", "5e-4", "1e-3"]
