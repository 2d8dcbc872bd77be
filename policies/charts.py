"""Line charts as plain geometry for a server-rendered SVG (no chart library, nothing to fetch).

`line_chart` turns time series into coordinates and tick labels; the template only draws
them, so Django's escaping covers every label and the page stays CSP-clean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 28
MARKERS_UP_TO = 60  # beyond this many points, markers would only blur the line


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    dash: str  # a dash pattern as well as a colour, so lines differ without colour vision
    points: str  # "x,y x,y ..." for <polyline points>
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    series: tuple[Series, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]

    @property
    def is_empty(self) -> bool:
        return not any(series.points for series in self.series)


def nice_ceiling(value: float) -> float:
    """The next 1, 2, 5 × 10^n at or above value, so axis ticks read as round numbers."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def line_chart(
    moments: Sequence[datetime],
    series: Sequence[tuple[str, str, str, Sequence[float | None]]],
    *,
    y_max: float | None = None,
    y_label: Callable[[float], str] = lambda value: f"{value:g}",
    y_ticks: int = 4,
    period: tuple[datetime, datetime] | None = None,
) -> Chart:
    """Coordinates for lines over time; `series` items are (label, colour, dash, values).

    A None value (nothing to measure, e.g. no workloads) breaks no line: the point is left out.
    Without `y_max` the axis counts whole numbers: each of the `y_ticks` steps is a round
    integer. `period` fixes the time axis (the period asked for, not just the first and last
    snapshot), so a chart of "30 days" always spans 30 days.
    """
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    values = [value for _, _, _, row in series for value in row if value is not None]
    if y_max is not None:
        top_value = y_max
    else:
        top_value = y_ticks * max(1, nice_ceiling(max(values, default=0) / y_ticks))
    if period is not None:
        axis_start, axis_end = period
    elif moments:
        axis_start, axis_end = moments[0], moments[-1]
    else:
        axis_start = axis_end = None
    start = axis_start.timestamp() if axis_start else 0.0
    end = axis_end.timestamp() if axis_end else 0.0
    span = end - start

    def x_of(moment: datetime) -> float:
        if span == 0:
            return LEFT + plot_width / 2
        return LEFT + (moment.timestamp() - start) / span * plot_width

    def y_of(value: float) -> float:
        return TOP + plot_height - (value / top_value) * plot_height

    drawn = []
    for label, colour, dash, row in series:
        coordinates = [
            (round(x_of(moment), 1), round(y_of(value), 1), moment, value)
            for moment, value in zip(moments, row, strict=True)
            if value is not None
        ]
        markers = ()
        if len(coordinates) <= MARKERS_UP_TO:
            markers = tuple(
                Marker(x, y, f"{label}: {y_label(value)} at {moment:%Y-%m-%d %H:%M} UTC")
                for x, y, moment, value in coordinates
            )
        drawn.append(
            Series(
                label=label,
                colour=colour,
                dash=dash,
                points=step_points(coordinates, right_edge=LEFT + plot_width if period else None),
                markers=markers,
            )
        )
    ticks_y = tuple(
        Tick(round(y_of(top_value * index / y_ticks), 1), y_label(top_value * index / y_ticks))
        for index in range(y_ticks + 1)
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        series=tuple(drawn),
        y_ticks=ticks_y,
        x_ticks=time_ticks(axis_start, axis_end, x_of),
    )


def step_points(coordinates: list[tuple], *, right_edge: float | None) -> str:
    """A staircase: a snapshot's figure holds until the next snapshot, then jumps.

    Posture changes when a snapshot says so, not gradually in between, so a sloped line
    would show states that never existed. With a fixed period the last figure holds to the
    right edge (now): it is still the snapshot in force.
    """
    corners: list[tuple[float, float]] = []
    for x, y, _, _ in coordinates:
        if corners:
            corners.append((x, corners[-1][1]))
        corners.append((x, y))
    if corners and right_edge is not None and corners[-1][0] < right_edge:
        corners.append((round(float(right_edge), 1), corners[-1][1]))
    return " ".join(f"{x},{y}" for x, y in corners)


def time_ticks(
    start: datetime | None, end: datetime | None, x_of: Callable[[datetime], float]
) -> tuple[Tick, ...]:
    """Five moments along the time axis, labelled as finely as the span needs."""
    if start is None or end is None:
        return ()
    if start == end:
        return (Tick(round(x_of(start), 1), f"{start:%Y-%m-%d %H:%M}"),)
    span = end - start
    if span.days < 1:
        label_format = "%H:%M"
    elif span.days < 5:
        label_format = "%m-%d %H:%M"
    else:
        label_format = "%m-%d"
    return tuple(
        Tick(round(x_of(moment), 1), f"{moment:{label_format}}")
        for moment in (start + (end - start) * index / 4 for index in range(5))
    )
