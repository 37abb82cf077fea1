"""The Dask engine: private work folders, the guarded worker for uploads, sharing objects once."""

from __future__ import annotations

import os

import pytest

from analysis import engine
from analysis.engine import Engine
from analysis.errors import UserError


def _abort() -> None:
    os.abort()  # what a C library does on a failed allocation (SIGABRT)


def _hog() -> int:
    blocks = []
    for _ in range(40):  # 40 × 50 MB, far over the limit
        blocks.append(bytearray(50 * 1024 * 1024))
        __import__("time").sleep(0.05)
    return len(blocks)


def test_guarded_call_returns_the_result(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("投诉编号,投诉内容\nA1,热水壶漏电\nA2,充电宝鼓包\n", encoding="utf-8")
    assert engine.guarded_call(engine.read_check, str(src)) == 2


@pytest.mark.parametrize("func", [_abort, _hog], ids=["abort", "memory"])
def test_a_crash_in_the_guarded_worker_is_a_chinese_error(func):
    with pytest.raises(UserError, match="处理进程异常退出.*服务未受影响，数据库未作任何改动"):
        engine.guarded_call(func, memory_limit="600MiB", what="读取 bad.xlsx ")
    assert engine.guarded_call(len, "三个字") == 3  # this process carries on


def test_private_workdir_is_0700_and_a_killed_builds_folder_is_removed(tmp_path):
    stale = tmp_path / (engine.WORKDIR_PREFIX + "old")
    stale.mkdir()
    (stale / "owner.pid").write_text("999999999")  # no such process
    (stale / "texts.parquet").write_bytes(b"x")
    with engine.private_workdir(tmp_path) as work:
        assert oct(work.stat().st_mode & 0o777) == "0o700"
        assert not stale.exists()
        (work / "part-0.parquet").write_bytes(b"x")
    assert not work.exists()


def test_share_sends_an_object_once_and_keeps_collections_whole():
    with Engine(n_workers=1, processes=False) as eng:
        words = frozenset({"退款", "发货"})
        future = eng.share(words)
        assert eng.share(words) is future
        assert eng.client.submit(len, future).result() == 2
        assert list(eng.map(sorted, [["b", "a"], ["d", "c"]], window=1)) == [["a", "b"], ["c", "d"]]


def test_scheduler_from_the_environment(monkeypatch):
    monkeypatch.setenv(engine.SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert engine.scheduler_address() == "tcp://10.0.0.5:8786"
    assert engine.scheduler_address("tcp://127.0.0.1:9000") == "tcp://127.0.0.1:9000"
    monkeypatch.delenv(engine.SCHEDULER_ENV)
    assert engine.scheduler_address() is None
