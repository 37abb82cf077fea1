"""Figures of the 数据导入 page and the first overview (counts by month, category, platform, district).

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

__all__: list[str] = []
