"""Evaluation: do our clusters recover the product category of real negative reviews?

Data: the negative reviews (``label == 0``) of ``../shared/data/real/online_shopping_10_cats.csv``
(10 categories: 书籍 平板 手机 水果 洗发水 热水器 蒙牛 衣服 计算机 酒店), stored as complaints
with only their text (no product, platform or date) in a throw-away store.

Compared in the same run, against the true category (NMI and ARI):

* **baseline** — ``jieba.lcut`` + ``TfidfVectorizer`` (default settings on the tokens) +
  ``KMeans(k=10)``: the plain pipeline a tutorial would write;
* **ours, k = 10** — :func:`analysis.cluster.run_clustering` on the store (tokens from the
  token cache, stop words, sublinear TF-IDF, LSA, spherical k-means, mixture refinement;
  complaints it files under 杂项 count as one more cluster);
* **ours, automatic k** — the same with k chosen by the silhouette knee.

Each is run with several seeds; the means and the ratio ours / baseline are printed
(target: NMI ratio ≥ 3).

With ``--demo DB`` (a store built from the demo export: ``python -m analysis build --db DB
data/demo/demo_complaints.csv``) it reports instead, for each planted product wave of
``data/demo/truth.json`` (one product, one platform, its window), over three overlapping
periods of its category × platform scope (the wave's calendar year, the 12 months from four
months before the wave, and the 18 months ending with the wave's year): the share of the
wave's complaints in their largest cluster and the number of clusters (issue 16 item 1:
kettle wave ≥ 70 % in one cluster in all three periods, counts never more than 2.5× apart).
Runs are fitted afresh (no cache) with the store's default model.

    .venv/bin/python bench/eval_cluster.py [--seeds 0 1 2] [--data PATH]
    .venv/bin/python bench/eval_cluster.py --demo /tmp/sc_demo.duckdb [--waves kettle_leakage ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import cluster  # noqa: E402
from analysis.store import Store, text_hash  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real" / "online_shopping_10_cats.csv"


def load_negative_reviews(path: Path) -> pd.DataFrame:
    """Negative reviews with their category; empty reviews dropped, stray BOMs removed."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["label"] == "0"].copy()
    frame["review"] = frame["review"].str.replace("\ufeff", "", regex=False).str.strip()
    frame = frame[frame["review"] != ""].reset_index(drop=True)
    frame["complaint_id"] = [f"R{i:06d}" for i in range(len(frame))]
    return frame


def fill_store(store: Store, frame: pd.DataFrame) -> None:
    """Store the reviews as complaints with only their text (one import, no enrichment)."""
    hashes = [text_hash(t) for t in frame["review"]]
    rows = pd.DataFrame({
        "complaint_id": frame["complaint_id"], "text": frame["review"],
        "content_hash": [text_hash(i + t) for i, t in zip(frame["complaint_id"], frame["review"])],
        "text_hash": hashes, "import_id": 1, "source_row": np.arange(2, len(frame) + 2),
    })
    with store.transaction() as cur:
        cur.execute("INSERT INTO imports VALUES (1, ?, 'eval', ?, 'utf-8', 1, ?, ?, 0, 0, 0, NULL, NULL)",
                    [DATA.name, dt.datetime.now(), len(rows), len(rows)])
        cur.register("_reviews", rows)
        cur.execute("INSERT INTO complaints (complaint_id, text, content_hash, text_hash, import_id, "
                    "source_row) SELECT * FROM _reviews")
        cur.unregister("_reviews")


def baseline_matrix(texts: list[str]):
    """jieba.lcut + TfidfVectorizer with default settings on the tokens."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    tokens = [_lcut(t) for t in texts]
    return TfidfVectorizer(analyzer=lambda doc: doc).fit_transform(tokens)


def baseline(x, *, seed: int) -> np.ndarray:
    """KMeans with k = 10 (the true number of categories) on the baseline matrix."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=10, random_state=seed).fit_predict(x)


_JIEBA = None


def _lcut(text: str) -> list[str]:
    global _JIEBA
    if _JIEBA is None:
        import logging

        import jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)
        _JIEBA = jieba.Tokenizer()
    return _JIEBA.lcut(text)


def scores(truth, labels) -> tuple[float, float]:
    """(NMI, ARI)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return normalized_mutual_info_score(truth, labels), adjusted_rand_score(truth, labels)


TRUTH = ROOT / "data" / "demo" / "truth.json"


def wave_periods(window: tuple[dt.date, dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Three overlapping periods holding a wave: its calendar year, the 12 months from four
    months before it, the 18 months ending with its year."""
    start, end = window
    year = (dt.date(start.year, 1, 1), dt.date(start.year, 12, 31))
    first = dt.date(start.year - (start.month <= 4), (start.month - 5) % 12 + 1, 1)
    twelve = (first, dt.date(first.year + 1, first.month, 1) - dt.timedelta(days=1))
    eighteen = (dt.date(start.year - 1, 7, 1), year[1])
    return [year, twelve, eighteen]


