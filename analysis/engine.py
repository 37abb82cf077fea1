"""The batch engine: Dask ``distributed``, on this machine's cores or on a cluster.

:class:`Engine` owns the build's Dask client. By default it starts a
``LocalCluster`` with one single-threaded worker process per core and closes it
at the end; given a scheduler address (``--scheduler tcp://HOST:8786`` or the
environment variable :data:`SCHEDULER_ENV`) it connects to that cluster instead
and leaves it running.

Large objects (the tokenizer with its dictionary, the rule classifier, the
trained model) are sent to each worker once with :meth:`Engine.share` and
referenced by the tasks; chunks of data travel by :meth:`Engine.map`, which
scatters each chunk before its task runs, so no task graph holds a large object.

:func:`guarded_call` runs one function in a separate worker process with a
memory limit (the import of an uploaded file from the 数据导入 page): a crash or a
blow-up there ends that worker only and comes back as a :class:`UserError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from analysis.errors import UserError

__all__ = ["SCHEDULER_ENV", "WORKDIR_PREFIX", "Engine", "clean_stale_workdirs", "guarded_call", "private_workdir",
           "scheduler_address"]

#: Environment variable naming an existing Dask scheduler (``tcp://HOST:8786``).
SCHEDULER_ENV = "COMPLAINT_RADAR_SCHEDULER"
#: Prefix of the build's private temporary folders (a killed build's folder is removed by the next build).
WORKDIR_PREFIX = "complaint-radar-build-"
#: Memory limit of the worker that reads an uploaded file (issue 20: the server must survive any upload).
GUARD_MEMORY_LIMIT = "2GiB"


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: the argument, else :data:`SCHEDULER_ENV`, else ``None`` (a local cluster)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_OWNER_FILE = "owner.pid"
_UNCLAIMED_SECONDS = 3600  # a folder without an owner file this old was left by a build killed at its start


def clean_stale_workdirs(root: str | os.PathLike | None = None) -> int:
    """Remove the private folders of builds whose process is gone (killed); returns how many.

    A build writes its process id into its folder; a folder whose process is gone is removed,
    and so is one without an owner file older than an hour (a build killed as it started).
    Only this user's folders are touched.
    """
    root = Path(root or tempfile.gettempdir())
    removed = 0
    for folder in root.glob(WORKDIR_PREFIX + "*"):
        try:
            info = folder.stat()
            if not folder.is_dir() or info.st_uid != os.getuid():
                continue
        except OSError:
            continue
        try:
            pid = int((folder / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and _pid_alive(pid):
            continue
        if pid is None and time.time() - info.st_mtime < _UNCLAIMED_SECONDS:
            continue  # just made by a build that has not written its owner yet
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


@contextlib.contextmanager
def private_workdir(root: str | os.PathLike | None = None) -> Iterator[Path]:
    """A 0700 temporary folder for intermediate files, removed afterwards (stale ones first)."""
    clean_stale_workdirs(root)
    path = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=root))
    os.chmod(path, 0o700)
    (path / _OWNER_FILE).write_text(str(os.getpid()))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Engine:
    """The Dask client of one build.

    Args:
        scheduler: address of an existing scheduler; ``None`` reads
            :data:`SCHEDULER_ENV`, and without it a local cluster is started.
        n_workers: worker processes of the local cluster (default: the machine's cores).
        processes: local workers as processes (``False``: threads of this
            process, for tests).
        memory_limit: per local worker (Dask's syntax, e.g. ``"2GiB"``; ``"auto"``
            shares the machine's memory).

    Use as a context manager; :attr:`client`, :attr:`dashboard_link` and
    :attr:`n_workers` are set inside it.
    """

    def __init__(self, scheduler: str | None = None, *, n_workers: int | None = None, processes: bool = True,
                 memory_limit: str | int | None = "auto") -> None:
        self.address = scheduler_address(scheduler)
        self.local_workers = max(1, int(n_workers or os.cpu_count() or 1))
        self.processes = processes
        self.memory_limit = memory_limit
        self.client = None
        self.cluster = None
        self._shared: dict[int, tuple[object, object]] = {}

    def __enter__(self) -> Engine:
        from distributed import Client, LocalCluster

        if self.address:
            try:
                self.client = Client(self.address, timeout="20s")
            except OSError as exc:
                raise UserError(f"无法连接 Dask 调度器 {self.address}（{exc}）；请确认调度器已启动、地址和端口正确，"
                                f"或去掉 --scheduler / {SCHEDULER_ENV} 在本机运行。") from exc
        else:
            network = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"} if self.processes else {
                "dashboard_address": None}
            self.cluster = LocalCluster(n_workers=self.local_workers, threads_per_worker=1,
                                        processes=self.processes, memory_limit=self.memory_limit, **network)
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the client, and the local cluster if this engine started it."""
        self._shared.clear()
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's address, or ``None`` when there is none."""
        try:
            return self.client.dashboard_link if self.client is not None else None
        except Exception:  # no dashboard (bokeh missing or disabled)
            return None

    @property
    def n_workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info(n_workers=-1)["workers"]) if self.client is not None else 0

    def share(self, obj):
        """Send ``obj`` to every worker once; returns the future tasks take in its place (``None`` stays ``None``)."""
        if obj is None:
            return None
        known = self._shared.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        # wrapped: scatter would send the items of a list, set or dict one by one
        [future] = self.client.scatter([obj], broadcast=True, hash=False)
        self._shared[id(obj)] = (obj, future)
        return future

    def map(self, func: Callable, chunks: Iterable, *, window: int | None = None, **shared) -> Iterator:
        """Run ``func(chunk, **shared)`` on the workers for each chunk; yields the results in order.

        Each chunk is scattered to the cluster before its task is submitted (no large
        object in the task graph), and at most ``window`` chunks (default twice the
        workers) are on the cluster at a time, so memory stays bounded however many
        chunks there are. ``shared`` values should be futures from :meth:`share`.
        """
        from collections import deque

        window = window or 2 * max(1, self.n_workers)
        queue: deque = deque()
        for chunk in chunks:
            [data] = self.client.scatter([chunk], hash=False)
            queue.append(self.client.submit(func, data, pure=False, **shared))
            del data
            if len(queue) >= window:
                yield self._take(queue.popleft())
        while queue:
            yield self._take(queue.popleft())

    @staticmethod
    def _take(future):
        try:
            return future.result()
        finally:
            future.release()


def guarded_call(func: Callable, *args, memory_limit: str = GUARD_MEMORY_LIMIT, what: str = "读取文件", **kwargs):
    """``func(*args, **kwargs)`` in a fresh worker process with a memory limit.

    The worker is a one-process ``LocalCluster`` that is not restarted: if it dies
    (out of memory, an abort in a C library) the call raises a :class:`UserError`
    and this process carries on.

    Raises:
        UserError: the worker died or went over ``memory_limit``; exceptions of
            ``func`` itself are re-raised as they are.
    """
    import dask
    from distributed import Client, LocalCluster
    from distributed.scheduler import KilledWorker

    with dask.config.set({"distributed.scheduler.allowed-failures": 0,  # a dead worker fails the call at once
                          "distributed.worker.memory.terminate": 0.95}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                               host="127.0.0.1", dashboard_address=None)
        try:
            with Client(cluster) as client:
                started = time.perf_counter()
                try:
                    return client.submit(func, *args, pure=False, **kwargs).result()
                except KilledWorker as exc:
                    raise UserError(
                        f"{what}时处理进程异常退出（内存超过 {memory_limit} 上限或程序崩溃，"
                        f"已用 {time.perf_counter() - started:.0f} 秒）；服务未受影响，数据库未作任何改动。"
                        "请检查文件是否损坏、是否含有异常大的单元格范围或超长行，必要时拆分后重试。") from exc
        finally:
            cluster.close()


def read_check(path: str, *, file_name: str | None = None, sheet: str | None = None) -> int:
    """Read every row of an export file as the import would, and drop them; returns the data rows read.

    Run by :func:`guarded_call` before an uploaded file is imported in the server
    process: a file that makes the reader blow up costs only the guarded worker.
    """
    from analysis.io import TableReader

    rows = 0
    with TableReader(path, file_name=file_name, sheet=sheet) as reader:
        for chunk in reader.chunks():
            rows += len(chunk)
    return rows
