"""``python -m analysis segment``: segment texts read from stdin, one per line."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from analysis.segment import BACKENDS, DEFAULT_STOPWORDS, DEFAULT_USERDICT, StopwordFilter, Tokenizer

NAME = "segment"
HELP = "分词：从标准输入逐行读取文本，每行输出一行以空格分隔的词"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--backend", choices=BACKENDS, default="rjieba",
                        help="分词后端：rjieba（默认，快）或 jieba（Python 参考实现）")
    parser.add_argument("--userdict", type=Path, default=DEFAULT_USERDICT,
                        help="用户词典（jieba 格式，默认 data/dict/userdict.txt）")
    parser.add_argument("--no-userdict", action="store_true", help="不加载用户词典，只用 jieba 自带词典")
    parser.add_argument("--no-hmm", action="store_true", help="关闭 HMM 新词发现")
    parser.add_argument("--remove-stopwords", action="store_true",
                        help="去掉停用词、标点和纯数字（data/dict/stopwords.txt）")
    parser.add_argument("--encoding", default="utf-8-sig", help="标准输入的编码（默认 UTF-8）")


def run(args: argparse.Namespace) -> int:
    """Read lines from stdin and write one line of space-separated tokens per input line."""
    tokenizer = Tokenizer(
        backend=args.backend,
        userdict=None if args.no_userdict else args.userdict,
        stopwords=DEFAULT_STOPWORDS if args.remove_stopwords else None,
        hmm=not args.no_hmm,
    )
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding=args.encoding, errors="replace")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n",
                              line_buffering=sys.stdout.isatty())
    # Answer line by line when someone types; batch when the input is piped.
    chunk_size = 1 if sys.stdin.isatty() else 2000
    lines = (line.rstrip("\r\n") for line in stdin)
    keep = StopwordFilter(tokenizer.stopwords) if args.remove_stopwords else None
    try:
        for tokens in tokenizer.cut_many(lines, chunk_size=chunk_size):
            stdout.write((keep(tokens) if keep else tokens) + "\n")
    finally:
        stdout.flush()
        stdout.detach()
    return 0
