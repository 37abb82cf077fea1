"""Sampling figures: score breakdown, evidence sparkline.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

__all__: list[str] = []
