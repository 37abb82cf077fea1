"""Keyword search over complaints: ``漏电 AND 热水壶 NOT 退款``, run inside DuckDB.

Query language (operators in any letter case):

* words next to each other must all occur (``漏电 热水壶`` = ``漏电 AND 热水壶``);
* ``OR`` between alternatives, ``NOT`` or a leading ``-`` to exclude, parentheses to group;
  ``NOT`` binds tightest, then ``AND``, then ``OR``;
* a bare word is looked up in the cached tokens, segmented and normalised (lower case,
  half-width) by the same tokenizer as the complaints: it matches inside a token
  (``热水壶`` finds 电热水壶) and a word the tokenizer splits matches its tokens in a
  row, but never across a dropped punctuation mark or line break;
* ``"…"`` (or Chinese quotes) matches a literal substring of the original text;
* every word and phrase is also looked for in the complaint's title and product name
  (a literal, case-insensitive substring), so ``物流延误`` finds complaints titled so.

:func:`no_match_reason` says in Chinese why a query matched nothing.

:func:`search` returns one page of matching complaints with the global filters applied.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import threading
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from analysis.errors import UserError
from analysis.store import Filters

MAX_QUERY_CHARS = 500
MAX_TERMS = 30
_QUOTES = str.maketrans({"“": '"', "”": '"', "＂": '"', "（": "(", "）": ")", "－": "-"})
_LEXER = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"?|([^\s()"]+))')
_OPERATORS = {"AND", "OR", "NOT"}


@dataclasses.dataclass(frozen=True)
class Term:
    """A search word (``phrase=True``: literal substring of the text)."""

    text: str
    phrase: bool = False


@dataclasses.dataclass(frozen=True)
class Not:
    """Negation of a sub-query."""

    child: object


@dataclasses.dataclass(frozen=True)
class And:
    """All sub-queries must match."""

    children: tuple


@dataclasses.dataclass(frozen=True)
class Or:
    """Any sub-query may match."""

    children: tuple


def _lex(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.translate(_QUOTES)
    while pos < len(text):
        match = _LEXER.match(text, pos)
        if match is None or match.end() == pos:
            break
        pos = match.end()
        lpar, rpar, quoted, word = match.groups()
        if lpar:
            out.append(("(", lpar))
        elif rpar:
            out.append((")", rpar))
        elif quoted is not None:
            if quoted.strip():
                out.append(("phrase", quoted.strip()))
        elif word is not None:
            if word.upper() in _OPERATORS:
                out.append((word.upper(), word))
            elif word.startswith("-") and len(word) > 1:
                out.append(("NOT", "-"))
                out.append(("word", word[1:]))
            elif word != "-":
                out.append(("word", word))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.pos, self.terms = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self):
        node = self.parse_or()
        if self.peek() is not None:
            kind, raw = self.take()
            raise UserError(f"搜索条件有多余的「{raw}」，请检查括号是否配对。", column="关键词")
        return node

    def parse_or(self):
        children = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self):
        children = [self.parse_not()]
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.take()
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_not(self):
        if self.peek() == "NOT":
            self.take()
            return Not(self.parse_not())
        return self.parse_atom()

    def parse_atom(self):
        kind = self.peek()
        if kind is None:
            raise UserError("搜索条件不完整：AND / OR / NOT 后面需要关键词。", column="关键词")
        if kind == "(":
            self.take()
            node = self.parse_or()
            if self.peek() != ")":
                raise UserError("搜索条件缺少右括号「)」。", column="关键词")
            self.take()
            return node
        if kind in ("word", "phrase"):
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise UserError(f"关键词太多（最多 {MAX_TERMS} 个），请精简搜索条件。", column="关键词")
            return Term(self.take()[1], phrase=(kind == "phrase"))
        _, raw = self.take()
        raise UserError(f"「{raw}」前面缺少关键词。", column="关键词")


def parse_query(text: str | None):
    """Parse a search query into ``Term`` / ``Not`` / ``And`` / ``Or`` nodes.

    Returns:
        The query tree, or None for an empty query.

    Raises:
        UserError: unbalanced parentheses, a dangling operator, or an over-long query
            (a Chinese message naming the problem).
    """
    if not isinstance(text, str) or not text.strip():
        return None
    if len(text) > MAX_QUERY_CHARS:
        raise UserError(f"搜索条件过长（最多 {MAX_QUERY_CHARS} 个字符）。", column="关键词")
    tokens = _lex(text)
    if not tokens:
        return None
    return _Parser(tokens).parse()


def query_terms(node, *, positive: bool = True) -> list[str]:
    """The words a query looks for (not those under NOT), for highlighting."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [node.text] if positive else []
    if isinstance(node, Not):
        return query_terms(node.child, positive=not positive)
    out: list[str] = []
    for child in node.children:
        for term in query_terms(child, positive=positive):
            if term not in out:
                out.append(term)
    return out


