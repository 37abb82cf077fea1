"""The complaint taxonomy: categories, problem types and platforms, read from ``data/taxonomy/``.

Everything a regulator may want to adjust is data (see ``data/taxonomy/README.md``):
category and problem keyword banks with weights, severities, the rows of the seed's
统计表 each problem type is counted in, platform aliases, and mappings from exported
category / problem columns (12315-style names such as 家用电器类) onto the taxonomy.

:func:`load_taxonomy` reads and validates the files once per change; a malformed file
raises :class:`analysis.errors.ConfigError` naming the file, the line and the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from analysis.errors import ConfigError
from analysis.textutil import data_path, decode_utf8, is_comment, read_config_csv

#: The bundled taxonomy (``load_taxonomy()`` reads ``$COMPLAINT_RADAR_DATA/taxonomy`` when that is set).
TAXONOMY_DIR = Path(__file__).resolve().parent.parent / "data" / "taxonomy"
# What the store's view shows for the unknown: 未分类 is reserved (no file may define it);
# 其他平台 is the last row of platforms.csv, taking every platform not recognised.
UNCLASSIFIED = "未分类"
OTHER_PLATFORM = "其他平台"
#: Values of the ``kind`` column of categories.csv that the code acts on: goods can be sampled
#: (抽检); a catch-all category loses the keywords a specific category lists too.
KIND_GOODS = "商品"
KIND_OTHER = "其他"

REQUIRED_CATEGORIES = (
    "食品", "保健食品", "药品", "医疗器械", "化妆品", "服装鞋帽", "儿童用品", "老年用品", "家用电器",
    "消费类电子产品", "汽车及配件", "家居日用", "图书文娱", "旅游住宿", "票务", "餐饮外卖", "网络服务",
    "教育培训", "其他",
)
REQUIRED_PROBLEMS = (
    "安全隐患", "商品质量", "假冒伪劣与商标侵权", "标识不符", "虚假宣传", "价格违法", "合同与格式条款",
    "售后服务", "刷单炒信与虚假评价", "个人信息泄露", "物流快递", "网络诈骗", "其他",
)
REQUIRED_PLATFORMS = (
    "淘宝", "天猫", "京东", "拼多多", "抖音", "快手", "美团", "饿了么", "携程", "飞猪", "去哪儿", "唯品会",
    "苏宁易购", "小红书", "闲鱼", "微信", "当当", "国美", "亚马逊中国", OTHER_PLATFORM,
)

_FILES = (
    "categories.csv", "category_keywords.csv", "problems.csv", "problem_keywords.csv",
    "platforms.csv", "category_mapping.csv", "problem_mapping.csv", "stat_tables.csv",
    "ignore_phrases.txt", "category_context.csv", "content_free_words.txt",
)
_YES = {"yes", "y", "true", "1", "是"}
_NO = {"no", "n", "false", "0", "否", ""}
_MAX_WEIGHT = 10.0
# Separators inside a multi-valued export cell ("客服不处理,不予退款,假货").
_RAW_SPLIT = re.compile(r"[,，、;；/|\s]+")
_RAW_SUFFIXES = ("类别", "类", "问题", "服务")


class ContextRule(NamedTuple):
    """One row of ``category_context.csv``: where a word of ``category``'s context (``when``)
    is found, the keywords of the ``sources`` categories count for ``category``."""

    category: str
    sources: tuple[str, ...]
    when: frozenset[str]


@dataclasses.dataclass(frozen=True, eq=False)
class Taxonomy:
    """The validated taxonomy.

    Attributes:
        categories: category names in display order (without 未分类).
        focus_categories: the seed's focus categories, in order.
        problems: one row per problem type: ``name, severity, quality_safety, table1_row,
            table2_row, keywords`` (keywords space-joined, strongest first).
        platforms: platform names in order, ending with 其他平台.
        category_keywords: ``{category: {keyword: weight}}`` (keywords lower-case).
        problem_keywords: ``{problem: {keyword: weight}}``.
        ignore_phrases: phrases that hide the keywords inside them.
        platform_aliases: ``{alias (lower-case): platform}`` for platform / merchant columns.
        platform_text_cues: ``{cue (lower-case): platform}`` for free text.
        category_map: ``{exported category value: category}``.
        problem_map: ``{exported problem value: problem}``.
        table_rows: ``{"统计表1": (row, …), "统计表2": (row, …)}`` in the seed's order.
        fingerprint: hash of every taxonomy file (changes whenever one is edited).
        directory: the folder read.
        category_context: context rules (餐具 in a delivery complaint counts for 餐饮外卖), in file order.
        content_free_words: words that say how a purchase went without naming a product or
            service (物流快, 满意, 好评 …); with the stop words they make a text content-free.
    """

    categories: tuple[str, ...]
    focus_categories: tuple[str, ...]
    problems: pd.DataFrame
    platforms: tuple[str, ...]
    category_keywords: Mapping[str, Mapping[str, float]]
    problem_keywords: Mapping[str, Mapping[str, float]]
    ignore_phrases: tuple[str, ...]
    platform_aliases: Mapping[str, str]
    platform_text_cues: Mapping[str, str]
    category_map: Mapping[str, str]
    problem_map: Mapping[str, str]
    table_rows: Mapping[str, tuple[str, ...]]
    category_kinds: Mapping[str, str]
    fingerprint: str
    directory: Path
    category_context: tuple[ContextRule, ...] = ()
    content_free_words: frozenset[str] = frozenset()

    # -- problem types --------------------------------------------------------------
    def severity_of(self, problem: str | None) -> int:
        """Severity of a problem type (1 … :attr:`max_severity`; 0 for 未分类 or unknown)."""
        return self._severity.get(problem, 0) if problem else 0

    @property
    def quality_safety_problems(self) -> tuple[str, ...]:
        """Problem types counted as 质量安全类 (``quality_safety = yes`` in problems.csv), in order."""
        return tuple(self.problems.loc[self.problems["quality_safety"], "name"])

    @property
    def max_severity(self) -> int:
        """The highest severity of the problem types (the top of the scale; 4 today)."""
        return int(self.problems["severity"].max())

    def severity_legend(self, *, max_names: int = 3) -> str:
        """The severity scale in words, highest first: ``4 安全隐患 · 3 商品质量、… · 1 其余类型 · 0 未分类``.

        A level with more than ``max_names`` problem types is called 其余类型.
        """
        parts = []
        for severity, names in self.problems.groupby("severity", sort=True)["name"]:
            names = list(names)
            parts.append(f"{severity} {'、'.join(names) if len(names) <= max_names else '其余类型'}")
        return " · ".join([*reversed(parts), f"0 {UNCLASSIFIED}"])

    @functools.cached_property
    def problem_names(self) -> tuple[str, ...]:
        """Problem type names in order (without 未分类)."""
        return tuple(self.problems["name"])

    @property
    def table1_rows(self) -> tuple[str, ...]:
        """Rows of the seed's 统计表1 (违法案件 by main problem), in order."""
        return self.table_rows.get("统计表1", ())

    @property
    def table2_rows(self) -> tuple[str, ...]:
        """Rows of the seed's 统计表2 (产品质量 cases by main problem), in order."""
        return self.table_rows.get("统计表2", ())

    @functools.cached_property
    def _severity(self) -> dict[str, int]:
        return dict(zip(self.problems["name"], self.problems["severity"].astype(int)))

    # -- exported columns -----------------------------------------------------------
    def map_category(self, raw: object) -> str | None:
        """Map an exported category value (e.g. 家用电器类, 通讯器材类) onto a category, or None."""
        return _map_raw(raw, self.category_map, self.categories, severity=None)

    def map_problem(self, raw: object) -> str | None:
        """Map an exported problem value onto a problem type, or None.

        Multi-valued cells (``客服不处理,不予退款,假货``) map to their most severe part.
        """
        return _map_raw(raw, self.problem_map, self.problem_names, severity=self._severity)

    # -- platforms -------------------------------------------------------------------
    def platform_of_name(self, value: object) -> str | None:
        """Platform named by a platform or merchant cell (alias or contained alias), or None."""
        if not isinstance(value, str):
            return None
        key = value.strip().lower()
        if not key:
            return None
        hit = self.platform_aliases.get(key)
        if hit is not None:
            return hit
        found = self._alias_index.search(key)
        return self.platform_aliases[found] if found else None

    @functools.cached_property
    def _alias_index(self) -> PhraseIndex:
        return PhraseIndex(a for a, p in self.platform_aliases.items() if p != OTHER_PLATFORM)


