"""Figures of the 总览 page (KPI sparklines, top-10 bars with change).

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

__all__: list[str] = []