#: Columns searched as literal substrings besides the text (title, product name).
FIELD_COLS = ("c.title", "c.product")


def query_sql(node, *, tokenizer, tokens_col: str = "tk.tokens", text_col: str = "c.text",
              field_cols: Sequence[str] = FIELD_COLS) -> tuple[str, list]:
    """Translate a query tree into a SQL condition and its parameters.

    Args:
        node: from :func:`parse_query` (None gives ``TRUE``).
        tokenizer: segments the words the same way as the complaints
            (:class:`analysis.segment.Tokenizer`).
        tokens_col: SQL expression of the space-joined tokens.
        text_col: SQL expression of the original text.
        field_cols: SQL expressions of further columns matched as literal substrings.
    """
    if node is None:
        return "TRUE", []
    if isinstance(node, Term):
        sql, params = _term_sql(node, tokenizer=tokenizer, tokens_col=tokens_col, text_col=text_col)
        needle = node.text.lower()
        fields = [f"contains(lower(coalesce({col}, '')), ?)" for col in field_cols]
        return ("(" + " OR ".join([sql, *fields]) + ")" if fields else sql), [*params, *[needle] * len(fields)]
    if isinstance(node, Not):
        sql, params = query_sql(node.child, tokenizer=tokenizer, tokens_col=tokens_col, text_col=text_col,
                                field_cols=field_cols)
        return f"(NOT {sql})", params
    joiner = " AND " if isinstance(node, And) else " OR "
    parts, params = [], []
    for child in node.children:
        sql, p = query_sql(child, tokenizer=tokenizer, tokens_col=tokens_col, text_col=text_col,
                           field_cols=field_cols)
        parts.append(sql)
        params.extend(p)
    return "(" + joiner.join(parts) + ")", params


def _term_sql(node: Term, *, tokenizer, tokens_col: str, text_col: str) -> tuple[str, list]:
    """One word in the tokens (or a phrase in the text)."""
    if not node.phrase:
        words = tokenizer.cut(node.text)
        if len(words) == 1:
            return f"contains(coalesce({tokens_col}, ''), ?)", words
        if words:  # split here, but maybe one token in a complaint (热水壶 → 热水 壶 / 电热水壶)
            return (f"(contains(coalesce({tokens_col}, ''), ?) OR contains(coalesce({tokens_col}, ''), ?))",
                    ["".join(words), " ".join(words)])
    needle = node.text.lower()
    if needle == needle.upper():  # nothing to fold (Chinese, digits): skip lower() of every text
        return f"contains(coalesce({text_col}, ''), ?)", [needle]
    return f"contains(lower(coalesce({text_col}, '')), ?)", [needle]


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """One page of search results.

    Attributes:
        total: matching complaints in all pages.
        rows: this page (see :data:`RESULT_COLUMNS`), newest first; text unmasked.
        terms: the words searched for, for highlighting.
    """

    total: int
    rows: pd.DataFrame
    terms: list[str]


RESULT_COLUMNS = (
    "complaint_id", "received_at", "category", "problem", "severity", "platform_norm", "district",
    "title", "product", "merchant", "text", "category_confidence", "category_source",
    "category_evidence", "problem_confidence", "problem_evidence",
)


