"""Reading a rollout's journal (JSON lines) from the outside, as the end-to-end tests watch it while it runs."""

from __future__ import annotations

import json
from pathlib import Path


def records(state: Path) -> list[dict]:
    """The complete records of the journal ``state`` so far ([] before it exists; a line being written is skipped)."""
    if not state.exists():
        return []
    return [json.loads(line) for line in state.read_text().splitlines() if line.endswith("}")]
