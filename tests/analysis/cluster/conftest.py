"""Fixtures of the cluster tests: the planted complaints (tests/fixtures/cluster), their clusters, a filled store."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cluster import cluster_complaints
from tests.analysis.cluster._support import FIXTURES
from tests.fixtures.cluster.store_fixture import fill_store


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "planted.csv", dtype={"complaint_id": str})


@pytest.fixture(scope="module")
def planted_result(planted):
    return cluster_complaints(planted["tokens"], metadata=planted, random_state=0)


@pytest.fixture()
def store(tmp_path, planted):
    from analysis.store import Store

    st = Store(tmp_path / "cluster.duckdb")
    fill_store(st, planted)
    yield st
    st.close()


@pytest.fixture(scope="module")
def tokenizer():
    from analysis.segment import Tokenizer

    return Tokenizer()