def _map_raw(raw: object, table: Mapping[str, str], names: Iterable[str], *,
             severity: Mapping[str, int] | None) -> str | None:
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not value:
        return None
    hit = _lookup_raw(value, table, names)
    if hit is not None or severity is None:
        return hit
    parts = [_lookup_raw(p, table, names) for p in _RAW_SPLIT.split(value) if p]
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return max(parts, key=lambda p: severity.get(p, 0))  # max() keeps the first on ties


def _lookup_raw(value: str, table: Mapping[str, str], names: Iterable[str]) -> str | None:
    hit = table.get(value)
    if hit is not None:
        return hit
    names = set(names)
    if value in names:
        return value
    for suffix in _RAW_SUFFIXES:
        if value.endswith(suffix) and len(value) > len(suffix):
            stem = value[: -len(suffix)]
            hit = table.get(stem) or (stem if stem in names else None)
            if hit is not None:
                return hit
    return None


# -- phrase matching shared with analysis.classify -----------------------------------------
_ASCII_RUN = re.compile(r"[a-z0-9][a-z0-9.&_-]*")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class PhraseIndex:
    """Leftmost-longest matching of many lower-case phrases in one left-to-right scan.

    Faster than a regex alternation of thousands of phrases in CPython: candidates are
    looked up by their first two characters. Runs of ASCII letters/digits are matched
    as whole words (``jd`` does not match inside ``jdk``; ``iphone`` matches ``iphone11``).

    Args:
        phrases: lower-case phrases (whitespace-free).
    """

    def __init__(self, phrases: Iterable[str]) -> None:
        phrases = {p for p in phrases if p}
        self.phrases = frozenset(phrases)
        self._by_bigram: dict[str, list[str]] = {}
        self._single: set[str] = set()
        self._ascii: set[str] = set()
        for phrase in phrases:
            if phrase.isascii() and all(_is_ascii_alnum(c) or c in ".&_-" for c in phrase):
                self._ascii.add(phrase)
            elif len(phrase) == 1:
                self._single.add(phrase)
            else:
                self._by_bigram.setdefault(phrase[:2], []).append(phrase)
        for candidates in self._by_bigram.values():
            candidates.sort(key=len, reverse=True)
        self._firsts = frozenset(k[0] for k in self._by_bigram) | self._single | _ALNUM

    def _ascii_word(self, run: str) -> str | None:
        if run in self._ascii:
            return run
        stripped = run.rstrip("0123456789").rstrip(".&_-")
        if stripped != run and stripped in self._ascii:
            return stripped
        stripped = run.rstrip(".&_-")
        return stripped if stripped in self._ascii else None

    def finditer(self, text: str):
        """Yield ``(phrase, start)`` for the leftmost-longest, non-overlapping matches."""
        get, single, firsts, startswith = self._by_bigram.get, self._single, self._firsts, text.startswith
        n, skip = len(text), 0
        for i, ch in enumerate(text):
            if i < skip or ch not in firsts:
                continue
            candidates = get(text[i:i + 2])
            if candidates:
                for phrase in candidates:
                    end = i + len(phrase)
                    if startswith(phrase, i) and not (
                        end < n and phrase[-1] in _ALNUM and text[end] in _ALNUM
                    ):
                        yield phrase, i
                        skip = end
                        break
                if skip > i:
                    continue
            if ch in _ALNUM:  # a run of ASCII letters/digits is one word
                run = _ASCII_RUN.match(text, i).group()
                word = self._ascii_word(run) if self._ascii else None
                if word is not None:
                    yield word, i
                skip = i + len(run)
            elif ch in single:
                yield ch, i

    def search(self, text: str) -> str | None:
        """The first phrase found in ``text``, or None."""
        return next((phrase for phrase, _ in self.finditer(text)), None)


