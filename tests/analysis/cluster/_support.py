"""Helpers of the cluster tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cluster"
KEY_TERM = {"powerbank": "鼓包", "formula": "奶粉", "downjacket": "羽绒服", "hotel": "酒店",
            "cosmetics": "面霜"}


def cluster_of(result, planted: pd.DataFrame) -> dict[str, int]:
    """Planted group → the cluster holding most of it."""
    merged = planted[["complaint_id", "group"]].merge(result.assignments, on="complaint_id")
    return merged.groupby("group")["cluster_id"].agg(lambda s: s.mode().iloc[0]).to_dict()
