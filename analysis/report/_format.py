"""Number formatting shared by every human-facing output (terminal, HTML, Markdown, JUnit)."""

from __future__ import annotations

import math
from typing import Any


def fmt(v: Any, digits: int = 4) -> str:
    """Compact number formatting for tables; NaN and None print as a dash."""
    if v is None:
        return "-"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "-"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.{digits}g}"
