"""Errors a user can act on.

Every error the app or the CLI shows to a user is a :class:`UserError` (a
``ValueError``): its message is Chinese and names the file, the row and the
column where it applies, and what to do about it.
"""

from __future__ import annotations


class UserError(ValueError):
    """An error with a message for the user (Chinese), naming file, row, column and the fix.

    Args:
        message: what went wrong and what to do, in Chinese.
        file: the file concerned, if any.
        row: 1-based row (line) number in that file, if any.
        column: the column concerned, if any.
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.row, self.column = file, row, column
        self.reason = message
        where = []
        if file:
            where.append(f"文件「{file}」")
        if row is not None:
            where.append(f"第 {row} 行")
        if column:
            where.append(f"列「{column}」")
        super().__init__(("，".join(where) + "：" if where else "") + message)


class ImportRejected(UserError):
    """A file that cannot be imported at all (the store is left unchanged)."""


class ConfigError(UserError):
    """A malformed data file under data/ (dictionary, taxonomy, calendar, aliases)."""
