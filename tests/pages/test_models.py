"""模型管理 page (管理员) through app.py's navigation."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis import models
from analysis.enrich import ensure_enriched
from analysis.segment import Tokenizer
from analysis.store import Store
from tests.analysis.test_enrich import insert, labelled_rows

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_models() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/models.py")
    return at.run()


def test_versions_diff_and_staleness(db, monkeypatch):
    monkeypatch.setattr(models, "MIN_LABELLED", 30)
    monkeypatch.setattr(models, "MIN_PER_CLASS", 10)
    with Store(db) as store:
        insert(store, labelled_rows())
        ensure_enriched(store, tokenizer=Tokenizer())  # version 1, active
        with store.transaction() as cur:
            cur.execute("UPDATE model_versions SET dict_fp = 'older-dictionary'")
            cur.execute("UPDATE enrichment SET category = '食品' WHERE complaint_id = 'C0000'")
    at = open_models()
    assert not at.exception
    assert at.title[0].value == "模型管理"
    table = at.dataframe[0].value
    assert table["版本"].tolist() == [1] and table["当前使用"].tolist() == ["是"]
    assert any("模型已过时" in w.value for w in at.warning)
    assert any("将改变 1 件投诉的类别" in m.value for m in at.markdown)
    at.button(key="mdl_activate").click().run()
    assert not at.exception
    with Store(db) as store:
        assert store.scalar("SELECT category FROM enrichment WHERE complaint_id = 'C0000'") != "食品"
        assert models.get(store, 1).activated_by is not None
