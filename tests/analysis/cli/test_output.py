"""``write_atomic``: whole files or nothing, and a one-line usage error (exit 2) when the file cannot be made."""

from __future__ import annotations

import errno
import tempfile

import pytest

from analysis.output import write_atomic
from analysis.errors import UsageError


def test_writes_whole_file(tmp_path):
    write_atomic(tmp_path / "r.json", "{}")
    assert (tmp_path / "r.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_unwritable_directory_is_a_usage_error(tmp_path, monkeypatch):
    # Tests run as root, where a read-only directory is still writable: fake the refusal the OS gives a user.
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(UsageError, match="r.json: cannot write: Permission denied"):
        write_atomic(tmp_path / "r.json", "{}")
    assert list(tmp_path.iterdir()) == []
