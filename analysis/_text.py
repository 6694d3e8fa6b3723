"""Text from data (metric names, labels, server messages) made safe to print on one terminal line."""

from __future__ import annotations

import re

# C0 controls (newline, carriage return, BEL, ESC, ...), DEL and the C1 controls (CSI 0x9b among them)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` with every control character shown as an escape (``\\n``, ``\\x07``), so that it cannot start a
    new line, move the cursor, change colours or ring the bell, on a terminal or in a log."""
    s = str(text)
    if not _CONTROL.search(s):
        return s
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), s)