def wave_report(db: Path, *, waves: list[str] | None = None, random_state: int = 0) -> pd.DataFrame:
    """Per planted product wave and period: clusters in the scope, the wave's complaints and the
    share of them in their largest cluster."""
    import json

    from analysis import segment
    from analysis.enrich import open_for_analysis

    truth = [w for w in json.loads(TRUTH.read_text(encoding="utf-8"))
             if w.get("kind") == "product" and w.get("window") and (not waves or w["id"] in waves)]
    rows = []
    tokenizer = segment.Tokenizer()
    with open_for_analysis(db, tokenizer=tokenizer) as store:
        for wave in truth:
            window = tuple(dt.date.fromisoformat(d) for d in wave["window"])
            for start, end in wave_periods(window):
                result = cluster.run_clustering(store, category=wave["category"], platform=wave["platform"],
                                                start=start, end=end, tokenizer=tokenizer,
                                                random_state=random_state, use_cache=False)
                members = store.query(
                    "SELECT complaint_id FROM complaints_enriched WHERE product = ? AND platform_norm = ? "
                    "AND received_at >= ? AND received_at < ?",
                    [wave["product"], wave["platform"], window[0], window[1] + dt.timedelta(days=1)])
                got = result.assignments[result.assignments["complaint_id"].isin(members["complaint_id"])]
                top = got["cluster_id"].value_counts()
                rows.append({"wave": wave["id"], "scope": f"{wave['category']}×{wave['platform']}",
                             "period": f"{start}..{end}", "complaints": len(result.assignments),
                             "clusters": result.n_clusters, "wave_n": len(got),
                             "largest": int(top.index[0]) if len(top) else None,
                             "share_largest": round(float(top.iloc[0] / len(got)), 3) if len(got) else None})
    return pd.DataFrame(rows)


def print_wave_report(table: pd.DataFrame) -> None:
    with pd.option_context("display.width", 160):
        print(table.to_string(index=False))
    print()
    for wave, part in table.groupby("wave", sort=False):
        counts = part["clusters"]
        print(f"{wave}: share in largest cluster min {part['share_largest'].min():.2f} "
              f"(target >= 0.70); clusters {counts.min()}–{counts.max()}, ratio "
              f"{counts.max() / max(counts.min(), 1):.2f}x (target <= 2.5x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--demo", type=Path, default=None, help="a store built from the demo export")
    parser.add_argument("--waves", nargs="+", default=None, help="wave ids of truth.json (default: all)")
    args = parser.parse_args(argv)
    if args.demo is not None:
        print_wave_report(wave_report(args.demo, waves=args.waves, random_state=args.seeds[0]))
        return 0
    if not args.data.exists():
        print(f"数据文件不存在：{args.data}", file=sys.stderr)
        return 2
    frame = load_negative_reviews(args.data)
    truth = frame["cat"].to_numpy()
    print(f"negative reviews: {len(frame):,}, categories: {frame['cat'].nunique()} "
          f"({', '.join(f'{c} {n}' for c, n in frame['cat'].value_counts().items())})")

    rows = []
    t0 = time.perf_counter()
    x = baseline_matrix(frame["review"].tolist())
    print(f"baseline jieba.lcut + TF-IDF: {time.perf_counter() - t0:.1f} s (not counted below)")
    for seed in args.seeds:
        t0 = time.perf_counter()
        labels = baseline(x, seed=seed)
        rows.append(("baseline k=10", seed, *scores(truth, labels), 10, time.perf_counter() - t0))

    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "eval.duckdb") as store:
            fill_store(store, frame)
            t0 = time.perf_counter()
            from analysis import enrich, segment

            tokenizer = segment.Tokenizer()
            enrich.ensure_enriched(store, tokenizer=tokenizer)
            print(f"tokens + enrichment: {time.perf_counter() - t0:.1f} s (not counted below)")
            for k in (10, None):
                for seed in args.seeds:
                    t0 = time.perf_counter()
                    result = cluster.run_clustering(store, clusterer=cluster.SphericalKMeans(n_clusters=k),
                                                    random_state=seed, tokenizer=tokenizer, use_cache=False)
                    elapsed = time.perf_counter() - t0
                    got = frame[["complaint_id"]].merge(result.assignments, on="complaint_id",
                                                        how="left")["cluster_id"].fillna(-1)
                    name = "ours k=10" if k else "ours auto-k"
                    rows.append((name, seed, *scores(truth, got.to_numpy()), result.n_clusters, elapsed))
                    if k is None and seed == args.seeds[0]:
                        labels_auto = result.clusters[["cluster_id", "label", "size"]]
    table = pd.DataFrame(rows, columns=["pipeline", "seed", "NMI", "ARI", "clusters", "seconds"])
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(table.to_string(index=False))
    means = table.groupby("pipeline", sort=False)[["NMI", "ARI", "clusters", "seconds"]].mean()
    print("\nmeans over seeds", args.seeds)
    with pd.option_context("display.precision", 3):
        print(means.to_string())
    base, ours = means.loc["baseline k=10"], means.loc["ours k=10"]
    print(f"\nNMI ours k=10 / baseline: {ours['NMI']:.3f} / {base['NMI']:.3f} = "
          f"{ours['NMI'] / base['NMI']:.2f}x  (target >= 3x)")
    print(f"ARI ours k=10 / baseline: {ours['ARI']:.3f} / {base['ARI']:.3f} = "
          f"{ours['ARI'] / max(base['ARI'], 1e-9):.2f}x")
    auto = means.loc["ours auto-k"]
    print(f"auto-k: {auto['clusters']:.1f} clusters on average, NMI {auto['NMI']:.3f}, ARI {auto['ARI']:.3f}")
    print("\nauto-k clusters (first seed):")
    print(labels_auto.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
