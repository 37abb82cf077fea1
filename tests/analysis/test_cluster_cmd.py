"""``python -m analysis cluster``: names shown are masked (product, brand, merchant, label terms)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cluster"
PHONE, CARD_ID = "13812345678", "310104199001011233"


def test_cluster_json_and_table_mask_names(tmp_path, capsys):
    from analysis.cli import main

    planted = pd.read_csv(FIXTURES / "planted.csv", dtype={"complaint_id": str})
    hotel = planted["group"] == "hotel"
    # A complainant typed a phone number into the product name and an ID number into the merchant.
    planted.loc[hotel, "product"] = planted.loc[hotel, "product"] + PHONE
    planted.loc[hotel, "merchant"] = "身份证" + CARD_ID
    headers = {"complaint_id": "投诉编号", "received_at": "登记时间", "text": "投诉内容",
               "product": "商品名称", "brand": "品牌", "merchant": "被投诉方", "platform": "涉及平台"}
    export = tmp_path / "planted.csv"
    planted[list(headers)].rename(columns=headers).to_csv(export, index=False, encoding="utf-8")
    db = tmp_path / "cli.duckdb"
    assert main(["import", str(export), "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["cluster", "--db", str(db), "--json"]) == 0
    out = capsys.readouterr().out
    assert PHONE not in out and CARD_ID not in out
    payload = json.loads(out)
    hotel_cluster = next(c for c in payload["clusters"] if "酒店" in c["label_terms"])
    assert hotel_cluster["top_products"][0]["name"] == "如家酒店大床房138****5678"
    assert hotel_cluster["top_merchants"][0]["name"] == "身份证3101**********1233"
    assert main(["cluster", "--db", str(db), "--platform", "携程", "--k", "2"]) == 0
    text = capsys.readouterr().out
    assert "如家酒店大床房138****5678" in text and PHONE not in text
