"""Start the dashboard: ``python -m ui.launch [streamlit options]`` (what ``make run`` does).

It is ``streamlit run app.py`` with one difference. Until some session has run ``app.py``,
Streamlit treats a ``pages/`` folder as a legacy multipage app: the first visitor of a
freshly started server who opens a shared link (``/sampling?from=2017-11-01…``) gets that
page run on its own — file names (app, browse, …) as the sidebar, none of ``app.py``'s
navigation and layout. Here ``app.py``'s ``st.navigation`` owns the pages from the start,
so every link opens the page it names, with its filters.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def main(argv: list[str] | None = None) -> None:
    """Run the Streamlit server on ``app.py`` in this process, passing on ``argv`` (options)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False  # read once, when the first session starts
    args = list(sys.argv[1:] if argv is None else argv)
    cli.main(args=["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
