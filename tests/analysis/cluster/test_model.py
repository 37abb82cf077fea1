"""analysis.cluster.model: the topic model on planted groups and real reviews, bad input, 杂项, replaceable steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis import cluster
from analysis.cluster import MISC_ID, TopicModel, cluster_complaints
from analysis.cluster.model import loose
from analysis.errors import UserError
from tests.analysis.cluster._support import FIXTURES, KEY_TERM, cluster_of


# --------------------------------------------------------------------------- recovery and labels
@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_planted_groups_are_recovered(planted, seed):
    result = cluster_complaints(planted["tokens"], metadata=planted, random_state=seed)
    assert result.n_clusters == 5
    assert result.params["clusterer__n_clusters"] is None and result.k_scores is not None
    ari = adjusted_rand_score(planted["group"], result.assignments["cluster_id"])
    assert ari >= 0.9


def test_labels_contain_the_planted_terms(planted, planted_result):
    clusters = planted_result.clusters.set_index("cluster_id")
    for group, cid in cluster_of(planted_result, planted).items():
        assert KEY_TERM[group] in clusters.loc[cid, "label_terms"][:5], group
        assert KEY_TERM[group] in clusters.loc[cid, "label"] or group == "powerbank"
    powerbank = clusters.loc[cluster_of(planted_result, planted)["powerbank"], "label_terms"]
    assert {"鼓包", "起火", "电芯", "发烫"} <= set(powerbank)
    # boilerplate shared by every group never labels a cluster
    for terms in clusters["label_terms"]:
        assert "客服" not in terms and "退款" not in terms[:3]


def test_cluster_table_hand_computed(planted, planted_result):
    table = planted_result.clusters
    assert table["size"].tolist() == [30, 30, 30, 30, 30]
    assert table["share"].tolist() == [0.2] * 5
    assert table["cluster_id"].tolist() == [0, 1, 2, 3, 4]
    rows = table.set_index("cluster_id")
    groups = cluster_of(planted_result, planted)
    assert rows.loc[groups["powerbank"], "top_products"] == [
        ["罗马仕充电宝20000毫安", 14], ["小米移动电源3", 10], ["品胜快充充电宝", 6]]
    assert rows.loc[groups["hotel"], "top_brands"] == [["如家", 18], ["汉庭", 12]]
    assert rows.loc[groups["downjacket"], "top_merchants"] == [["鸭鸭服饰专营店", 20],
                                                              ["波司登折扣店", 10]]
    for cid, group in ((v, k) for k, v in groups.items()):
        reps = rows.loc[cid, "representative_ids"]
        assert len(reps) == 5
        assert set(planted.loc[planted["complaint_id"].isin(reps), "group"]) == {group}
        assert 0.3 < rows.loc[cid, "coherence"] <= 1.0


def test_deterministic_given_random_state(planted):
    first = cluster_complaints(planted["tokens"], metadata=planted, random_state=3)
    second = cluster_complaints(planted["tokens"], metadata=planted, random_state=3)
    pd.testing.assert_frame_equal(first.assignments, second.assignments)
    assert first.clusters["label"].tolist() == second.clusters["label"].tolist()


def test_k_override_keeps_groups_whole(planted):
    result = cluster_complaints(planted["tokens"], metadata=planted, n_clusters=3, random_state=0)
    assert result.n_clusters == 3 and result.k_scores is None
    merged = planted.merge(result.assignments, on="complaint_id")
    assert (merged.groupby("group")["cluster_id"].nunique() == 1).all()
    assert sorted(result.clusters["size"]) in ([30, 30, 90], [30, 60, 60])


def test_real_reviews_four_categories():
    real = pd.read_csv(FIXTURES / "real_reviews.csv", dtype={"complaint_id": str})
    for seed in (0, 1, 2):
        result = cluster_complaints(real["tokens"], metadata=real, random_state=seed)
        assert result.n_clusters == 4
        assert adjusted_rand_score(real["cat"], result.assignments["cluster_id"]) >= 0.65
        terms = " ".join(" ".join(t[:3]) for t in result.clusters["label_terms"])
        for word in ("酒店", "蒙牛", "洗发水"):
            assert word in terms


# --------------------------------------------------------------------------- bad input
def test_too_few_complaints_gives_a_message_not_an_error(planted):
    result = cluster_complaints(planted["tokens"][:29], metadata=planted.iloc[:29])
    assert result.too_few and result.n_clusters == 0
    assert "29 条" in result.message and "少于 30 条" in result.message
    assert (result.assignments["cluster_id"] == MISC_ID).all() and len(result.assignments) == 29
    assert result.clusters.empty


def test_empty_and_repeated_character_texts_are_too_few():
    for tokens in ([""] * 40, [None] * 35, ["哈哈哈哈哈哈"] * 40, ["。 。 ！"] * 40,
                   ["啊啊啊啊 啊啊"] * 50):
        result = cluster_complaints(tokens)
        assert result.too_few
        assert "可用于聚类的词语" in result.message


def test_empty_texts_among_real_ones_go_to_misc(planted):
    extra = pd.DataFrame({"complaint_id": [f"E{i}" for i in range(20)],
                          "tokens": ["", "哈哈哈哈", None, "的 了 吗", "！ ！"] * 4})
    frame = pd.concat([planted[["complaint_id", "tokens"]], extra], ignore_index=True)
    result = cluster_complaints(frame["tokens"], metadata=frame[["complaint_id"]])
    assert result.n_clusters == 5
    misc = result.assignments.set_index("complaint_id").loc[extra["complaint_id"], "cluster_id"]
    assert (misc == MISC_ID).all()
    assert "20 条投诉没有可用于聚类的词语" in result.message
    assert result.clusters["label"].iloc[-1] == "杂项"
    assert result.clusters["size"].iloc[-1] == 20


def test_identical_texts_form_one_cluster(planted):
    tokens = [planted["tokens"].iloc[0]] * 50
    result = cluster_complaints(tokens)
    assert result.n_clusters == 1
    assert result.clusters["size"].tolist() == [50]
    assert (result.assignments["cluster_id"] == 0).all()
    assert "完全相同" in result.message
    terms = result.clusters["label_terms"].iloc[0]
    assert len(terms) >= 3 and set(terms) <= set(tokens[0].split())


def test_metadata_must_align(planted):
    with pytest.raises(UserError, match="不一致"):
        cluster_complaints(planted["tokens"], metadata=planted.iloc[:10])
    with pytest.raises(UserError, match="正整数"):
        cluster_complaints(planted["tokens"], n_clusters=0)


# --------------------------------------------------------------------------- 杂项
def test_incoherent_complaints_are_gathered_as_misc(planted):
    """25 complaints of random words from a pool of 75: a small loose group, filed under 杂项."""
    pool = [f"词{i}{chr(0x4E00 + 37 * i)}" for i in range(75)]
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        noise = [" ".join(rng.choice(pool, 6, replace=False)) for _ in range(25)]
        frame = pd.DataFrame({"complaint_id": [*planted["complaint_id"], *[f"Z{i}" for i in range(25)]],
                              "tokens": [*planted["tokens"], *noise]})
        for k in (None, 6):
            result = cluster_complaints(frame["tokens"], metadata=frame[["complaint_id"]], n_clusters=k,
                                        random_state=seed)
            assert result.n_clusters == 5
            misc = result.clusters.set_index("cluster_id").loc[MISC_ID]
            assert misc["size"] == 25 and misc["label"] == "杂项" and misc["representative_ids"] == []
            by_id = result.assignments.set_index("complaint_id")["cluster_id"]
            assert (by_id.loc[[f"Z{i}" for i in range(25)]] == MISC_ID).all()
            assert (by_id.loc[planted["complaint_id"]] >= 0).all()


def test_large_loose_clusters_stay():
    """A big heterogeneous cluster is still a topic: the looseness rule only takes small ones."""
    sizes = np.array([500.0, 100.0, 100.0, 100.0, 100.0])
    coherence = np.array([0.2, 0.6, 0.6, 0.6, 0.6])
    assert loose(sizes, coherence, 0.6).tolist() == [False] * 5
    small = np.array([100.0, 100.0, 100.0, 100.0, 20.0])
    assert loose(small, coherence[::-1], 0.6).tolist() == [False] * 4 + [True]


# --------------------------------------------------------------------------- replaceable steps
class Plain:
    """A clusterer outside the package, without get_params: scikit-learn's KMeans, labels × 10."""

    def __init__(self):
        self.calls = []

    def fit_predict(self, z, sample_weight=None):
        from sklearn.cluster import KMeans

        self.calls.append((z.shape, None if sample_weight is None else float(np.sum(sample_weight))))
        labels = KMeans(n_clusters=5, n_init=10, random_state=0).fit_predict(z, sample_weight=sample_weight)
        return labels * 10  # labels need not be consecutive