# -- loading ---------------------------------------------------------------------------------
def load_taxonomy(directory: str | Path | None = None) -> Taxonomy:
    """Read and validate the taxonomy (cached until a file changes).

    Args:
        directory: folder holding the taxonomy files; default ``data/taxonomy/`` (under
            ``$COMPLAINT_RADAR_DATA`` when set, see :func:`analysis.textutil.data_path`).

    Raises:
        ConfigError: a file is missing or malformed (the message names file, line and reason).
    """
    folder = Path(directory) if directory is not None else data_path("taxonomy")
    stamp = []
    for name in _FILES:
        path = folder / name
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ConfigError("缺少分类数据文件，请从版本库恢复该文件。", file=str(path)) from None
        stamp.append((name, st.st_mtime_ns, st.st_size))
    return _load_cached(str(folder.resolve()), tuple(stamp))


@functools.lru_cache(maxsize=8)
def _load_cached(folder: str, stamp: tuple) -> Taxonomy:
    return _Loader(Path(folder)).load()


def _specific_first(keywords: dict[str, dict[str, float]], kinds: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Drop from the catch-all categories (kind 其他) the keywords a specific category lists too.

    猫粮 under both 其他 and a newly added 宠物用品 then counts for 宠物用品 only.
    """
    specific = {w for c, words in keywords.items() if kinds.get(c) != KIND_OTHER for w in words}
    return {c: ({w: v for w, v in words.items() if w not in specific} if kinds.get(c) == KIND_OTHER else words)
            for c, words in keywords.items()}


class _Loader:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.digest = hashlib.blake2b(digest_size=12)

    def rows(self, name: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
        path = self.folder / name
        raw = path.read_bytes()
        self.digest.update(name.encode() + b"\0" + raw + b"\0")
        return read_config_csv(path, columns, data=raw)

    def fail(self, name: str, line: int | None, reason: str) -> ConfigError:
        return ConfigError(reason, file=str(self.folder / name), row=line)

    def load(self) -> Taxonomy:
        categories, focus, kinds = self.load_categories()
        table_rows = self.load_stat_tables()
        problems = self.load_problems(table_rows)
        problem_names = tuple(problems["name"])
        cat_kw = _specific_first(self.load_keywords("category_keywords.csv", "category", categories), kinds)
        prob_kw = self.load_keywords("problem_keywords.csv", "problem", problem_names)
        problems = problems.assign(keywords=[
            " ".join(sorted(prob_kw.get(p, {}), key=lambda k: -prob_kw[p][k])) for p in problem_names
        ])
        platforms, aliases, cues = self.load_platforms()
        category_map = self.load_mapping("category_mapping.csv", "category", categories)
        problem_map = self.load_mapping("problem_mapping.csv", "problem", problem_names)
        ignore = self.load_ignore()
        context = self.load_context(cat_kw)
        content_free = self.load_content_free(cat_kw)
        return Taxonomy(
            categories=categories, focus_categories=focus, problems=problems, platforms=platforms,
            category_keywords=cat_kw, problem_keywords=prob_kw, ignore_phrases=ignore,
            platform_aliases=aliases, platform_text_cues=cues, category_map=category_map,
            problem_map=problem_map, table_rows=table_rows, category_kinds=kinds,
            fingerprint=self.digest.hexdigest(), directory=self.folder, category_context=context,
            content_free_words=content_free,
        )

    def _names(self, name: str, rows, required: tuple[str, ...], what: str) -> list[str]:
        seen: dict[str, int] = {}
        for line, row in rows:
            value = row["name"]
            if not value:
                raise self.fail(name, line, f"{what}名称为空。")
            if value == UNCLASSIFIED:
                raise self.fail(name, line, f"「{UNCLASSIFIED}」是保留名称，不能作为{what}。")
            if value in seen:
                raise self.fail(name, line, f"{what}「{value}」重复（第 {seen[value]} 行已定义）。")
            seen[value] = line
        missing = [r for r in required if r not in seen]
        if missing:
            raise self.fail(name, None, f"缺少必需的{what}「{'、'.join(missing)}」（报表依赖这些名称）。")
        return list(seen)

    def _flag(self, name: str, line: int, value: str, column: str) -> bool:
        low = value.lower()
        if low in _YES:
            return True
        if low in _NO:
            return False
        raise self.fail(name, line, f"列「{column}」应为 yes 或 no，实际为「{value}」。")

    def load_categories(self):
        name = "categories.csv"
        rows = self.rows(name, ("name", "focus"))
        names = self._names(name, rows, REQUIRED_CATEGORIES, "类别")
        focus = tuple(r["name"] for line, r in rows if self._flag(name, line, r["focus"], "focus"))
        kinds = {r["name"]: r.get("kind", "") for _, r in rows}
        return tuple(names), focus, kinds

    def load_stat_tables(self) -> dict[str, tuple[str, ...]]:
        name = "stat_tables.csv"
        tables: dict[str, list[str]] = {}
        for line, row in self.rows(name, ("table", "row")):
            if not row["table"] or not row["row"]:
                raise self.fail(name, line, "table 和 row 都不能为空。")
            if row["row"] in tables.get(row["table"], []):
                raise self.fail(name, line, f"「{row['table']}」中的行「{row['row']}」重复。")
            tables.setdefault(row["table"], []).append(row["row"])
        return {k: tuple(v) for k, v in tables.items()}

    def load_problems(self, table_rows: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
        name = "problems.csv"
        rows = self.rows(name, ("name", "severity", "quality_safety", "table1_row", "table2_row"))
        names = self._names(name, rows, REQUIRED_PROBLEMS, "问题类型")
        records = []
        for line, row in rows:
            try:
                severity = int(row["severity"])
            except ValueError:
                severity = -1
            if not 1 <= severity <= 9:
                raise self.fail(name, line, f"severity 应为 1–9 的整数，实际为「{row['severity']}」。")
            for column, table in (("table1_row", "统计表1"), ("table2_row", "统计表2")):
                value = row[column]
                if value and value not in table_rows.get(table, ()):
                    raise self.fail(name, line, f"列「{column}」的「{value}」不是 stat_tables.csv 中"
                                                f"{table}的行。")
            if not row["table1_row"]:
                raise self.fail(name, line, "table1_row 不能为空：每个问题类型都要计入统计表1。")
            records.append({
                "name": row["name"], "severity": severity,
                "quality_safety": self._flag(name, line, row["quality_safety"], "quality_safety"),
                "table1_row": row["table1_row"], "table2_row": row["table2_row"] or None,
                "description": row.get("description", ""),
            })
        assert [r["name"] for r in records] == names
        return pd.DataFrame.from_records(records)

    def load_keywords(self, name: str, label_column: str, labels: tuple[str, ...]):
        out: dict[str, dict[str, float]] = {label: {} for label in labels}
        where: dict[tuple[str, str], int] = {}
        for line, row in self.rows(name, (label_column, "weight", "keywords")):
            label = row[label_column]
            if label not in out:
                raise self.fail(name, line, f"未知的{label_column}「{label}」，请先在"
                                            f"{'categories' if label_column == 'category' else 'problems'}.csv 中定义。")
            try:
                weight = float(row["weight"])
            except ValueError:
                weight = -1.0
            if not 0 < weight <= _MAX_WEIGHT:
                raise self.fail(name, line, f"weight 应为 0 到 {_MAX_WEIGHT:g} 之间的数字，实际为「{row['weight']}」。")
            words = row["keywords"].split()
            if not words:
                raise self.fail(name, line, "keywords 为空（多个关键词用空格分隔）。")
            for word in words:
                key = word.lower()
                if (label, key) in where:
                    raise self.fail(name, line, f"关键词「{word}」在「{label}」中重复（第 {where[label, key]} 行已有）。")
                where[label, key] = line
                out[label][key] = weight
        return out

    def load_platforms(self):
        name = "platforms.csv"
        rows = self.rows(name, ("name", "aliases", "text_cues"))
        names = self._names(name, rows, REQUIRED_PLATFORMS, "平台")
        if names[-1] != OTHER_PLATFORM:
            names.remove(OTHER_PLATFORM)
            names.append(OTHER_PLATFORM)
        aliases: dict[str, str] = {}
        cues: dict[str, str] = {}
        for line, row in rows:
            platform = row["name"]
            for table, column in ((aliases, "aliases"), (cues, "text_cues")):
                words = row[column].split() + ([platform] if column == "aliases" else [])
                for word in words:
                    key = word.lower()
                    if table.get(key, platform) != platform:
                        raise self.fail(name, line, f"别名「{word}」同时属于「{table[key]}」和「{platform}」。")
                    table[key] = platform
        if any(p == OTHER_PLATFORM for p in cues.values()):
            raise self.fail(name, None, f"「{OTHER_PLATFORM}」不能有 text_cues。")
        return tuple(names), aliases, cues

    def load_mapping(self, name: str, column: str, labels: tuple[str, ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for line, row in self.rows(name, ("raw", column)):
            raw, target = row["raw"], row[column]
            if not raw:
                raise self.fail(name, line, "raw 为空。")
            if target not in labels:
                raise self.fail(name, line, f"「{target}」不是已定义的{'类别' if column == 'category' else '问题类型'}。")
            if out.get(raw, target) != target:
                raise self.fail(name, line, f"「{raw}」已映射到「{out[raw]}」，不能再映射到「{target}」。")
            out[raw] = target
        return out

    def load_ignore(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(word for _, word in self.word_lines("ignore_phrases.txt")))

    def word_lines(self, name: str) -> list[tuple[int, str]]:
        """``(line, phrase)`` of a one-phrase-per-line file (lower-case; ``#`` lines skipped)."""
        raw = (self.folder / name).read_bytes()
        self.digest.update(name.encode() + b"\0" + raw + b"\0")
        text = decode_utf8(raw, str(self.folder / name))
        phrases = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            phrase = line.strip()
            if not phrase or is_comment(line):
                continue
            if len(phrase.split()) > 1:
                raise self.fail(name, line_no, f"每行只能写一个短语，「{phrase}」含有空格。")
            phrases.append((line_no, phrase.lower()))
        return phrases

    def load_context(self, keywords: Mapping[str, Mapping[str, float]]) -> tuple[ContextRule, ...]:
        name = "category_context.csv"
        rules: list[ContextRule] = []
        for line, row in self.rows(name, ("category", "from", "when")):
            category, sources = row["category"], row["from"].split()
            for value in (category, *sources):
                if value not in keywords:
                    raise self.fail(name, line, f"「{value}」不是 categories.csv 中定义的类别。")
            if not sources:
                raise self.fail(name, line, "from 为空：请写出其关键词在此语境下改记入本类别的类别（空格分隔）。")
            if category in sources:
                raise self.fail(name, line, f"from 不能包含本类别「{category}」。")
            when = [w.lower() for w in row["when"].split()]
            unknown = [w for w in when if w not in keywords[category]]
            if unknown:
                raise self.fail(name, line, f"语境词「{'、'.join(unknown)}」不是「{category}」的关键词；"
                                            "请先在 category_keywords.csv 中把它列为该类别的关键词。")
            if not when:  # the category's own product and service names
                when = [w for w, weight in keywords[category].items() if weight >= 3]
            for other in rules:
                if other.category in sources and category in other.sources:
                    raise self.fail(name, line, f"「{category}」与「{other.category}」互为语境，"
                                                "两条规则会互相抵消；请只保留一个方向。")
            rules.append(ContextRule(category, tuple(dict.fromkeys(sources)), frozenset(when)))
        return tuple(rules)

    def load_content_free(self, keywords: Mapping[str, Mapping[str, float]]) -> frozenset[str]:
        name = "content_free_words.txt"
        # a weak, shared hint (速度, 热情: weight 1) may be listed; a word naming a category may not
        owner = {w: c for c, words in keywords.items() for w, weight in words.items() if weight >= 2}
        lines = self.word_lines(name)
        for line, word in lines:
            if word in owner:
                raise self.fail(name, line, f"「{word}」是类别「{owner[word]}」权重 2 以上的关键词，说明了商品或服务，"
                                            "不能列为无实质内容的词；请删去其中一处。")
        return frozenset(word for _, word in lines)
