"""Helpers shared by the page tests."""

import streamlit as st


def clear_caches() -> None:
    """Forget every cached store connection and analysis result."""
    st.cache_data.clear()
    st.cache_resource.clear()
