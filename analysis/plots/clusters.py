"""Cluster figures: 2-D map, platform heatmap, clusters over time.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

__all__: list[str] = []