class NoiseToo:
    """Puts the given rows in noise (-1) and the rest in one cluster."""

    def __init__(self, noise_rows):
        self.noise_rows = noise_rows

    def fit_predict(self, z, sample_weight=None):
        labels = np.zeros(len(z), dtype=int)
        labels[self.noise_rows] = -1
        return labels


def test_a_custom_clusterer_plugs_in(planted):
    custom = Plain()
    model = TopicModel(clusterer=custom, random_state=0)
    result = model.fit_clusters(planted["tokens"], metadata=planted)
    # the object given stays unfitted (a copy was fitted), and the copy saw every complaint's weight
    assert custom.calls == [] and len(model.steps_["clusterer"].calls) == 1
    (rows, _), weight = model.steps_["clusterer"].calls[0]
    assert rows == planted["tokens"].nunique() == 148 and weight == 150.0  # two texts occur twice
    assert result.n_clusters == 5 and result.k_scores is None
    assert adjusted_rand_score(planted["group"], result.assignments["cluster_id"]) == 1.0
    assert result.clusters["cluster_id"].tolist() == [0, 1, 2, 3, 4]  # renumbered, largest first
    assert result.params["clusterer"] == "Plain" and result.params["clusterer__repr"].startswith("<")


def test_a_scikit_learn_clusterer_plugs_in(planted):
    from sklearn.cluster import KMeans

    model = TopicModel(clusterer=KMeans(n_clusters=5, n_init=10))
    result = model.fit_clusters(planted["tokens"], metadata=planted)
    assert adjusted_rand_score(planted["group"], result.assignments["cluster_id"]) == 1.0
    # its parameters key the run; its random_state (None) is the model's
    assert result.params["clusterer"] == "KMeans" and result.params["clusterer__n_clusters"] == 5
    assert result.params["clusterer__random_state"] == 0


