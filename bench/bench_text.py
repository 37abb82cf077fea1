"""Benchmark the text pipeline: segmentation (jieba vs rjieba), the token cache, masking, rules.

Run: ``.venv/bin/python bench/bench_text.py [--rows 200000] [--jieba-rows 20000]``

Texts are seeded 12315-style complaints from :func:`analysis.demo.generate_complaints`.
Prints, with their targets:

* chars/s of single-process jieba (timed on a subsample, said in the output) and of rjieba
  (the default backend) on every text, and their ratio (target ≥ 15×), plus the token F1
  between the two on the subsample;
* the speed-up of a second run served from the store's token cache (target ≥ 50×): the
  first run segments every distinct text and writes the cache, the second finds it complete;
  both then read the tokens back (:func:`analysis.segment.load_tokens`), which is reported
  separately;
* masking throughput (:func:`analysis.privacy.mask_series`);
* rule-classification throughput (:class:`analysis.classify.RuleClassifier`);
* peak memory (maximum resident set size of the process).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from analysis import privacy, segment  # noqa: E402
from analysis.demo import generate_complaints  # noqa: E402
from analysis.store import Store, text_hash  # noqa: E402


def _timed(fn, *args, **kwargs):
    """Run once; return (result, wall seconds)."""
    gc.collect()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _cpu_timed(fn, *args, **kwargs):
    """Run once; return (result, wall seconds, CPU seconds of this process)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _f1(a: list[str], b: list[str]) -> float:
    hit = na = nb = 0
    for x, y in zip(a, b, strict=True):
        sx, sy = set(), set()
        for tokens, spans in ((x.split(), sx), (y.split(), sy)):
            pos = 0
            for tok in tokens:
                spans.add((pos, pos + len(tok)))
                pos += len(tok)
        hit, na, nb = hit + len(sx & sy), na + len(sx), nb + len(sy)
    precision, recall = hit / max(na, 1), hit / max(nb, 1)
    return 2 * precision * recall / max(precision + recall, 1e-12)


