"""The command-line dispatcher: every command registers and documents itself."""

import pytest

from analysis import cli


def test_every_command_is_registered():
    names = {m.NAME for m in cli._command_modules()}
    assert {"import", "demo", "build", "segment", "classify", "cluster", "trends", "sample", "ebgm",
            "report"} <= names


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "trends" in out and "95%" in out


@pytest.mark.parametrize("name", sorted(m.NAME for m in cli._command_modules()))
def test_each_command_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    assert name in capsys.readouterr().out
