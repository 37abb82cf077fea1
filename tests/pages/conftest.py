"""Shared set-up of the page tests: a temporary store that the app opens, with clean caches."""

import pytest

from tests.pages._support import clear_caches


@pytest.fixture
def db(tmp_path, monkeypatch):
    """Path of an empty temporary store; the app under test opens it (COMPLAINT_RADAR_DB)."""
    path = tmp_path / "store.duckdb"
    monkeypatch.setenv("COMPLAINT_RADAR_DB", str(path))
    clear_caches()
    yield path
    clear_caches()


@pytest.fixture
def classes_as_stored(monkeypatch):
    """Keep a fixture store's hand-set classes: opening it for analysis classifies nothing.

    The pages open the store with ``analysis.enrich.open_for_analysis``, which would
    reclassify hand-made enrichment rows (they carry no model fingerprint) by the rules.
    """
    from analysis import repeats

    # the classes stay as the fixture set them; the rest of the boundary (repeats) still runs
    monkeypatch.setattr("analysis.enrich.ensure_enriched",
                        lambda store, **kwargs: {"repeats": repeats.ensure_repeats(store)})
