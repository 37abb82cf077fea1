"""ensure_enriched on small stores built by direct INSERTs."""

import datetime as dt

import pandas as pd
import pytest

from analysis import enrich, models
from analysis.classify import SupervisedClassifier
from analysis.enrich import ensure_enriched
from analysis.models import training_plan
from analysis.errors import UserError
from analysis.segment import Tokenizer
from analysis.store import Store, text_hash

COMPLAINTS = [
    # text, category_raw, problem_raw, platform, merchant
    ("在天猫买的电热水壶用了三天就漏电，要求退款", None, None, "天猫", None),
    ("洗发水是假货，用完头皮痒", "化妆品类", None, None, "拼多多客户服务"),
    ("衣服尺码偏大，面料起球", None, "质量", "拼夕夕", None),
    ("手机屏幕碎了，联系13812345678", "通讯器材类", None, None, "京东自营旗舰店"),
    ("酒店房间很脏，前台态度差", None, None, None, None),
    ("好", None, None, None, None),
]


def insert(store: Store, rows, *, start: int = 0, import_id: int = 1) -> list[str]:
    """Insert complaints (text, category_raw, problem_raw, platform, merchant); returns their ids."""
    ids = []
    with store.transaction() as cur:
        for i, (text, cat, prob, platform, merchant) in enumerate(rows, start=start):
            cid = f"C{i:04d}"
            cur.execute(
                "INSERT INTO complaints (complaint_id, received_at, text, platform, merchant, category_raw, "
                "problem_raw, content_hash, text_hash, import_id, source_row) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [cid, dt.datetime(2024, 11, 1) + dt.timedelta(hours=i), text, platform, merchant, cat, prob,
                 text_hash(cid + text), text_hash(text), import_id, i + 2])
            ids.append(cid)
    return ids


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


@pytest.fixture
def store():
    with Store(":memory:") as s:
        yield s


def enriched(store: Store) -> pd.DataFrame:
    return store.query("SELECT * FROM complaints_enriched ORDER BY complaint_id").set_index("complaint_id")


def test_enriches_every_complaint_once(store, tokenizer):
    insert(store, COMPLAINTS)
    calls = []
    stats = ensure_enriched(store, tokenizer=tokenizer, progress=lambda d, t: calls.append((d, t)))
    assert (stats["tokenized"], stats["classified"], stats["model"]) == (6, 6, "none")
    assert calls[-1] == (6, 6)
    assert store.count("enrichment") == 6
    view = enriched(store)
    assert view["category"].tolist() == ["家用电器", "化妆品", "服装鞋帽", "消费类电子产品", "旅游住宿", "未分类"]
    assert view["category_source"].tolist() == ["rule", "export", "rule", "export", "rule", "none"]
    assert view["problem"].tolist()[:3] == ["安全隐患", "假冒伪劣与商标侵权", "商品质量"]
    assert view["severity"].tolist()[:3] == [4, 3, 3]
    assert view["platform_norm"].tolist() == ["天猫", "拼多多", "拼多多", "京东", "其他平台", "其他平台"]
    assert view.loc["C0002", "problem_evidence"] == "导出列:质量"
    again = ensure_enriched(store, tokenizer=tokenizer)
    assert (again["tokenized"], again["classified"]) == (0, 0)
    assert again["fingerprint"] == stats["fingerprint"]


