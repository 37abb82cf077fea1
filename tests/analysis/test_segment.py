"""Tests for analysis.segment: tokenizer, dictionary files, token cache and the segment CLI."""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import segment
from analysis.commands import segment as segment_cmd
from analysis.errors import ConfigError, UserError
from analysis.segment import (
    DEFAULT_STOPWORDS,
    DEFAULT_USERDICT,
    StopwordFilter,
    Tokenizer,
    ensure_tokens,
    load_stopwords,
    load_tokens,
    load_userdict,
    remove_stopwords,
)
from analysis.store import Store, text_hash

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "text"


@pytest.fixture(scope="module")
def rj() -> Tokenizer:
    return Tokenizer(backend="rjieba")


@pytest.fixture(scope="module")
def jb() -> Tokenizer:
    return Tokenizer(backend="jieba")


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    with open(FIXTURES / "segment_real_texts.csv", encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


# -- segmentation --------------------------------------------------------------

@pytest.mark.parametrize("backend", ["rjieba", "jieba"])
def test_domain_words_stay_whole(backend, rj, jb):
    tk = rj if backend == "rjieba" else jb
    assert tk.cut("我在拼夕夕买的空气炸锅漏电，要求退一赔三") == [
        "我", "在", "拼夕夕", "买", "的", "空气炸锅", "漏电", "，", "要求", "退一赔三"]
    assert tk.cut("双11买的三无产品以次充好") == ["双11", "买", "的", "三无产品", "以次充好"]
    assert tk.cut("市场监管局召回缺陷产品") == ["市场监管局", "召回", "缺陷产品"]


def test_without_userdict_the_words_are_cut(rj):
    plain = Tokenizer(userdict=None, stopwords=None)
    assert plain.cut("空气炸锅") == ["空气", "炸锅"]
    assert rj.cut("空气炸锅") == ["空气炸锅"]
    assert plain.stopwords == frozenset()


@pytest.mark.parametrize("backend", ["rjieba", "jieba"])
def test_normalisation(backend, rj, jb):
    tk = rj if backend == "rjieba" else jb
    # full-width letters/digits fold, ASCII is lower-cased after matching T恤, whitespace goes
    assert tk.cut("ｉＰｈｏｎｅ８  T恤\t双十一\n") == ["iphone8", "t恤", "双十一"]
    # letters, digits and connectors that touch are one token in both backends
    assert tk.cut("访问t.cn，check-in后称重2.1kg，型号MK-HJ1705") == [
        "访问", "t.cn", "，", "check-in", "后", "称重", "2.1kg", "，", "型号", "mk-hj1705"]
    assert tk.cut("") == [] and tk.cut(None) == [] and tk.cut(float("nan")) == []


def test_odd_input_never_crashes(rj):
    long_text = "空气炸锅漏电" * 20000  # 120k characters
    tokens = rj.cut(long_text)
    assert len(tokens) == 40000 and set(tokens) == {"空气炸锅", "漏电"}
    odd = "\x00\x07控制字符😀表情\u200b\u3000全角空格\x1f"
    tokens = rj.cut(odd)
    assert all(t and not any(ch.isspace() for ch in t) for t in tokens)
    assert "".join(tokens) == "".join(odd.split())


@given(st.text(alphabet=st.sampled_from(list("空气炸锅漏电双11十一Ａｂ８ -.\t\n，！😀\x00abcXYZ")) , max_size=60)
       | st.text(max_size=40))
@settings(max_examples=150, deadline=None)
def test_tokens_cover_the_text(text):
    tk = _shared_rjieba()
    tokens = tk.cut(text)
    assert all(t and not any(ch.isspace() for ch in t) for t in tokens)
    expected = "".join(segment._normalise_text(text).lower().split())
    assert "".join(tokens) == expected
    assert next(tk.cut_many([text])) == " ".join(tokens)


_SHARED: list[Tokenizer] = []


def _shared_rjieba() -> Tokenizer:
    if not _SHARED:
        _SHARED.append(Tokenizer())
    return _SHARED[0]


def _token_f1(a: list[list[str]], b: list[list[str]]) -> float:
    def spans(tokens):
        out, pos = set(), 0
        for tok in tokens:
            out.add((pos, pos + len(tok)))
            pos += len(tok)
        return out
    hit = na = nb = 0
    for x, y in zip(a, b, strict=True):
        sx, sy = spans(x), spans(y)
        hit, na, nb = hit + len(sx & sy), na + len(sx), nb + len(sy)
    precision, recall = hit / na, hit / nb
    return 2 * precision * recall / (precision + recall)


def test_token_f1_helper():
    assert _token_f1([["ab", "c"]], [["ab", "c"]]) == 1.0
    # spans {(0,2),(2,3)} vs {(0,1),(1,2),(2,3)}: 1 shared → P 1/2, R 1/3 → F1 0.4
    assert _token_f1([["ab", "c"]], [["a", "b", "c"]]) == pytest.approx(0.4)


def test_backend_parity_on_real_text(rj, jb, real_texts):
    assert len(real_texts) == 200
    fast = [rj.cut(t) for t in real_texts]
    reference = [jb.cut(t) for t in real_texts]
    assert _token_f1(fast, reference) >= 0.999


def test_determinism(rj, real_texts):
    again = Tokenizer()
    assert again.fingerprint == rj.fingerprint
    first = [rj.cut(t) for t in real_texts]
    assert [again.cut(t) for t in real_texts] == first
    assert [rj.cut(t) for t in real_texts] == first
    order = list(range(len(real_texts)))[::-1]
    shuffled = list(rj.cut_many([real_texts[i] for i in order], chunk_size=7))
    assert [shuffled[order.index(i)] for i in range(len(real_texts))] == [" ".join(t) for t in first]


def test_cut_many_chunks_and_streams(rj, real_texts):
    expected = [" ".join(rj.cut(t)) for t in real_texts]
    for chunk_size in (1, 3, 64, 20000):
        assert list(rj.cut_many(real_texts, chunk_size=chunk_size)) == expected
    # missing texts give empty strings, one output per input
    assert list(rj.cut_many(["空气炸锅", None, "", float("nan"), pd.NA])) == ["空气炸锅", "", "", "", ""]
    # streaming: an endless input is consumed chunk by chunk
    endless = itertools.cycle(["双十一买的", "电热水壶漏电"])
    head = list(itertools.islice(rj.cut_many(endless, chunk_size=2), 5))
    assert head == ["双十一 买 的", "电热水壶 漏电"] * 2 + ["双十一 买 的"]
    with pytest.raises(ValueError):
        next(rj.cut_many(["x"], chunk_size=0))


def test_fingerprint(tmp_path, rj, jb):
    assert rj.fingerprint.startswith("rjieba-0.2.2-hmm1-dict")
    assert jb.fingerprint.startswith("jieba-0.42.1-hmm1-dict")
    assert rj.fingerprint.split("-dict")[1] == jb.fingerprint.split("-dict")[1]
    assert Tokenizer(hmm=False).fingerprint != rj.fingerprint
    copy = tmp_path / "copy.txt"
    copy.write_bytes(DEFAULT_USERDICT.read_bytes())
    assert Tokenizer(userdict=copy).fingerprint == rj.fingerprint  # content, not path
    changed = tmp_path / "changed.txt"
    changed.write_text(DEFAULT_USERDICT.read_text(encoding="utf-8") + "新词条 10 product\n", encoding="utf-8")
    assert Tokenizer(userdict=changed).fingerprint != rj.fingerprint
    assert "dictnone" in Tokenizer(userdict=None).fingerprint


def test_pickles_as_its_arguments(rj):
    import pickle

    copy = pickle.loads(pickle.dumps(rj))
    assert copy.fingerprint == rj.fingerprint and copy.stopwords == rj.stopwords
    assert copy.cut("拼夕夕刷单") == ["拼夕夕", "刷单"]


def test_unknown_backend():
    with pytest.raises(UserError, match="未知的分词后端"):
        Tokenizer(backend="thulac")


# -- dictionary files -----------------------------------------------------------

@pytest.mark.parametrize(("content", "row", "reason"), [
    ("空气炸锅 20 product\n# 品牌\n美的 231 brand\n", 2, "注释"),
    ("空气炸锅\t20\n", 1, "制表符"),
    ("空气炸锅  20\n", 1, "一个半角空格"),
    ("空气炸锅 0 product\n", 1, "正整数"),
    ("\n\n空气炸锅 12a\n", 3, "12a"),
    ("空气炸锅 20 Product\n", 1, "Product"),
    ("空气炸锅 20 product extra\n", 1, "extra"),
    ("空气炸锅 20\n，。 5\n", 2, "不含文字"),
])
def test_malformed_userdict_names_file_line_and_reason(tmp_path, content, row, reason):
    path = tmp_path / "userdict.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        Tokenizer(userdict=path)
    assert err.value.file == str(path) and err.value.row == row
    assert reason in str(err.value) and f"第 {row} 行" in str(err.value)


def test_userdict_encoding_and_missing_file(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("空气炸锅 20\n".encode() + "电热水壶 20\n".encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8") as err:
        load_userdict(path)
    assert err.value.row == 2
    with pytest.raises(ConfigError, match="不存在"):
        load_userdict(tmp_path / "nope.txt")


def test_userdict_accepts_optional_fields(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("\ufeff拼夕夕\n刷单 product\n双11 20\n\n", encoding="utf-8")
    assert load_userdict(path) == [("拼夕夕", None, None), ("刷单", None, "product"), ("双11", 20, None)]
    assert Tokenizer(userdict=path, stopwords=None).cut("拼夕夕刷单") == ["拼夕夕", "刷单"]


def test_stopword_file_validation(tmp_path):
    path = tmp_path / "stop.txt"
    path.write_text("的\nABC\n\n  了  \n", encoding="utf-8")
    assert load_stopwords(path) == frozenset({"的", "abc", "了"})
    path.write_text("的\n投诉 商家\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="只能写一个停用词") as err:
        Tokenizer(stopwords=path)
    assert err.value.row == 2


REQUIRED_WORDS = (
    "电热水壶 空气炸锅 扫地机器人 婴儿推车 纸尿裤 面膜 精华液 羽绒服 行车记录仪 充电宝 美的 九阳 苏泊尔 格力 海尔 "
    "小米 华为 苹果 雅诗兰黛 兰蔻 耐克 安踏 飞鹤 伊利 蒙牛 拼多多 拼夕夕 京东商城 天猫超市 抖音小店 美团外卖 三无产品 "
    "以次充好 刷单 虚假宣传 退一赔三 假一赔十 霸王条款 自动续费 价格欺诈 先涨后降 好评返现 大数据杀熟 七天无理由退货 "
    "双十一 双11 双十二 年货节 市场监管局 质量抽检 召回").split()


def test_shipped_dictionary():
    entries = load_userdict(DEFAULT_USERDICT)
    words = [e.word for e in entries]
    assert len(words) >= 1500
    assert len(set(words)) == len(words), "duplicate words"
    assert {e.tag for e in entries} == {"platform", "promotion", "regulator", "violation", "defect",
                                        "product", "brand", "complaint"}
    assert all(e.freq and e.freq > 0 for e in entries)
    assert not [w for w in words if re.fullmatch(r"[A-Za-z0-9]+", w)], "pure letter/digit words split model numbers"
    assert not set(REQUIRED_WORDS) - set(words)


def test_every_dictionary_word_segments_whole(rj):
    words = [e.word for e in load_userdict(DEFAULT_USERDICT)]
    broken = [w for w in words if rj.cut(w) != [w.lower()]]
    assert broken == []


def test_everyday_phrases_are_not_broken_by_brands(rj):
    assert rj.cut("完美的体验") == ["完美", "的", "体验"]
    assert rj.cut("比如家里有人") == ["比如", "家里", "有人"]
    assert "三星" not in rj.cut("三星级宾馆")
    assert rj.cut("还没收到货款") == ["还", "没收", "到", "货款"]
    assert rj.cut("中餐厅") == ["中餐厅"]
    # and the words jieba knew too weakly now win
    assert rj.cut("快递给力") == ["快递", "给力"]
    assert rj.cut("对华为很失望") == ["对", "华为", "很", "失望"]
    assert rj.cut("买家电") == ["买", "家电"]
    assert rj.cut("前用的普天T618") == ["前用", "的", "普天", "t618"]


def test_shipped_stopwords(rj):
    words = load_stopwords(DEFAULT_STOPWORDS)
    assert rj.stopwords == words and len(words) >= 500
    assert {"的", "了", "投诉", "商家", "客服", "消费者", "要求", "，", "12315"} <= words
    assert not {"漏电", "空气炸锅", "拼多多", "虚假宣传", "退款", "质量", "发霉", "假货"} & words


# -- stop words -----------------------------------------------------------------

def test_remove_stopwords():
    stop = frozenset({"的", "投诉"})
    tokens = "投诉 拼多多 的 空气炸锅 ， 2019 1.5 100% iphone8 双11 漏电 ！"
    assert remove_stopwords(tokens, stop) == "拼多多 空气炸锅 iphone8 双11 漏电"
    assert remove_stopwords(tokens, stop, drop_numbers=False) == "拼多多 空气炸锅 2019 1.5 100% iphone8 双11 漏电"
    assert remove_stopwords(tokens, stop, drop_punct=False, drop_numbers=False) == (
        "拼多多 空气炸锅 ， 2019 1.5 100% iphone8 双11 漏电 ！")
    assert remove_stopwords(["的 投诉", "漏电 的"], stop) == ["", "漏电"]
    series = pd.Series(["的 漏电", None], index=[7, 9], name="tokens")
    out = remove_stopwords(series, stop)
    assert out.tolist() == ["漏电", ""] and out.index.tolist() == [7, 9] and out.name == "tokens"
    keep = StopwordFilter(stop)
    assert keep("投诉 漏电 ，") == "漏电" and keep("漏电 投诉") == "漏电"


# -- token cache -----------------------------------------------------------------

def _insert(store: Store, rows: list[tuple[str, str]], *, import_id: int = 1) -> None:
    for i, (cid, text) in enumerate(rows):
        store.con.execute(
            "INSERT INTO complaints (complaint_id, received_at, text, district, content_hash, text_hash, "
            "import_id, source_row) VALUES (?, TIMESTAMP '2017-11-11', ?, ?, ?, ?, ?, ?)",
            [cid, text, "徐汇区" if i % 2 else "黄浦区", text_hash(cid + text), text_hash(text), import_id, i + 1])


ROWS = [("c1", "双十一买的空气炸锅漏电"), ("c2", "拼夕夕刷单"), ("c3", "双十一买的空气炸锅漏电"),
        ("c4", ""), ("c5", "电热水壶 三无产品")]


def test_ensure_tokens_segments_each_text_once(rj):
    store = Store(":memory:")
    _insert(store, ROWS)
    calls = []
    assert ensure_tokens(store, rj, progress=lambda done, total: calls.append((done, total)), chunk_size=2) == 4
    assert calls == [(0, 4), (2, 4), (4, 4)]
    assert ensure_tokens(store, rj) == 0  # served from the cache
    cached = store.query("SELECT text_hash, fingerprint, tokens FROM tokens")
    assert sorted(cached["tokens"]) == sorted(["", "拼夕夕 刷单", "双十一 买 的 空气炸锅 漏电", "电热水壶 三无产品"])
    assert set(cached["text_hash"]) == {text_hash(t) for _, t in ROWS}
    assert set(cached["fingerprint"]) == {rj.fingerprint}
    # another tokenizer has its own cache entries; new complaints only segment what is new
    assert ensure_tokens(store, Tokenizer(hmm=False)) == 4
    _insert(store, [("c6", "拼夕夕刷单"), ("c7", "先涨后降")], import_id=2)
    assert ensure_tokens(store, rj) == 1
    assert store.count("tokens") == 9
    # a complete cache is marked per fingerprint with a checksum of the stored texts
    assert store.count("token_state") == 2
    store.con.execute("DELETE FROM complaints WHERE complaint_id = 'c7'")
    assert ensure_tokens(store, rj) == 0 and store.count("token_state") == 2


def test_stale_completeness_mark_heals(rj):
    store = Store(":memory:")
    _insert(store, ROWS)
    ensure_tokens(store, rj)
    store.con.execute("DELETE FROM tokens WHERE tokens = '拼夕夕 刷单'")  # cache emptied by hand
    assert ensure_tokens(store, rj) == 0  # the mark still says complete ...
    assert load_tokens(store, rj)["tokens"].tolist()[1] == "拼夕夕 刷单"  # ... reading notices and refills
    assert store.count("tokens") == 4


def test_load_tokens(rj):
    store = Store(":memory:")
    _insert(store, ROWS)
    df = load_tokens(store, rj)
    assert df.columns.tolist() == ["complaint_id", "tokens"]
    assert df.to_dict("list") == {
        "complaint_id": ["c1", "c2", "c3", "c4", "c5"],
        "tokens": ["双十一 买 的 空气炸锅 漏电", "拼夕夕 刷单", "双十一 买 的 空气炸锅 漏电", "", "电热水壶 三无产品"],
    }
    picked = load_tokens(store, rj, where="district = ? AND complaint_id <> ?", params=["徐汇区", "c4"])
    assert picked["complaint_id"].tolist() == ["c2"]
    empty = load_tokens(Store(":memory:"), rj)
    assert empty.columns.tolist() == ["complaint_id", "tokens"] and len(empty) == 0
    # a duplicated cache row (two sessions racing) never duplicates complaints
    store.con.execute("INSERT INTO tokens SELECT * FROM tokens")
    assert len(load_tokens(store, rj)) == 5


def test_read_only_store_segments_in_memory(tmp_path, rj):
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        _insert(store, ROWS)
    with Store(path, read_only=True) as store:
        with pytest.raises(UserError, match="只读"):
            ensure_tokens(store, rj)
        df = load_tokens(store, rj)
        assert df["tokens"].tolist()[1] == "拼夕夕 刷单"
        assert store.count("tokens") == 0


# -- CLI ------------------------------------------------------------------------------

def _run_cli(monkeypatch, stdin: str, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    segment_cmd.add_arguments(parser)
    args = parser.parse_args(list(argv))
    out = io.BytesIO()
    fake_in = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
    fake_out = io.TextIOWrapper(out, encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", fake_in)
    monkeypatch.setattr(sys, "stdout", fake_out)
    assert segment_cmd.run(args) == 0
    return out.getvalue().decode("utf-8")


def test_segment_command(monkeypatch):
    assert segment_cmd.NAME == "segment"
    text = "我在拼夕夕买的空气炸锅漏电\n\n   \n双11买的iPhone8\r\n本人投诉商家虚假宣传"
    expected = "我 在 拼夕夕 买 的 空气炸锅 漏电\n\n\n双11 买 的 iphone8\n本人 投诉 商家 虚假宣传\n"
    assert _run_cli(monkeypatch, text) == expected
    assert _run_cli(monkeypatch, text, "--backend", "jieba") == expected
    assert _run_cli(monkeypatch, text, "--remove-stopwords") == "拼夕夕 空气炸锅 漏电\n\n\n双11 iphone8\n虚假宣传\n"
    assert _run_cli(monkeypatch, "空气炸锅", "--no-userdict") == "空气 炸锅\n"


def test_segment_command_end_to_end():
    import subprocess

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "segment"], cwd=root, capture_output=True, timeout=120,
        input="我在拼夕夕买的空气炸锅漏电\n\n双11买的ｉＰｈｏｎｅ８\n".encode(),
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == "我 在 拼夕夕 买 的 空气炸锅 漏电\n\n双11 买 的 iphone8\n"


def test_ensure_tokens_spill_dir_writes_once_at_the_end(tmp_path):
    from analysis import ingest
    from analysis.store import Store

    src = tmp_path / "t.csv"
    src.write_text("投诉编号,投诉内容\n" + "".join(f"A{i},热水壶漏电第{i}次\n" for i in range(7)), encoding="utf-8")
    tokenizer = Tokenizer()
    spill = tmp_path / "spill"
    spill.mkdir()

    def cut_then_fail(chunks):
        for i, texts in enumerate(chunks):
            if i == 2:
                raise KeyboardInterrupt
            yield list(tokenizer.cut_many(texts))

    with Store(tmp_path / "s.duckdb") as store:
        ingest.import_file(store, src)
        with pytest.raises(KeyboardInterrupt):
            ensure_tokens(store, tokenizer, chunk_size=3, cut_chunks=cut_then_fail, spill_dir=spill)
        assert store.count("tokens") == 0  # two chunks were segmented, none written
        assert len(list(spill.glob("*.parquet"))) == 2
        for part in spill.glob("*.parquet"):
            part.unlink()
        assert ensure_tokens(store, tokenizer, chunk_size=3,
                             cut_chunks=lambda chunks: (list(tokenizer.cut_many(t)) for t in chunks),
                             spill_dir=spill) == 7
        got = dict(store.cursor().execute("SELECT text_hash, tokens FROM tokens").fetchall())
        texts = dict(store.cursor().execute("SELECT text_hash, text FROM complaints").fetchall())
    assert got == {h: next(tokenizer.cut_many([t])) for h, t in texts.items()}
