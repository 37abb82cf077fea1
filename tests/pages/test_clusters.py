"""聚类探索 page through app.py's navigation, on the planted cluster fixture (tests/fixtures/cluster)."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.store import Store
from tests.fixtures.cluster.store_fixture import fill_store
from tests.pages._support import clear_caches

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PLANTED = Path(__file__).resolve().parents[1] / "fixtures" / "cluster" / "planted.csv"


@pytest.fixture
def filled(db):
    with Store(db) as store:
        fill_store(store, pd.read_csv(PLANTED, dtype={"complaint_id": str}))
    return db


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/clusters.py")
    return at.run()


def pick(at: AppTest, term: str) -> AppTest:
    """Select the cluster whose option text holds ``term`` in the drill-down picker."""
    picker = at.selectbox(key="cl_selected")
    text = next(text for text in picker.options if term in text)
    return picker.select(int(text.split()[0].lstrip("#"))).run()  # options read "#<id> <label>…"


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def query(db: Path, sql: str) -> pd.DataFrame:
    store = Store(db)  # same configuration as the page's open connection
    try:
        return store.query(sql)
    finally:
        store.close()


def test_empty_store_shows_the_welcome(db):
    at = open_page()
    assert not at.exception
    assert "还没有投诉数据" in at.info[0].value
    assert not at.dataframe


def test_clusters_table_map_and_drill_down(filled):
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "聚类探索"
    assert metrics(at) == {"投诉数": "150", "聚类数": "5", "杂项": "0.0%", "隐藏的聚类": "0"}
    table = at.dataframe[0].value
    assert table["size"].tolist() == [30] * 5
    assert {"鼓包", "奶粉", "羽绒服", "酒店", "面霜"} <= set(" ".join(table["keywords"]).split())
    hotel = table[table["keywords"].str.contains("酒店")].iloc[0]
    assert (hotel["latest"], hotel["previous"]) == (15, 6)
    assert hotel["growth"] == pytest.approx(1.5)
    assert len(at.get("plotly_chart")) == 4
    # drill-down into the power-bank cluster: masked texts, representatives first
    at = pick(at, "鼓包")
    members = at.dataframe[1].value
    assert len(members) == 30 and members["representative"].iloc[:5].all()
    assert not members["text"].str.contains("13812345678").any()
    assert members["text"].str.contains(r"138\*\*\*\*5678").any()


def test_scope_with_too_few_complaints_gets_a_message(filled):
    at = open_page()
    at = at.selectbox(key="cl_platform").select("小红书").run()
    assert not at.exception
    assert "10 条" in at.warning[0].value and "少于 30 条" in at.warning[0].value
    assert not at.dataframe


def test_k_override(filled):
    at = open_page()
    at = at.selectbox(key="cl_k").select(3).run()
    assert not at.exception
    assert metrics(at)["聚类数"] == "3"
    assert sorted(at.dataframe[0].value["size"]) in ([30, 30, 90], [30, 60, 60])


def test_rename_hide_and_sampling_are_stored(filled):
    at = open_page()
    at = pick(at, "酒店")
    at.text_input(key="cl_rename_text").input("酒店超售")
    at = at.button(key="cl_rename").click().run()
    assert not at.exception
    assert "重命名为「酒店超售」" in at.success[0].value
    assert "酒店超售" in at.dataframe[0].value["label"].tolist()

    at = at.button(key="cl_sample").click().run()
    assert "2 个商品加入抽检候选清单" in at.success[0].value
    at = at.button(key="cl_hide").click().run()
    assert not at.exception
    assert metrics(at)["隐藏的聚类"] == "1"
    assert "酒店超售" not in at.dataframe[0].value["label"].tolist()
    at = at.toggle(key="cl_show_hidden").set_value(True).run()
    assert "酒店超售（已隐藏）" in at.dataframe[0].value["label"].tolist()

    edits = query(filled, "SELECT action, value FROM cluster_edits ORDER BY edited_at")
    assert edits.values.tolist() == [["rename", "酒店超售"], ["hide", "1"]]
    log = query(filled, "SELECT user_id, action, json_extract_string(params_json, '$.edit') AS edit, "
                        "coalesce(json_extract_string(params_json, '$.value'), '—') AS value FROM audit_log "
                        "ORDER BY event_id")
    assert log.values.tolist() == [["local", "cluster_edit", "rename", "酒店超售"],
                                   ["local", "cluster_edit", "sample", "—"], ["local", "cluster_edit", "hide", "—"]]
    candidates = query(filled, "SELECT product, platform, source FROM sampling_candidates ORDER BY product")
    assert candidates["product"].tolist() == ["如家酒店大床房", "汉庭酒店标准间"]
    assert (candidates["platform"] == "携程").all()
    assert candidates["source"].str.startswith("聚类：酒店超售").all()


def test_merge_from_the_page(filled):
    at = open_page()
    at = pick(at, "鼓包")
    sources = at.multiselect(key="cl_merge_sources")
    formula = next(c for c in sources.options if "奶粉" in c)
    at = sources.select(formula).run()
    at = at.button(key="cl_merge").click().run()
    assert not at.exception
    assert "已把 1 个聚类并入" in at.success[0].value
    assert metrics(at)["聚类数"] == "4"
    assert sorted(at.dataframe[0].value["size"]) == [30, 30, 30, 60]


def test_whole_period_is_left_open_so_the_built_run_is_read():
    import datetime as dt

    from ui.clusters import open_period

    opts = {"first": dt.date(2016, 1, 1), "last": dt.date(2017, 12, 31)}
    assert open_period(dt.date(2016, 1, 1), dt.date(2017, 12, 31), opts) == (None, None)
    assert open_period(dt.date(2017, 11, 1), dt.date(2017, 12, 31), opts) == (dt.date(2017, 11, 1), None)
    assert open_period(dt.date(2016, 1, 1), dt.date(2017, 11, 30), opts) == (None, dt.date(2017, 11, 30))
    assert open_period(None, None, {"first": None, "last": None}) == (None, None)


def test_density_clusterer_from_the_page(filled):
    at = open_page()
    assert not at.selectbox(key="cl_k").disabled
    at = at.selectbox(key="cl_method").select("hdbscan").run()
    assert not at.exception
    assert at.selectbox(key="cl_k").disabled
    assert int(metrics(at)["聚类数"]) >= 5
    table = at.dataframe[0].value
    assert table["size"].sum() == 150  # every complaint in a cluster or in 杂项
    assert query(filled, "SELECT count(*) AS n FROM cluster_runs")["n"].iloc[0] == 2  # k-means, then HDBSCAN
    # an edit made under HDBSCAN goes through the same scope's edits
    at = pick(at, "酒店")
    at = at.button(key="cl_hide").click().run()
    assert not at.exception and metrics(at)["隐藏的聚类"] == "1"


def test_names_are_masked_and_never_markup(db):
    import json
    import re

    planted = pd.read_csv(PLANTED, dtype={"complaint_id": str})
    hotel = planted["group"] == "hotel"
    planted.loc[hotel, "product"] = "如家酒店**大床房**13812345678"
    planted.loc[hotel, "merchant"] = "<a href='http://e.com'>身份证310104199001011233</a>"
    with Store(db) as store:
        fill_store(store, planted)
    at = open_page()
    assert not at.exception
    table = at.dataframe[0].value
    products = " ".join(table["products"]) + " ".join(table["merchants"])
    assert "13812345678" not in products and "310104199001011233" not in products
    assert "如家酒店**大床房**138****5678（30）" in products
    at = pick(at, "酒店")
    captions = "\n".join(c.value for c in at.caption)
    assert "主要商品：如家酒店\\*\\*大床房\\*\\*138\\*\\*\\*\\*5678（30）" in captions  # escaped: shown literally
    assert "\\<a href\\=" in captions and not re.search(r"(?<!\\)<a", captions)
    members = at.dataframe[1].value
    assert not members["product"].str.contains("13812345678").any()
    assert not members["merchant"].str.contains("310104199001011233").any()
    for chart in at.get("plotly_chart"):
        spec = chart.proto.spec
        assert "13812345678" not in spec and "310104199001011233" not in spec
        assert "<a href" not in json.dumps(json.loads(spec)["data"], ensure_ascii=False)


# -- issue 15 item 2: each edit shows at once, survives a reload, and the clear button clears ----------

def labels(at: AppTest) -> list[str]:
    return at.dataframe[0].value["label"].tolist()


def test_rename_after_a_merge_lands_on_the_cluster_on_screen(filled):
    at = pick(open_page(), "酒店")
    hotel = at.selectbox(key="cl_selected").value
    sources = at.multiselect(key="cl_merge_sources")
    at = sources.select(next(o for o in sources.options if "面霜" in o)).run()
    at = at.button(key="cl_merge").click().run()
    assert not at.exception
    assert at.selectbox(key="cl_selected").value == hotel  # the merged cluster stays on screen
    at.text_input(key="cl_rename_text").input("酒店与面霜")
    at = at.button(key="cl_rename").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    renamed = table[table["label"] == "酒店与面霜"]
    assert len(renamed) == 1 and int(renamed["cluster_id"].iloc[0]) == hotel
    assert int(renamed["size"].iloc[0]) == 60
    # a reload (fresh session, fresh caches) shows the same state
    clear_caches()
    at = open_page()
    table = at.dataframe[0].value
    assert table.loc[table["label"] == "酒店与面霜", "size"].tolist() == [60]
    assert metrics(at)["聚类数"] == "4"


def test_hide_hides_at_once_and_after_reload(filled):
    at = pick(open_page(), "奶粉")
    at = at.button(key="cl_hide").click().run()
    assert not at.exception
    assert metrics(at)["隐藏的聚类"] == "1"
    assert not any("奶粉" in label for label in labels(at))
    clear_caches()
    at = open_page()
    assert metrics(at)["隐藏的聚类"] == "1"


def test_clear_clears_and_new_edits_do_not_bring_old_ones_back(filled):
    at = pick(open_page(), "酒店")
    at.text_input(key="cl_rename_text").input("酒店超售")
    at = at.button(key="cl_rename").click().run()
    at = at.button(key="cl_hide").click().run()
    assert metrics(at)["隐藏的聚类"] == "1"
    at = at.button(key="cl_reset").click().run()
    assert not at.exception
    assert metrics(at)["隐藏的聚类"] == "0" and "酒店超售" not in labels(at)
    # two new edits on another cluster: the cleared ones stay cleared
    at = pick(at, "奶粉")
    at.text_input(key="cl_rename_text").input("奶粉结块")
    at = at.button(key="cl_rename").click().run()
    at = pick(at, "奶粉结块")
    at.text_input(key="cl_rename_text").input("奶粉变质")
    at = at.button(key="cl_rename").click().run()
    assert not at.exception
    shown = labels(at)
    assert "奶粉变质" in shown and "奶粉结块" not in shown and "酒店超售" not in shown
    assert metrics(at)["隐藏的聚类"] == "0"


@pytest.fixture
def twins(filled):
    """The planted store after a first visit, its stored run rewritten so that clusters share label
    terms (#1 and #2 labelled like #0) and one has none (#3): what real scopes with many similar
    clusters look like. Edits must still land on the cluster on screen."""
    open_page()
    store = Store(filled)
    try:
        import json

        for run_id, payload in store.query("SELECT run_id, clusters_json FROM cluster_runs").values:
            data = json.loads(payload)
            rows = {c["cluster_id"]: c for c in data["clusters"]}
            for cid in (1, 2):
                rows[cid]["label_terms"] = list(rows[0]["label_terms"])
                rows[cid]["match_keys"] = list(rows[0]["match_keys"])
                rows[cid]["label"] = f"{rows[0]['label']}·{cid}"
            rows[3]["label_terms"], rows[3]["match_keys"], rows[3]["label"] = [], [""], "聚类 4"
            with store.transaction() as cur:
                cur.execute("UPDATE cluster_runs SET clusters_json = ? WHERE run_id = ?",
                            [json.dumps(data, ensure_ascii=False), run_id])
    finally:
        store.close()
    clear_caches()
    return filled


def test_edits_land_on_the_chosen_cluster_when_labels_look_alike(twins):
    at = open_page()
    at = at.selectbox(key="cl_selected").select(2).run()
    at.text_input(key="cl_rename_text").input("第三个")
    at = at.button(key="cl_rename").click().run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("cluster_id")
    assert table.loc[2, "label"] == "第三个"
    assert "第三个" not in (table.loc[0, "label"], table.loc[1, "label"])
    # merge #1 into #2, then rename what is on screen (#2): the name stays on #2, not #0
    sources = at.multiselect(key="cl_merge_sources")
    at = sources.select(next(o for o in sources.options if o.startswith("#1 "))).run()
    at = at.button(key="cl_merge").click().run()
    assert at.selectbox(key="cl_selected").value == 2
    at.text_input(key="cl_rename_text").input("合并后")
    at = at.button(key="cl_rename").click().run()
    table = at.dataframe[0].value.set_index("cluster_id")
    assert table.loc[2, "label"] == "合并后" and table.loc[2, "size"] == 60
    assert 1 not in table.index and table.loc[0, "label"] != "合并后"


def test_hiding_a_cluster_without_label_terms_hides_it(twins):
    at = open_page()
    at = at.selectbox(key="cl_selected").select(3).run()
    at = at.button(key="cl_hide").click().run()
    assert not at.exception
    assert metrics(at)["隐藏的聚类"] == "1"
    assert 3 not in at.dataframe[0].value["cluster_id"].tolist()
    clear_caches()
    assert metrics(open_page())["隐藏的聚类"] == "1"


def test_new_complaints_join_the_clusters_and_recluster_on_request(filled):
    """Issue 13.3: an import keeps the clusters (and their names); the page says how many came in
    since and offers 重新聚类, after which the names carry over."""
    at = pick(open_page(), "酒店")
    at.text_input(key="cl_rename_text").input("酒店超售")
    at = at.button(key="cl_rename").click().run()
    planted = pd.read_csv(PLANTED, dtype={"complaint_id": str})
    extra = planted[planted["group"] == "hotel"].assign(
        complaint_id=lambda d: "N" + d["complaint_id"], received_at="2024-06-27 10:00:00")
    with Store(filled) as store:
        fill_store(store, extra, import_id=2)
    clear_caches()
    at = open_page()
    assert not at.exception
    assert any("本范围自上次聚类新增 30 件（20%），建议重新聚类" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert table.loc[table["label"] == "酒店超售", "size"].tolist() == [60]
    at = at.button(key="cl_recluster").click().run()
    assert not at.exception
    assert "已重新聚类" in at.success[0].value
    assert not any("新增" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert table.loc[table["label"] == "酒店超售", "size"].tolist() == [60]


def test_the_scope_is_in_the_address(filled):
    """Issue 15 item 8: a shared link opens the same scope; a scope change is written into the address."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"cl_plat": "京东", "cl_k": "3"})
    at.switch_page("pages/clusters.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="cl_platform").value == "京东" and at.selectbox(key="cl_k").value == 3
    assert at.query_params["cl_plat"] == "京东" and at.query_params["cl_k"] == "3"
    at.selectbox(key="cl_k").set_value("自动").run()
    assert "cl_k" not in at.query_params and at.query_params["cl_plat"] == "京东"


def test_a_missing_product_or_merchant_reads_a_dash(db):
    """Issue 15 item 7: the members table shows —, never None, for a complaint without a product or shop."""
    planted = pd.read_csv(PLANTED, dtype={"complaint_id": str})
    hotel = planted["group"] == "hotel"
    for column in ("product", "merchant"):  # NULL in the store, as an export without the cell gives it
        planted[column] = planted[column].astype(object).where(~hotel, None)
    with Store(db) as store:
        fill_store(store, planted)
    at = pick(open_page(), "酒店")
    assert not at.exception
    members = at.dataframe[1].value
    assert (members["product"] == "—").any() and (members["merchant"] == "—").any()
    assert not members[["product", "merchant"]].isna().any().any()