def test_clusterer_noise_is_misc(planted):
    """Label -1 from a clusterer is 杂项: kept out of the clusters, labelled, shown last."""
    unique = planted.drop_duplicates("tokens").reset_index(drop=True)  # row i of Z is complaint i
    hotel = np.flatnonzero(unique["group"].to_numpy() == "hotel")
    result = TopicModel(clusterer=NoiseToo(hotel)).fit_clusters(unique["tokens"], metadata=unique)
    by_id = result.assignments.set_index("complaint_id")["cluster_id"]
    assert (by_id.loc[unique.loc[hotel, "complaint_id"]] == MISC_ID).all()
    assert (by_id.drop(unique.loc[hotel, "complaint_id"]) == 0).all()
    assert result.n_clusters == 1
    assert result.clusters["cluster_id"].tolist() == [0, MISC_ID]
    assert result.clusters["label"].tolist()[-1] == "杂项"
    assert result.clusters["size"].tolist() == [len(unique) - len(hotel), len(hotel)]
    assert "酒店" in result.clusters["label_terms"].iloc[-1]  # 杂项 gets its own label terms


def test_clusterer_that_finds_only_noise_gives_a_message(planted):
    everything = slice(None)
    result = TopicModel(clusterer=NoiseToo(everything)).fit_clusters(planted["tokens"], metadata=planted)
    assert result.too_few and "噪声" in result.message
    assert (result.assignments["cluster_id"] == MISC_ID).all()


def test_a_clusterer_breaking_the_contract_is_an_error(planted):
    class Short:
        def fit_predict(self, z, sample_weight=None):
            return np.zeros(len(z) - 1, dtype=int)

    with pytest.raises(ValueError, match="one label per row"):
        TopicModel(clusterer=Short()).fit_clusters(planted["tokens"])


def test_run_params_name_every_step_and_inherit_the_seed():
    params = TopicModel(random_state=4).run_params()
    assert {params[s] for s in ("vectorizer", "reducer", "clusterer", "refiner", "labeller")} == {
        "TermVectorizer", "LSA", "SphericalKMeans", "MixtureRefiner", "ClassTfidfLabeller"}
    assert params["clusterer__random_state"] == 4 and params["reducer__random_state"] == 4
    assert params["clusterer__n_clusters"] is None and params["version"] == cluster.PIPELINE_VERSION
    # an explicit default step and None give the same parameters; a step's own seed wins
    assert TopicModel(clusterer=cluster.SphericalKMeans(), random_state=4).run_params() == params
    own = TopicModel(clusterer=cluster.SphericalKMeans(random_state=9), random_state=4).run_params()
    assert own["clusterer__random_state"] == 9
    assert TopicModel(clusterer=cluster.SphericalKMeans(5)).run_params()["clusterer__n_clusters"] == 5


def test_cluster_complaints_takes_a_clusterer_or_k_not_both(planted):
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_complaints(planted["tokens"], n_clusters=3, clusterer=cluster.HDBSCANClusterer())


def test_clusters_whose_top_labels_overlap_are_merged():
    """One wave worded two ways (漏电 跳闸 / 漏电 退一赔三 about one kettle) is one cluster; another topic stays apart."""
    rng = np.random.default_rng(0)
    filler = ["今天", "昨天", "上周", "晚上", "早上", "刚买", "第二次", "一直", "老人", "孩子"]
    docs = ([f"电热水壶 漏电 跳闸 {filler[i % 10]} {rng.integers(1000)}号" for i in range(40)]
            + [f"电热水壶 漏电 退一赔三 {filler[i % 10]} {rng.integers(1000)}号" for i in range(40)]
            + [f"羽绒服 掉毛 钻绒 {filler[i % 10]} {rng.integers(1000)}号" for i in range(40)])
    kept = TopicModel(clusterer=cluster.SphericalKMeans(n_clusters=3), merge_label_overlap=None).fit_clusters(docs)
    assert kept.n_clusters == 3
    merged = TopicModel(clusterer=cluster.SphericalKMeans(n_clusters=3)).fit_clusters(docs)
    assert merged.n_clusters == 2
    labels = merged.assignments["cluster_id"].to_numpy()
    assert len(set(labels[:80])) == 1 and labels[80] != labels[0] and len(set(labels[80:])) == 1