def _fill_store(store: Store, texts: list[str]) -> None:
    table = pa.table({
        "complaint_id": [f"B{i:07d}" for i in range(len(texts))],
        "text": texts,
        "content_hash": [text_hash(f"{i}:{t}") for i, t in enumerate(texts)],
        "text_hash": [text_hash(t) for t in texts],
        "source_row": list(range(1, len(texts) + 1)),
    })
    with store.transaction() as cur:
        cur.register("_bench", table)
        cur.execute("INSERT INTO complaints (complaint_id, text, content_hash, text_hash, import_id, source_row) "
                    "SELECT complaint_id, text, content_hash, text_hash, 1, source_row FROM _bench")
        cur.unregister("_bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="complaints to generate (default 200000)")
    parser.add_argument("--jieba-rows", type=int, default=20_000,
                        help="subsample timed with the slow jieba backend (default 20000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    print(f"bench_text: {args.rows:,} seeded demo complaints (analysis.demo, random_state={args.seed})")
    (frame, _truth), seconds = _timed(generate_complaints, args.rows, random_state=args.seed)
    texts = frame["投诉内容"].fillna("").astype(str).tolist()
    titles = frame["投诉标题"].fillna("").astype(str).tolist()
    products = frame["商品名称"].fillna("").astype(str).tolist()
    del frame
    n_chars = sum(map(len, texts))
    print(f"  generated in {seconds:.1f} s; {n_chars:,} characters, {n_chars / len(texts):.0f} per text, "
          f"{len(set(texts)):,} distinct texts")

    # -- segmentation -----------------------------------------------------------------
    print("\nsegmentation (single process, same user dictionary)")
    rj, t_rj_init = _timed(segment.Tokenizer, backend="rjieba")
    jb, t_jb_init = _timed(segment.Tokenizer, backend="jieba")
    sub = texts[: args.jieba_rows]
    sub_chars = sum(map(len, sub))
    jb_tokens, w_jb, c_jb = _cpu_timed(lambda: list(jb.cut_many(sub)))
    rj_sub = list(rj.cut_many(sub))
    rj_tokens, w_rj, c_rj = _cpu_timed(lambda: list(rj.cut_many(texts)))
    print("  (chars/s on CPU time: the machine is shared, so wall-clock time is shown as well)")
    print(f"  {'backend':<8} {'start-up':>9} {'texts':>9} {'CPU s':>7} {'wall s':>7} {'chars/s':>12}")
    print(f"  {'jieba':<8} {t_jb_init:>8.2f}s {len(sub):>9,} {c_jb:>7.2f} {w_jb:>7.2f} {sub_chars / c_jb:>12,.0f}"
          f"   <- timed on the first {len(sub):,} texts only (jieba is slow)")
    print(f"  {'rjieba':<8} {t_rj_init:>8.2f}s {len(texts):>9,} {c_rj:>7.2f} {w_rj:>7.2f} {n_chars / c_rj:>12,.0f}")
    ratio = (n_chars / c_rj) / (sub_chars / c_jb)
    wall_ratio = (n_chars / w_rj) / (sub_chars / w_jb)
    print(f"  rjieba / jieba: {ratio:.1f}x on CPU time, {wall_ratio:.1f}x on wall-clock time"
          f"  (target >= 15x: {'met' if ratio >= 15 else 'NOT met'})")
    print(f"  token F1 rjieba vs jieba on the subsample: {_f1(rj_sub, jb_tokens):.5f}")
    del jb, jb_tokens, rj_sub

    # -- token cache -------------------------------------------------------------------
    print("\ntoken cache in a store (DuckDB file)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        _, t_fill = _timed(_fill_store, store, texts)
        print(f"  {len(texts):,} complaints inserted in {t_fill:.1f} s")
        segmented, t_cold = _timed(segment.ensure_tokens, store, rj)
        loaded, t_load1 = _timed(segment.load_tokens, store, rj, ensure=False)
        again, t_warm = _timed(segment.ensure_tokens, store, rj)
        loaded2, t_load2 = _timed(segment.load_tokens, store, rj, ensure=False)
        assert again == 0 and len(loaded2) == len(texts) and loaded2["tokens"].tolist() == rj_tokens
        print(f"  first run : segmented {segmented:,} distinct texts and wrote the cache in {t_cold:.2f} s"
              f" ({n_chars / t_cold:,.0f} chars/s incl. the cache write)")
        print(f"  second run: {again} texts to segment, cache check in {t_warm:.3f} s")
        speedup = t_cold / t_warm
        print(f"  speed-up of the second run: {speedup:,.0f}x  (target >= 50x: "
              f"{'met' if speedup >= 50 else 'NOT met'})")
        print(f"  reading the tokens back (load_tokens, {len(loaded2):,} rows): {t_load2:.2f} s; "
              f"end to end first vs second run incl. reading: {(t_cold + t_load1) / (t_warm + t_load2):.1f}x")
        store.close()
    del loaded, loaded2

    # -- masking ----------------------------------------------------------------------
    print("\nmasking (analysis.privacy.mask_series)")
    series = pd.Series(texts)
    masked, w_mask, c_mask = _cpu_timed(privacy.mask_series, series)
    changed = int((masked != series).sum())
    print(f"  {len(texts):,} texts in {c_mask:.2f} s CPU ({w_mask:.2f} s wall): {n_chars / c_mask:,.0f} chars/s, "
          f"{len(texts) / c_mask:,.0f} texts/s on CPU time; {changed:,} texts had something masked")
    del series, masked

    # -- classification ---------------------------------------------------------------
    print("\nrule classification (analysis.classify.RuleClassifier)")
    from analysis.classify import RuleClassifier

    clf, t_init = _timed(RuleClassifier)
    result, w_clf, c_clf = _cpu_timed(clf.predict, texts, tokens=rj_tokens, products=products, titles=titles)
    unclassified = float((result["category"] == "未分类").mean())
    print(f"  start-up {t_init:.2f} s; {len(texts):,} texts in {c_clf:.2f} s CPU ({w_clf:.2f} s wall): "
          f"{len(texts) / c_clf:,.0f} texts/s, {n_chars / c_clf:,.0f} chars/s on CPU time; "
          f"未分类 category {unclassified:.1%}")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS of this process): {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
