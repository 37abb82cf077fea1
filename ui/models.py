"""Helpers of the 模型管理 page and the 总览 notice: cached registry reads."""

from __future__ import annotations

import streamlit as st

from analysis import models
from ui.state import get_store, get_tokenizer


@st.cache_data(show_spinner=False)
def staleness(key: str) -> dict:
    """Whether the active model is out of date (taxonomy or dictionary changed since training)."""
    return models.staleness(get_store(), tokenizer=get_tokenizer())


@st.cache_data(show_spinner=False)
def versions(key: str):
    """The versions table (Chinese headers)."""
    return models.versions_frame(get_store())


@st.cache_data(show_spinner="正在预览启用后的类别变化…")
def diff(key: str, version: int) -> dict:
    """What activating ``version`` would change (nothing is written)."""
    return models.diff(get_store(), version, tokenizer=get_tokenizer())
