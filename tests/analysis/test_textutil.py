"""The shared helpers: data folder, half width, word lists, configuration CSV, JSON-safe values."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analysis import classify, io, privacy, segment, textutil
from analysis.errors import ConfigError
from analysis.textutil import is_comment, json_safe, load_stopwords, read_config_csv, to_halfwidth


# -- data folder ---------------------------------------------------------------------------------
def test_data_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(textutil.DATA_ENV_VAR, raising=False)
    bundled = textutil.data_path("taxonomy", "categories.csv")
    assert bundled.is_file() and bundled.parts[-3:] == ("data", "taxonomy", "categories.csv")
    monkeypatch.setenv(textutil.DATA_ENV_VAR, str(tmp_path))
    assert textutil.data_path("promotions.csv") == tmp_path / "promotions.csv"
    assert textutil.data_path() == tmp_path


# -- half width ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("ｉＰｈｏｎｅ１１ 漏电", "iPhone11 漏电"),
    ("ＡＢＣ－１２３，价格：１２９９元", "ABC－123，价格：1299元"),   # punctuation stays full width
    ("全角空格\u3000保留", "全角空格\u3000保留"),                  # the ideographic space is not a letter
    ("plain ascii 123", "plain ascii 123"),
    ("", ""),
])
def test_to_halfwidth(text, expected):
    assert to_halfwidth(text) == expected


def test_every_module_folds_full_width_the_same_way(monkeypatch):
    assert io.normalize_value("型号ＸＱ－１７０５\u3000漏电") == "型号XQ－1705 漏电"
    assert classify._clean("型号ＸＱ－１７０５") == "型号xq－1705"
    tok = segment.Tokenizer(userdict=None, stopwords=None)
    assert tok.cut("ｉＰｈｏｎｅ８") == tok.cut("iPhone8") == ["iphone8"]
    assert privacy.looks_like_id("３１０１０１１９９００１０１１２３Ｘ")   # full-width check letter too
    assert privacy.mask_text("电话１３８１２３４５６７８") == "电话１３８****５６７８"


# -- word lists ----------------------------------------------------------------------------------
@pytest.mark.parametrize("line, comment", [
    ("# 说明", True), ("#\t说明", True), ("  # 缩进的注释", True), ("# ", True),
    ("#", False), ("#话题", False), ("", False), ("的", False), ("C#", False),
])
def test_comment_rule(line, comment):
    assert is_comment(line) is comment


def test_stopwords_keep_a_lone_hash_and_skip_comments(tmp_path):
    path = tmp_path / "stop.txt"
    path.write_text("\ufeff# 功能词\n的\n#\nABC\n\n  了  \n#话题\n", encoding="utf-8")
    assert load_stopwords(path) == frozenset({"的", "#", "abc", "了", "#话题"})
    path.write_text("# 注释\n的\n两个 词\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="只能写一个停用词") as err:
        load_stopwords(path)
    assert err.value.row == 3 and err.value.file == str(path)


def test_stopwords_missing_or_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="不存在") as err:
        load_stopwords(tmp_path / "none.txt")
    assert err.value.file == str(tmp_path / "none.txt")
    path = tmp_path / "gbk.txt"
    path.write_bytes("的\n了\n".encode("utf-8") + "投诉\n".encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8") as err:
        load_stopwords(path)
    assert err.value.row == 3


def test_the_shipped_word_lists_follow_the_rule():
    # data/dict/stopwords.txt lists the stop word "#"; the clustering lists have "# " comments
    assert "#" in load_stopwords(textutil.data_path("dict", "stopwords.txt"))
    cluster_words = load_stopwords(textutil.data_path("cluster", "stopwords.txt"))
    assert "的" in cluster_words and not any(w.startswith("#") for w in cluster_words)


# -- configuration CSV ---------------------------------------------------------------------------
def _csv(tmp_path, text, name="conf.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_config_csv_rows_with_line_numbers(tmp_path):
    path = _csv(tmp_path, "\ufeff name , weight ,note\n# 注释, 含逗号\n\n甲, 3 ,\"a,b\"\n乙,2\n")
    assert read_config_csv(path, ("name", "weight")) == [
        (4, {"name": "甲", "weight": "3", "note": "a,b"}),
        (5, {"name": "乙", "weight": "2", "note": ""}),     # a trailing optional column may be left out
    ]


@pytest.mark.parametrize("text, row, words", [
    ("name,weight\n甲,1,多余\n", 2, "本行有 3 个字段，表头只有 2 列"),
    ("name,weight,note\n甲\n", 2, "本行只有 1 个字段，应有 3 列（缺少「weight」"),
    ("name,note\n甲,1\n", 1, "表头缺少列：weight"),
    ("", 1, "文件为空"),
])
def test_config_csv_errors_name_file_and_line(tmp_path, text, row, words):
    path = _csv(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_config_csv(path, ("name", "weight"))
    assert err.value.file == str(path) and err.value.row == row
    assert words in str(err.value) and "conf.csv" in str(err.value)


def test_config_csv_unreadable_or_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="无法读取"):
        read_config_csv(tmp_path / "none.csv", ("name",))
    path = tmp_path / "gbk.csv"
    path.write_bytes("name\n甲\n".encode("utf-8") + "乙\n".encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8") as err:
        read_config_csv(path, ("name",), file="显示名.csv")
    assert err.value.file == "显示名.csv" and err.value.row == 3


# -- JSON ----------------------------------------------------------------------------------------
def test_json_safe():
    value = {"f": np.float64(1.23456789), "i": np.int64(3), "b": np.bool_(True), "nan": float("nan"),
             "inf": np.inf, "list": (1, np.float32(0.5), None), "arr": np.array([1, 2]),
             "date": dt.date(2017, 11, 11), "ts": pd.Timestamp("2017-11-11 08:00"), "nat": pd.NaT,
             "na": pd.NA, "path": textutil.data_path("x"), 7: "int key"}
    out = json_safe(value)
    assert out == {"f": 1.234568, "i": 3, "b": True, "nan": None, "inf": None, "list": [1, 0.5, None],
                   "arr": [1, 2], "date": "2017-11-11", "ts": "2017-11-11T08:00:00",
                   "nat": None, "na": None, "path": str(textutil.data_path("x")), 7: "int key"}
    json.dumps(out, allow_nan=False)
    assert json_safe(1.23456789, digits=None) == 1.23456789
    assert type(json_safe(np.int64(3))) is int


def test_normalised_weights():
    from analysis.errors import UserError
    from analysis.textutil import normalised_weights

    assert normalised_weights({"a": 1.0, "b": 3.0}, message="x") == {"a": 0.25, "b": 0.75}
    assert normalised_weights({"a": 0.0, "b": 0.0}, message="x") == {"a": 0.5, "b": 0.5}  # all zero: equal
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UserError, match="权重必须是非负数"):
            normalised_weights({"a": bad, "b": 1.0}, message="权重必须是非负数。")