def test_open_for_analysis_enriches_once_per_store_state(tmp_path, tokenizer, monkeypatch):
    runs = []
    real = enrich.ensure_enriched
    monkeypatch.setattr(enrich, "ensure_enriched", lambda *a, **k: runs.append(real(*a, **k)))
    path = tmp_path / "once.duckdb"
    with Store(path) as s:
        insert(s, COMPLAINTS[:3])
        assert enrich.open_for_analysis(s, tokenizer=tokenizer) is s
        assert [r["classified"] for r in runs] == [3]
        enrich.open_for_analysis(s, tokenizer=tokenizer)
        assert len(runs) == 1  # same state: skipped
        insert(s, COMPLAINTS[3:], start=3, import_id=2)
        s.con.execute("INSERT INTO imports (import_id, file_name, sha256, imported_at, rows_read, imported, "
                      "quarantined, duplicates, conflicts) VALUES (2, 'f', 's', now(), 3, 3, 0, 0, 0)")
        enrich.open_for_analysis(s, tokenizer=tokenizer)
        assert [r["classified"] for r in runs] == [3, 3]  # a new import
        enrich.open_for_analysis(s, tokenizer=tokenizer)
        assert len(runs) == 2
        s.con.execute("INSERT INTO cluster_edits VALUES ('x', 'y', 'hide', '1', now())")
        enrich.open_for_analysis(s, tokenizer=tokenizer)
        assert len(runs) == 2  # an analyst's edit changes no complaint
    with enrich.open_for_analysis(path, tokenizer=tokenizer) as opened:  # a path: opened, checked once
        assert [r["classified"] for r in runs] == [3, 3, 0]
        assert opened.count("enrichment") == 6
    with Store(path, read_only=True) as ro:  # nothing can be written: read as it is
        assert enrich.open_for_analysis(ro, tokenizer=tokenizer) is ro
        assert len(runs) == 3


def test_enriched_after_an_import_is_ready_for_analysis(store, tokenizer, monkeypatch):
    insert(store, COMPLAINTS)
    ensure_enriched(store, tokenizer=tokenizer)  # what an import does right after
    monkeypatch.setattr(enrich, "ensure_enriched", lambda *a, **k: pytest.fail("enriched twice"))
    enrich.open_for_analysis(store, tokenizer=tokenizer)


def test_new_rows_changed_texts_and_orphans_only(store, tokenizer):
    insert(store, COMPLAINTS)
    ensure_enriched(store, tokenizer=tokenizer)
    insert(store, [("京东买的冰箱不制冷", None, None, None, None)], start=10, import_id=2)
    assert ensure_enriched(store, tokenizer=tokenizer)["classified"] == 1
    with store.transaction() as cur:  # rows classified under other rules stay as they are
        cur.execute("UPDATE enrichment SET model_fingerprint = 'old', category = 'x' WHERE complaint_id IN ('C0000', 'C0001')")
        new_text = "药店买的感冒药过期了"
        cur.execute("UPDATE complaints SET text = ?, text_hash = ? WHERE complaint_id = 'C0004'", [new_text, text_hash(new_text)])
        cur.execute("DELETE FROM complaints WHERE complaint_id = 'C0005'")
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert (stats["tokenized"], stats["classified"]) == (1, 1)
    view = enriched(store)
    assert view.loc["C0000", "category"] == "x"  # kept: only activating a model version reclassifies
    assert view.loc["C0004", "category"] == "药品"
    assert view.loc["C0010", "category"] == "家用电器"
    assert store.count("enrichment") == store.count("complaints") == 6
    assert store.scalar("SELECT count(DISTINCT complaint_id) FROM enrichment") == 6


