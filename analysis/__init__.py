"""Complaint Radar's analysis library: pure Python, no Streamlit.

One module per concept: ``io`` (reading exports), ``schema`` (canonical fields
and header aliases), ``ingest`` (import with quarantine), ``store`` (DuckDB),
``segment`` (tokenizers), ``taxonomy`` and ``classify`` (category / problem /
platform), ``privacy`` (masking), ``enrich`` (tokens and classes cached in the
store), ``cluster``, ``trends``, ``sampling`` and ``ebgm`` (disproportionality),
``export`` and ``report``, ``plots`` (DataFrame → plotly figure), ``demo``
(demo data) and ``cli`` (``python -m analysis``).
"""

__version__ = "0.1.0"
