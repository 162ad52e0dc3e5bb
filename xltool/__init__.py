"""xltool: Excel templates for the annual 政府信息公开工作年度报告 — generate, check, merge, export."""

from __future__ import annotations

__version__ = "0.1.0"
