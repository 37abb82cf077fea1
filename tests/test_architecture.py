"""Architecture rules that keep the code easy to see and change."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_analysis_never_imports_streamlit():
    offenders = [p.name for p in (ROOT / "analysis").rglob("*.py") if "streamlit" in _imports(p)]
    assert offenders == []


def test_app_lists_every_page():
    app = (ROOT / "app.py").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
    assert pages, "no pages"
    missing = [name for name in pages if f"pages/{name}" not in app]
    assert missing == []


def test_pages_are_thin():
    for page in (ROOT / "pages").glob("*.py"):
        lines = len(page.read_text(encoding="utf-8").splitlines())
        assert lines <= 200, f"{page.name} has {lines} lines; move logic into analysis/ or ui/"


def test_no_global_jieba_state():
    """Only analysis/segment.py may import jieba, and it must build Tokenizer objects."""
    users = [
        p.relative_to(ROOT).as_posix()
        for folder in ("analysis", "pages", "ui")
        for p in (ROOT / folder).rglob("*.py")
        if {"jieba", "rjieba"} & _imports(p)
    ]
    assert users in ([], ["analysis/segment.py"])
