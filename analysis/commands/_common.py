"""Pieces shared by the command modules (not a command: the CLI skips modules starting with ``_``)."""

from __future__ import annotations

import datetime as dt

from analysis.errors import UserError
from analysis.io import parse_datetime


def date_option(value: str | None, option: str) -> dt.date | None:
    """The day given to a ``--from``/``--to`` option (``None`` when not given).

    Raises:
        UserError: a value that is not a date, naming the option.
    """
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise UserError(f"{option} 的日期「{value}」无法识别，请写成 2017-11-01 这样的格式。")
    return parsed.date()


def period_options(start: str | None, end: str | None) -> tuple[dt.date | None, dt.date | None]:
    """``--from`` and ``--to`` as days, checked to be in order."""
    first, last = date_option(start, "--from"), date_option(end, "--to")
    if first and last and last < first:
        raise UserError(f"--to（{last}）早于 --from（{first}），请检查统计时段。")
    return first, last
