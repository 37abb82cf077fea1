"""``python -m analysis import``: JSON per file, exit codes, --map, the progress bar."""

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.commands import import_cmd
from analysis.errors import UserError
from analysis.store import Store

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "import"


def main(argv):
    """Run the command as analysis.cli.main does (only this command registered)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    import_cmd.add_arguments(sub.add_parser(import_cmd.NAME))
    args = parser.parse_args(argv)
    try:
        return import_cmd.run(args)
    except UserError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_one_object_per_file(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    code = main(["import", str(FIX / "gbk_titles.csv"), str(FIX / "sample.xlsx"), "--db", str(db), "--json"])
    assert code == 0
    objs = json_lines(capsys.readouterr().out)
    assert [(o["file"], o["encoding"], o["rows_read"], o["imported"], o["quarantined"], o["duplicates"],
             o["conflicts"]) for o in objs] == [
        ("gbk_titles.csv", "gb18030", 7, 3, 2, 2, 1),
        ("sample.xlsx", "xlsx", 5, 4, 1, 0, 0),
    ]
    with Store(db) as s:
        assert s.count() == 7


def test_text_summary_in_chinese(tmp_path, capsys):
    assert main(["import", str(FIX / "broken.csv"), "--db", str(tmp_path / "s.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "broken.csv：读取 7 行 → 导入 4，隔离 3，重复 0" in out
    assert "列映射：投诉编号→投诉编号" in out


def test_imported_complaints_are_classified_right_away(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    assert main(["import", str(FIX / "broken.csv"), "--db", str(db)]) == 0
    assert "分词与分类：新分类 4 条投诉" in capsys.readouterr().out
    with Store(db) as s:
        assert s.count("enrichment") == s.count("complaints") == 4
    assert main(["import", str(FIX / "utf8_bom.csv"), "--db", str(db), "--json"]) == 0
    assert "分词与分类" not in capsys.readouterr().out  # --json: one object per file, nothing else
    with Store(db) as s:
        assert s.count("enrichment") == s.count("complaints")


def test_rejected_file_exits_non_zero_with_a_message_and_others_still_import(tmp_path, capsys):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"plain text")
    db = tmp_path / "s.duckdb"
    code = main(["import", str(bad), str(FIX / "utf8_bom.csv"), "--db", str(db), "--json"])
    assert code == 2
    captured = capsys.readouterr()
    objs = json_lines(captured.out)
    assert objs[0]["rejected"] is True and objs[0]["file"] == "bad.xlsx"
    assert objs[1]["imported"] == 6
    assert "错误：文件「bad.xlsx」：不是有效的 Excel 文件" in captured.err


def test_map_option(tmp_path, capsys):
    path = tmp_path / "letters.csv"
    path.write_text("信访编号,信访日期,反映正文,用户ID\nL1,2017-05-05,快递丢失,u1\n", encoding="utf-8")
    db = str(tmp_path / "s.duckdb")
    assert main(["import", str(path), "--db", db, "--json"]) == 2
    assert "没有找到投诉内容列" in capsys.readouterr().err
    code = main(["import", str(path), "--db", db, "--json", "--map", "反映正文=text", "--map", "信访日期=登记时间",
                 "--map", "信访编号=complaint_id"])
    assert code == 0
    obj = json_lines(capsys.readouterr().out)[-1]
    assert obj["imported"] == 1
    assert obj["mapping"] == {"信访编号": "complaint_id", "信访日期": "received_at", "反映正文": "text"}
    # remembered: the same headers import without --map next time
    path.write_text("信访编号,信访日期,反映正文,用户ID\nL2,2017-05-06,退款难,u2\n", encoding="utf-8")
    assert main(["import", str(path), "--db", db, "--json"]) == 0
    assert json_lines(capsys.readouterr().out)[-1]["imported"] == 1


def test_map_with_several_files_applies_where_the_column_exists(tmp_path, capsys):
    a = tmp_path / "a.csv"
    a.write_text("正文,登记时间\n内容A,2017-01-01\n", encoding="utf-8")
    code = main(["import", str(a), str(FIX / "utf16_tab.txt"), "--db", str(tmp_path / "s.duckdb"), "--json",
                 "--map", "正文=text", "--map", "不存在=title"])
    assert code == 0
    captured = capsys.readouterr()
    assert [o["imported"] for o in json_lines(captured.out)] == [1, 4]
    assert "不存在" in captured.err and "未生效" in captured.err


@pytest.mark.parametrize("items, message", [
    (["留言详情"], "格式不对"), (["=text"], "缺少源列名"), (["留言=正文内容"], "未知字段"),
])
def test_parse_map_args_errors(items, message):
    with pytest.raises(UserError, match=message):
        import_cmd.parse_map_args(items)


def test_parse_map_args():
    assert import_cmd.parse_map_args(["a=b=text", "c=", "d=投诉内容"]) == {"a=b": "text", "c": None, "d": "text"}


def test_progress_bar_without_a_terminal_prints_every_ten_percent():
    stream = io.StringIO()
    bar = import_cmd.ProgressBar("f.csv", stream=stream)
    for i in range(0, 101, 5):
        bar(i / 100, "读取")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "f.csv: 0% 读取" and lines[-1] == "f.csv: 100% 读取"
    assert len(lines) == 11


def test_progress_bar_on_a_terminal_redraws_one_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = import_cmd.ProgressBar("f.csv", stream=stream, width=10)
    bar(0.5, "读取")
    bar(1.0, "完成")
    text = stream.getvalue()
    assert text.startswith("\rf.csv [#####-----]  50% 读取") and text.endswith("\n")


def test_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "import", str(FIX / "sample.xls"), "--db", str(tmp_path / "s.duckdb"),
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["imported"] == 3


def test_hostile_text_files_give_chinese_messages_and_counts_not_tracebacks(tmp_path):
    bad_header = tmp_path / "bad_header.csv"
    bad_header.write_bytes("投诉编号,投诉".encode() + b"\xff" + "内容,平台\nA1,电水壶漏电,京东\n".encode())
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("投诉编号,投诉内容,平台\n".encode("utf-8") + "A1,充电宝发热鼓包严重,京东\n".encode("utf-8")
                      + "A2,电热水壶漏电严重,淘宝\n".encode("gbk"))
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "import", str(bad_header), str(mixed), "--db", str(tmp_path / "s.duckdb"),
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "错误：文件「bad_header.csv」，第 1 行：表头第 2 列" in proc.stderr
    rejected, imported = json_lines(proc.stdout)
    assert rejected["rejected"] is True and "表头第 2 列" in rejected["error"]
    assert imported["imported"] == 2 and imported["row_encodings"] == {"utf-8": 1, "gb18030": 1}


def test_sheet_option_chooses_the_worksheet(tmp_path, capsys):
    from tests._xlsx import write_xlsx

    rows = [["投诉编号", "投诉内容"], ["A1", "电水壶漏电"], ["A2", "充电宝鼓包"]]
    path = write_xlsx(tmp_path / "book.xlsx", {"汇总": [["投诉总数", 2]], "明细": rows, "备份": rows[:2]})
    db = str(tmp_path / "s.duckdb")
    assert main(["import", str(path), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "book.xlsx：读取 2 行 → 导入 2" in out
    assert "工作表：导入「明细」；全部工作表：汇总，明细，备份（用 --sheet 工作表名 选择）" in out
    assert main(["import", str(path), "--db", db, "--sheet", "备份", "--json"]) == 0
    result = json_lines(capsys.readouterr().out)[0]
    assert (result["sheet"], result["sheets"], result["rows_read"]) == ("备份", ["汇总", "明细", "备份"], 1)
    assert main(["import", str(path), "--db", db, "--sheet", "没有"]) == 2
    assert "没有名为「没有」的工作表。可选的工作表：汇总、明细、备份" in capsys.readouterr().err
