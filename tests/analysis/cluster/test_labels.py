"""analysis.cluster.labels: c-TF-IDF labels boosted for the regulator's words, phrases, display labels."""

from __future__ import annotations

import numpy as np

from analysis.cluster import cluster_complaints
from analysis.cluster.labels import display_label, label_weights


def _generic_vs_domain_tokens() -> list[str]:
    """Two groups whose most frequent words are complaint narration, not the subject."""
    kettle = ["刚用 没多久 一个月 电热水壶 漏电 触电 淘宝 750g 壶 中文 标签",
              "刚用 没多久 没用 电热水壶 漏电 跳闸 淘宝 壶 中文 标签 模糊",
              "刚用 没多久 明显 电热水壶 底座 漏电 淘宝 壶 中文 标签"]
    ticket = ["说好 回去 属于 机票 退票 手续费 携程 天 航班",
              "说好 回去 前后 机票 退票 手续费 携程 天 改签",
              "说好 回去 属于 机票 手续费 高额 携程 天 退票"]
    return [kettle[i % 3] for i in range(20)] + [ticket[i % 3] for i in range(20)]


def test_labels_prefer_domain_terms_over_generic_words():
    tokens = _generic_vs_domain_tokens()
    result = cluster_complaints(tokens, n_clusters=2, min_complaints=10, random_state=0)
    assert result.n_clusters == 2
    labels = dict(zip(result.clusters["cluster_id"], result.clusters["label"]))
    terms = dict(zip(result.clusters["cluster_id"], result.clusters["label_terms"]))
    kettle = int(result.assignments["cluster_id"].iloc[0])
    ticket = int(result.assignments["cluster_id"].iloc[-1])
    # product ×3 / defect ×3 / violation ×3 outrank narration that occurs just as often;
    # 触电 (a defect, in 7 of 20 complaints) even outranks 中文标签 (plain words, in all 20)
    assert set(labels[kettle].split("·")) == {"电热水壶", "漏电", "触电"}
    assert set(labels[ticket].split("·")) == {"机票", "退票", "手续费"}
    generic = {"刚用", "没多久", "没用", "一个月", "明显", "说好", "回去", "属于", "前后"}
    for cid in (kettle, ticket):
        # narration, platforms, single characters and digits never label a cluster
        assert not generic & set(terms[cid])
        assert not {"淘宝", "携程", "壶", "天", "750g"} & set(terms[cid])
    # 中文 is always followed by 标签 (and neither is a dictionary word): one phrase
    assert "中文标签" in terms[kettle] and "中文" not in terms[kettle]


def test_label_weights_hand_computed():
    terms = np.array(["电热水壶", "漏电", "美的", "双十一", "淘宝", "刚用", "壶", "750g", "包装",
                      "vip"], dtype=object)
    domain = {"电热水壶": "product", "漏电": "defect", "美的": "brand", "双十一": "promotion",
              "淘宝": "platform", "刚用": "product"}
    weights = label_weights(terms, domain)
    # label stop words win over a (wrong) dictionary tag; plain words and Latin brands weigh 1
    assert weights.tolist() == [3.0, 3.0, 2.0, 1.5, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]


def test_display_label_skips_nested_terms():
    assert display_label(["机票", "订机票", "退票", "手续费"]) == "机票·退票·手续费"
    assert display_label(["演唱会门票", "门票", "演出"]) == "演唱会门票·演出"