# Complaints matching a query, per store state and query: ``key -> (polarity, complaint ids)``,
# kept on the store (``Store.memo``: emptied when the store's contents change). The set depends
# only on the texts and the token cache, not on the filters, so a filter change or another page
# of the same query reads no token (LRU, bounded by the ids held).
_MATCHES_LOCK = threading.Lock()
MATCH_CACHE_IDS = 1_000_000


def _tokens_key(store, tokenizer) -> tuple:
    """What the matching set depends on besides the store's contents: the token cache."""
    row = store.cursor().execute(
        "SELECT (SELECT count(*) FROM tokens), "
        "(SELECT max(updated_at)::VARCHAR FROM token_state WHERE fingerprint = ?)", [tokenizer.fingerprint]
    ).fetchone()
    return (*row, tokenizer.fingerprint)


def _matching_set(store, node, tokenizer) -> tuple[bool, pa.Table]:
    """The complaints a query matches, or those it does not match, whichever is usually fewer.

    Returns:
        ``(negated, ids)``: ``ids`` (column ``complaint_id``) are the complaints matching the
        query, or not matching it when ``negated`` (a query true of an empty text, e.g.
        ``NOT 退款``, matches most complaints).
    """
    cond, params = query_sql(node, tokenizer=tokenizer, tokens_col="t.tokens", text_col="c.text")
    empty, empty_params = query_sql(node, tokenizer=tokenizer, tokens_col="''", text_col="''",
                                    field_cols=("''",) * len(FIELD_COLS))
    negated = bool(store.scalar(f"SELECT {empty}", empty_params))
    pred = f"(NOT {cond})" if negated else cond
    fp = tokenizer.fingerprint
    if "c." not in cond and "t.tokens" in cond:
        # Tokens only: scan the cache once. A text without cached tokens matches as an empty
        # token string, which ``negated`` already decides (the same as a LEFT JOIN would).
        sql = (f"SELECT c.complaint_id FROM complaints c WHERE c.text_hash IN "
               f"(SELECT t.text_hash FROM tokens t WHERE t.fingerprint = ? AND {pred})")
        sql_params = [fp, *params]
    elif "t.tokens" in cond:
        sql = (f"SELECT c.complaint_id FROM complaints c LEFT JOIN tokens t "
               f"ON t.text_hash = c.text_hash AND t.fingerprint = ? WHERE {pred}")
        sql_params = [fp, *params]
    else:
        sql, sql_params = f"SELECT c.complaint_id FROM complaints c WHERE {pred}", list(params)
    matches = store.memo("search.matches", collections.OrderedDict)
    key = (*_tokens_key(store, tokenizer), sql, tuple(sql_params))
    with _MATCHES_LOCK:
        if key in matches:
            matches.move_to_end(key)
            return matches[key]
    ids = store.cursor().sql(sql, params=sql_params).to_arrow_table()
    value = (negated, ids)
    if ids.num_rows <= MATCH_CACHE_IDS:
        with _MATCHES_LOCK:
            matches[key] = value
            while sum(v[1].num_rows for v in matches.values()) > MATCH_CACHE_IDS:
                matches.popitem(last=False)
    return value


