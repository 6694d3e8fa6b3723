"""The config directory of ``canary serve``: ``DIR/<configId>.yaml`` (``.yml``, ``.json``, or Kayenta's JSON form).

``configId`` is the file stem. Files are read again when they change (modification time and size), so configs can
be edited while the server runs; a file that does not load is reported by its one-line ``ConfigError``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from analysis.config import CanaryConfig, load_config, parse_config
from analysis.errors import ConfigError, parse_json, read_text

__all__ = ["ConfigDir", "Entry", "ID_PATTERN"]

SUFFIXES = (".yaml", ".yml", ".json")
# Kayenta's config names: [A-Za-z0-9_-]; also the characters Argo pastes unescaped into a URL path
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


@dataclass(frozen=True)
class Entry:
    """One loaded config with what the Kayenta listing shows about it."""

    id: str
    path: Path
    config: CanaryConfig
    mtime_ms: int
    applications: tuple[str, ...] = ()
    scope_label: str | None = None
    kayenta: bool = False

    def listing(self) -> dict[str, object]:
        iso = datetime.fromtimestamp(self.mtime_ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
        return {"id": self.id, "name": self.config.name, "updatedTimestamp": self.mtime_ms,
                "updatedTimestampIso": iso.replace("+00:00", "Z"), "applications": list(self.applications)}

    def default_scope(self, scope: str) -> dict[str, str] | None:
        """The config's labels for ``scope`` (for a bare scope value), or the label the Kayenta import found."""
        labels = self.config.scopes.get(scope)
        if labels:
            return dict(labels)
        return {self.scope_label: ""} if self.scope_label else None


def _load(path: Path) -> tuple[CanaryConfig, tuple[str, ...], str | None, bool]:
    if path.suffix.lower() != ".json":
        return load_config(path), (), None, False
    from analysis.config.kayenta_import import convert, is_kayenta

    data = parse_json(read_text(path, ConfigError), str(path), ConfigError)
    if is_kayenta(data):
        imported = convert(data, str(path))
        cfg = imported.config()
        return cfg, imported.applications, imported.scope_label, True
    return parse_config(data, str(path)), (), None, False


class ConfigDir:
    """Configs of one directory, cached by (mtime, size)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise ConfigError(f"{directory}: --config-dir is not a directory")
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], Entry | ConfigError]] = {}

    def _paths(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for suffix in SUFFIXES:  # .yaml wins over .yml over .json for the same stem
            for p in sorted(self.dir.glob(f"*{suffix}")):
                if p.is_file() and ID_PATTERN.match(p.stem) and p.stem not in found:
                    found[p.stem] = p
        return found

    def _entry(self, config_id: str, path: Path) -> Entry:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            value = cached[1]
        else:
            try:
                cfg, apps, label, kayenta = _load(path)
                value = Entry(config_id, path, cfg, st.st_mtime_ns // 1_000_000, apps, label, kayenta)
            except ConfigError as e:
                value = e
            with self._lock:
                self._cache[path] = (key, value)
        if isinstance(value, ConfigError):
            raise value
        return value

    def get(self, config_id: str) -> Entry | None:
        """The config ``config_id``; None when there is no such file; ``ConfigError`` when it does not load."""
        if not ID_PATTERN.match(config_id):
            return None
        path = self._paths().get(config_id)
        if path is None:
            return None
        try:
            return self._entry(config_id, path)
        except FileNotFoundError:
            return None

    def entries(self) -> tuple[list[Entry], list[str]]:
        """Every config that loads, and one message per file that does not."""
        good, bad = [], []
        for config_id, path in self._paths().items():
            try:
                good.append(self._entry(config_id, path))
            except ConfigError as e:
                bad.append(str(e))
            except FileNotFoundError:
                continue
        return good, bad
