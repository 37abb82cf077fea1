"""Trend figures: promotion bands, alarms, year-over-year overlay, small multiples, lift bars.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

__all__: list[str] = []