def search(store, query: str | None = None, *, tokenizer, filters: Filters | None = None,
           problems: Sequence[str] = (), min_severity: int = 0, limit: int = 50, offset: int = 0
           ) -> SearchResult:
    """Complaints matching a keyword query and the filters, newest first.

    The complaints a query matches are found once per store state (texts and token cache)
    and reused for other filters and pages.

    Args:
        store: the complaint store (tokens come from its cache; open it with
            :func:`analysis.enrich.open_for_analysis` first).
        query: see the module notes; empty matches everything.
        tokenizer: the tokenizer whose cached tokens to search.
        filters: the global filters.
        problems: problem types to keep (empty: all).
        min_severity: keep complaints at least this severe.
        limit: rows per page.
        offset: rows skipped.

    Raises:
        UserError: a malformed query.
    """
    node = parse_query(query)
    where, params = (filters or Filters()).where(prefix="c.")
    clauses, all_params = [where], list(params)
    if problems:
        clauses.append(f"c.problem IN ({', '.join('?' * len(problems))})")
        all_params.extend(problems)
    if min_severity > 0:
        clauses.append("c.severity >= ?")
        all_params.append(int(min_severity))
    cur = store.cursor()
    if node is not None:
        negated, ids = _matching_set(store, node, tokenizer)
        cur.register("_search_ids", ids)
        clauses.append(f"c.complaint_id {'NOT IN' if negated else 'IN'} (SELECT complaint_id FROM _search_ids)")
    order = "ORDER BY c.received_at DESC NULLS LAST, c.complaint_id"
    try:
        # One pass: the matches' ids and times (narrow rows), then their count and this page's ids.
        total, page = cur.execute(
            f"WITH m AS MATERIALIZED (SELECT c.complaint_id, c.received_at FROM complaints_enriched c "
            f"WHERE {' AND '.join(clauses)}) "
            f"SELECT (SELECT count(*) FROM m), "
            f"(SELECT list(complaint_id) FROM (SELECT c.complaint_id FROM m c {order} LIMIT ? OFFSET ?))",
            [*all_params, int(limit), int(offset)]).fetchone()
    finally:
        cur.close()
    page = list(page or [])
    columns = ", ".join(f"c.{col}" for col in RESULT_COLUMNS)
    rows = store.query(
        f"SELECT {columns} FROM complaints_enriched c "
        f"WHERE c.complaint_id IN (SELECT unnest(?::VARCHAR[])) {order}", [page])
    return SearchResult(total=int(total or 0), rows=rows, terms=query_terms(node))


def highlight_spans(text: str | None, terms: Sequence[str]) -> list[tuple[str, bool]]:
    """Split a text into ``(piece, is_match)`` pieces, marking every occurrence of the terms.

    Matching is case-insensitive, longest term first; the pieces join back to the text.
    """
    if not isinstance(text, str) or not text:
        return []
    terms = sorted({t for t in terms if t}, key=len, reverse=True)
    if not terms:
        return [(text, False)]
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            out.append((text[pos:match.start()], False))
        out.append((match.group(), True))
        pos = match.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def _positive_terms(node, *, positive: bool = True) -> list[Term]:
    if isinstance(node, Term):
        return [node] if positive else []
    if isinstance(node, Not):
        return _positive_terms(node.child, positive=not positive)
    if node is None:
        return []
    return [t for child in node.children for t in _positive_terms(child, positive=positive)]


def _count_everywhere(store, node, tokenizer) -> int:
    """Complaints in the whole store matching a query tree (no filters)."""
    negated, ids = _matching_set(store, node, tokenizer)
    return store.count("complaints") - ids.num_rows if negated else ids.num_rows


def no_match_reason(store, query: str | None, *, tokenizer) -> str | None:
    """Why a query found nothing, in Chinese (``None``: empty query, or it matches in the whole store
    and only the filters left everything out — the message then says so).

    Checks, in order: words found nowhere (title, text or product name of any complaint),
    words found alone but never together, complaints matching only outside the filters.
    """
    node = parse_query(query)
    if node is None:
        return None
    anywhere = _count_everywhere(store, node, tokenizer)
    if anywhere:
        return (f"全部数据中有 {anywhere:,} 件投诉符合搜索条件，但都不在当前的时间、类别、平台、区或问题类型"
                "筛选范围内；可放宽左侧或上方的筛选。")
    missing = [t for t in _positive_terms(node) if _count_everywhere(store, t, tokenizer) == 0]
    if missing:
        words = "、".join(f"「{t.text}」" for t in missing)
        hint = ("引号内的词须在原文中逐字出现；可去掉引号或缩短。" if any(t.phrase for t in missing)
                else "词语按分词匹配；可换用更短或更常见的说法，或用引号查原文中的一串字。")
        return f"{words}在全部投诉的标题、正文和商品名称中都没有出现。{hint}"
    return "每个关键词单独都能找到投诉，但没有投诉同时满足全部条件；可减少关键词，或用 OR 连接。"
