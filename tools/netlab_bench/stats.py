"""Medians and spread of repeated measurements."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A measured quantity over several runs: its median, least and greatest value."""

    median: float
    low: float
    high: float
    runs: int

    def show(self, digits: int = 1, unit: str = "") -> str:
        """`12.3 s (11.9-13.0, 3 runs)`; one run shows its value only."""
        value = f"{self.median:.{digits}f}{unit}"
        if self.runs < 2:
            return value
        return f"{value} ({self.low:.{digits}f}-{self.high:.{digits}f}, {self.runs} runs)"


def figure(values: list[float]) -> Figure | None:
    """The figure of the values (None when there are none)."""
    if not values:
        return None
    return Figure(statistics.median(values), min(values), max(values), len(values))
