"""A minimal page for testing ui.state.global_filters with AppTest."""

import streamlit as st

from ui.state import get_store, global_filters, link_query

store = get_store()
filters = global_filters(store)
st.text(f"start={filters.start}")
st.text(f"end={filters.end}")
st.text(f"categories={','.join(filters.categories)}")
st.text(f"platforms={','.join(filters.platforms)}")
st.text(f"districts={','.join(filters.districts)}")
st.text(f"link={sorted(link_query().items())}")
