"""Streamlit-side helpers shared by the pages: store access, global filters, empty states."""