def test_interrupted_run_publishes_nothing_and_resumes(store, tokenizer, monkeypatch):
    insert(store, [(f"第{i}次买的电饭煲坏了", None, None, None, None) for i in range(12)])
    calls = []

    def failing(frame, **kwargs):
        calls.append(len(frame))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second chunk
        return enrich.classify_complaints(frame, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        ensure_enriched(store, tokenizer=tokenizer, chunk_size=5, classify=failing)
    assert store.count("enrichment") == 0  # nothing half-classified
    assert store.count("enrichment_pending") == 5
    stats = ensure_enriched(store, tokenizer=tokenizer, chunk_size=5)
    assert stats["classified"] == 7  # the staged chunk is not classified again
    assert store.count("enrichment") == 12 and store.count("enrichment_pending") == 0


def test_chunks_and_progress(store, tokenizer):
    rows = [(f"第{i}次买的电饭煲坏了", None, None, None, None) for i in range(23)]
    insert(store, rows)
    calls = []
    stats = ensure_enriched(store, tokenizer=tokenizer, chunk_size=5, progress=lambda d, t: calls.append((d, t)))
    assert stats["classified"] == 23
    # segmentation (one chunk), then classification in chunks of 5
    assert calls == [(0, 23), (23, 23), (0, 23), (5, 23), (10, 23), (15, 23), (20, 23), (23, 23)]
    assert (enriched(store)["category"] == "家用电器").all()


def test_read_only_store_is_refused(tmp_path, tokenizer):
    path = tmp_path / "s.duckdb"
    with Store(path) as s:
        insert(s, COMPLAINTS[:1])
    with Store(path, read_only=True) as ro:
        with pytest.raises(UserError, match="只读"):
            ensure_enriched(ro, tokenizer=tokenizer)


def test_empty_store(store, tokenizer):
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert (stats["tokenized"], stats["classified"], stats["model"]) == (0, 0, "none")


# -- the supervised model ---------------------------------------------------------------------------
LABELLED = {
    "家用电器类": ["热水器安装师傅上门很快，加热快", "热水器漏水，安装费太贵", "冰箱制冷效果一般", "洗衣机噪音太大",
               "空调不制冷，师傅上门修了两次", "热水器加热慢，保温差"],
    "化妆品类": ["洗发水味道很香，头发顺滑", "面膜补水效果好", "洗发水去屑效果不明显，头皮痒", "口红颜色好看",
              "洗发水像假货，头发干涩", "乳液用了过敏，脸红"],
    "图书": ["这本书作者写得很好", "书的印刷质量差，纸张薄", "小说情节精彩", "内容空洞，作者没水平",
           "绘本孩子很喜欢", "教材印刷模糊"],
}


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setattr(models, "MIN_LABELLED", 30)
    monkeypatch.setattr(models, "MIN_PER_CLASS", 10)


def labelled_rows(copies: int = 2):
    rows = []
    for raw, texts in LABELLED.items():
        for k in range(copies):
            rows.extend((f"{t}（第{k}单）", raw, None, None, None) for t in texts)
    return rows


def test_model_trained_from_labels_then_reused(store, tokenizer, small_thresholds):
    insert(store, labelled_rows())
    unlabelled = insert(store, [("热水器安装师傅很专业", None, None, None, None),
                                ("这本书的作者文笔很好", None, None, None, None)], start=100)
    plan = training_plan(store, tokenizer=tokenizer)
    assert plan["classes"] == ["化妆品", "图书文娱", "家用电器"]
    assert plan["counts"] == {"家用电器": 12, "化妆品": 12, "图书文娱": 12}
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert (stats["model"], stats["n_train"], stats["classified"]) == ("trained", 36, 38)
    assert stats["model_classes"] == ["化妆品", "图书文娱", "家用电器"]
    view = enriched(store)
    assert view.loc[unlabelled, "category"].tolist() == ["家用电器", "图书文娱"]
    assert set(view.loc[unlabelled, "category_source"]) <= {"model", "rule"}
    assert (view.loc[view["category_raw"].notna(), "category_source"] == "export").all()
    assert [v.version for v in models.versions(store)] == [1] and models.active(store).version == 1
    assert ensure_enriched(store, tokenizer=tokenizer)["model"] == "active"
    # a later labelled import trains nothing and reclassifies nothing: only the new complaint
    before = enriched(store)["category"]
    insert(store, [("电饭煲煮饭很香", "家用电器类", None, None, None)], start=200, import_id=2)
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert (stats["model"], stats["model_version"], stats["classified"]) == ("active", 1, 1)
    assert len(models.versions(store)) == 1
    assert enriched(store)["category"].loc[before.index].equals(before)


def test_copies_of_one_text_do_not_make_a_class(store, tokenizer, small_thresholds):
    rows = [r for r in labelled_rows(copies=3) if r[1] != "图书"]
    rows += [("书的印刷质量差", "图书", None, None, None)] * 12  # 12 complaints, one distinct text
    insert(store, rows)
    plan = training_plan(store, tokenizer=tokenizer)
    assert plan["classes"] == ["化妆品", "家用电器"]
    assert plan["counts"]["图书文娱"] == 12  # still counted as complaints
    assert ensure_enriched(store, tokenizer=tokenizer)["model"] == "trained"


def test_too_few_labels_train_nothing(store, tokenizer, small_thresholds):
    insert(store, labelled_rows(copies=1))  # 6 per class < 10
    assert training_plan(store, tokenizer=tokenizer) is None
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert stats["model"] == "none" and models.versions(store) == []
    assert set(store.query("SELECT DISTINCT model_fingerprint FROM enrichment")["model_fingerprint"]) == {
        models.classifier_fingerprint(store, enrich.RuleClassifier(enrich.load_taxonomy()))}


def test_labels_arriving_later_train_nothing_silently(store, tokenizer, small_thresholds):
    insert(store, COMPLAINTS)
    ensure_enriched(store, tokenizer=tokenizer)
    insert(store, labelled_rows(), start=10, import_id=2)  # enough labels now: still no model
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert stats["model"] == "none" and models.versions(store) == []


def test_a_legacy_saved_model_becomes_version_1(store, tokenizer):
    SupervisedClassifier(min_df=1).fit(["a b", "c d", "e f", "g h", "i j", "k l"], ["x", "y"] * 3).save(store)
    insert(store, COMPLAINTS[:1])
    assert ensure_enriched(store, tokenizer=tokenizer)["model_version"] == 1
    assert models.active(store).trained_by == "migrated"


def test_stored_evidence_holds_no_raw_phone_or_id_numbers(store, tokenizer, small_thresholds, monkeypatch):
    phone, card_id = "13812345678", "310104199001011233"
    rows = labelled_rows()
    rows = [(f"{t}，电话{phone}，身份证{card_id}" if raw == "家用电器类" else t, raw, p, pl, m)
            for t, raw, p, pl, m in rows]
    insert(store, rows)
    (cid,) = insert(store, [(f"热水器 {phone} {card_id}", None, None, None, "某店")], start=100)
    stats = ensure_enriched(store, tokenizer=tokenizer)
    assert stats["model"] == "trained"
    evidence = " ".join(store.query("SELECT category_evidence || ' ' || problem_evidence AS e FROM enrichment")["e"])
    assert phone not in evidence and card_id not in evidence
    assert enriched(store).loc[cid, "category"] == "家用电器"


def test_content_free_reviews_stay_unclassified_with_a_trained_model(store, tokenizer, small_thresholds):
    # an export whose catch-all class holds the praise: the model learns that 好评 means 其他商品
    praise = ["物流很快，很满意，好评", "好评，谢谢卖家", "满意，物流快", "五星好评", "很满意的一次购物", "发货快，好评"]
    insert(store, labelled_rows() + [(f"{t}（第{k}单）", "其他商品", None, None, None) for t in praise for k in range(2)])
    reviews = insert(store, [("物流快，很满意", None, None, None, None), ("还不错，好评！", None, None, None, None),
                             ("热水器安装师傅很专业", None, None, None, None)], start=100)
    assert ensure_enriched(store, tokenizer=tokenizer)["model_classes"] == ["其他", "化妆品", "图书文娱", "家用电器"]
    model = models.load_model(store, models.active(store).version)
    alone = model.predict([" ".join(tokenizer.cut(t)) for t in ("物流快，很满意", "还不错，好评！")])
    assert alone["category"].tolist() == ["其他", "其他"]  # what the model alone would say
    view = enriched(store)
    assert view.loc[reviews, "category"].tolist() == ["未分类", "未分类", "家用电器"]
    assert view.loc[reviews, "category_source"].tolist() == ["none", "none", "model"]
    counted = store.query("SELECT category, count(*) AS n FROM complaints_enriched WHERE complaint_id IN "
                          "(SELECT unnest(?::VARCHAR[])) GROUP BY 1 ORDER BY 1", [reviews])
    assert dict(zip(counted["category"], counted["n"])) == {"家用电器": 1, "未分类": 2}
