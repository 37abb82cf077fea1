"""The model registry: versions, diff, activate, rollback, staleness."""

import json

import pytest

from analysis import audit, cli, models
from analysis.enrich import ensure_enriched
from analysis.errors import UserError
from analysis.segment import Tokenizer
from analysis.store import Store
from tests.analysis.test_enrich import COMPLAINTS, enriched, insert, labelled_rows


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setattr(models, "MIN_LABELLED", 30)
    monkeypatch.setattr(models, "MIN_PER_CLASS", 10)


@pytest.fixture
def store(small_thresholds, tokenizer):
    with Store(":memory:") as s:
        insert(s, labelled_rows())
        insert(s, [("热水器安装师傅很专业", None, None, None, None),
                   ("这本书的作者文笔很好", None, None, None, None)], start=100)
        ensure_enriched(s, tokenizer=tokenizer)  # the first enrichment trains and activates version 1
        yield s


def test_first_version_with_cross_validated_f1(store):
    (v1,) = models.versions(store)
    assert (v1.version, v1.active, v1.trained_by, v1.n_train) == (1, True, "system", 36)
    assert v1.classes == ["化妆品", "图书文娱", "家用电器"]
    assert set(v1.cv_f1) == set(v1.classes)
    assert all(0.0 <= f <= 1.0 for f in v1.cv_f1.values())
    assert v1.cv_macro_f1 == pytest.approx(sum(v1.cv_f1.values()) / 3, abs=1e-3)
    assert audit.read(store)["action"].tolist() == ["model_train"]


def test_a_trained_version_waits_for_activation(store, tokenizer):
    v2 = models.train(store, tokenizer=tokenizer, user="wang")
    assert (v2.version, v2.active, v2.trained_by) == (2, False, "wang")
    assert models.active(store).version == 1
    insert(store, [("冰箱不制冷", None, None, None, None)], start=300, import_id=2)
    ensure_enriched(store, tokenizer=tokenizer)
    assert store.scalar("SELECT model_fingerprint FROM enrichment WHERE complaint_id = 'C0300'") == "model:v1"


def test_diff_counts_what_would_change_without_writing(store, tokenizer):
    with store.transaction() as cur:  # pretend one complaint was classified otherwise
        cur.execute("UPDATE enrichment SET category = '食品' WHERE complaint_id = 'C0100'")
    summary = models.diff(store, 1, tokenizer=tokenizer)
    assert (summary["complaints"], summary["changed"]) == (38, 1)
    assert summary["table"] == [{"from": "食品", "to": "家用电器", "n": 1}]
    assert summary["examples"] == ["C0100"]
    assert enriched(store).loc["C0100", "category"] == "食品"  # nothing written


def test_activate_reclassifies_records_and_rollback(store, tokenizer):
    with store.transaction() as cur:
        cur.execute("UPDATE enrichment SET category = '食品' WHERE complaint_id = 'C0100'")
    models.train(store, tokenizer=tokenizer, user="wang")
    summary = models.activate(store, 2, tokenizer=tokenizer, user="li")
    assert summary["changed"] >= 1 and "C0100" in summary["examples"]
    v2 = models.get(store, 2)
    assert (v2.active, v2.activated_by, v2.diff["changed"]) == (True, "li", summary["changed"])
    assert enriched(store).loc["C0100", "category"] == "家用电器"
    assert set(store.query("SELECT DISTINCT model_fingerprint FROM enrichment")["model_fingerprint"]) == {"model:v2"}
    log = audit.read(store)
    activation = log[log["action"] == "model_activate"]
    assert len(activation) == 1 and json.loads(activation["params_json"].iloc[0])["version"] == 2
    models.rollback(store, tokenizer=tokenizer, user="li")
    assert models.active(store).version == 1
    assert not store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'enrichment_activation'")


def test_rollback_without_an_earlier_version_and_unknown_version(store, tokenizer):
    with pytest.raises(UserError, match="没有可回退"):
        models.rollback(store, tokenizer=tokenizer)
    with pytest.raises(UserError, match="没有版本号为 9"):
        models.diff(store, 9, tokenizer=tokenizer)


def test_staleness_when_the_dictionary_or_taxonomy_changed(store, tokenizer):
    assert not models.staleness(store, tokenizer=tokenizer)["out_of_date"]
    with store.transaction() as cur:
        cur.execute("UPDATE model_versions SET dict_fp = 'older-dictionary'")
    state = models.staleness(store, tokenizer=tokenizer)
    assert (state["active"], state["dictionary_changed"], state["taxonomy_changed"], state["out_of_date"]) == (
        1, True, False, True)


def test_train_refuses_without_labels(tokenizer):
    with Store(":memory:") as s:
        insert(s, COMPLAINTS)
        ensure_enriched(s, tokenizer=tokenizer)
        with pytest.raises(UserError, match="带类别标签的太少"):
            models.train(s, tokenizer=tokenizer)


def test_cli_list_and_diff(tmp_path, tokenizer, small_thresholds, capsys):
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        insert(s, labelled_rows())
        ensure_enriched(s, tokenizer=tokenizer)
    assert cli.main(["model", "list", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["active"]) for r in rows] == [(1, True)]
    assert cli.main(["model", "diff", "1", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == 0
    assert cli.main(["model", "diff", "--db", str(db)]) == 2
    assert "需要版本号" in capsys.readouterr().err
