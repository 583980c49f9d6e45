"""The search history: the searches a user ran (query, filters, parameters), kept across restarts.

A JSON file in the user's data folder (``platformdirs``; ``GENOCAT_HISTORY`` names another file),
most recent first, at most :data:`MAX_ENTRIES` entries; running a search that is already there moves
it to the top instead of adding a copy. Every save writes a temporary file and renames it over the
old one, so a crash leaves the old history or the new one, never half a file. No Qt here: the
Search tab shows it (:mod:`genocat_desktop.ui.widgets.history`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

__all__ = ["MAX_ENTRIES", "MAX_QUERY_CHARS", "SearchEntry", "SearchHistory", "default_history_path"]

#: Entries kept; the oldest go first.
MAX_ENTRIES: Final = 100
#: Longer query texts (thousands of pasted records) are not kept: the file stays small and fast to load.
MAX_QUERY_CHARS: Final = 200_000


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """One search as the user set it up; ``when`` is not part of its identity."""

    query: str
    k: int = 10
    align: bool = False
    evalue: str = ""
    column: str | None = None
    description: str = ""
    filters: tuple[tuple[str, str, str], ...] = ()
    when: str = field(default="", compare=False)
    #: The search mode (``auto``, ``fast``, ``align``, ``sensitive``, ``exhaustive``); entries saved before
    #: modes existed read as ``align`` or ``fast`` from ``align``.
    mode: str = "auto"

    def label(self, width: int = 60) -> str:
        """One line for a menu: the query's first identifier or residues, then what differs from the defaults."""
        lines = [line.strip() for line in self.query.splitlines() if line.strip()]
        first = lines[0] if lines else ""
        records = sum(line.startswith(">") for line in lines)
        text = first[1:].split(None, 1)[0] if first.startswith(">") and first[1:].split() else first
        if len(text) > width:
            text = text[: width - 1] + "…"
        extras = [f"{records} queries"] if records > 1 else []
        extras.append(f"k={self.k}")
        if self.mode != "auto":
            extras.append(self.mode)
        if self.mode != "fast" and self.evalue:
            extras.append(f"E ≤ {self.evalue}")
        if self.filters or self.description:
            extras.append(f"{len(self.filters) + bool(self.description)} filter(s)")
        return f"{text}  ({', '.join(extras)})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        value = asdict(self)
        value["filters"] = [list(f) for f in self.filters]
        return value

    @staticmethod
    def from_json(value: Any) -> SearchEntry | None:
        """The entry in ``value``, or ``None`` if it is not one (a hand-edited or older file)."""
        if not isinstance(value, dict) or not isinstance(value.get("query"), str) or not value["query"].strip():
            return None
        try:
            filters = tuple((str(a), str(b), str(c)) for a, b, c in value.get("filters") or ())
            column = value.get("column")
            align = bool(value.get("align", False))
            mode = str(value.get("mode") or ("align" if align else "fast"))
            if mode not in ("auto", "fast", "align", "sensitive", "exhaustive"):
                return None
            return SearchEntry(value["query"], int(value.get("k", 10)), align,
                               str(value.get("evalue", "")), str(column) if column else None,
                               str(value.get("description", "")), filters, str(value.get("when", "")), mode)
        except (TypeError, ValueError):
            return None


def default_history_path() -> Path:
    """Where the history is kept: ``$GENOCAT_HISTORY``, else ``search_history.json`` in the user data folder."""
    override = os.environ.get("GENOCAT_HISTORY")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("GenoCat", appauthor=False)) / "search_history.json"


class SearchHistory:
    """The searches run, most recent first; loaded at creation, saved on every change.

    Parameters
    ----------
    path
        The JSON file (default: :func:`default_history_path`).
    limit
        At most this many entries are kept.
    """

    def __init__(self, path: Path | None = None, limit: int = MAX_ENTRIES) -> None:
        self.path = path or default_history_path()
        self.limit = limit
        self.entries: list[SearchEntry] = self._load()

    def _load(self) -> list[SearchEntry]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []  # none yet, unreadable or damaged: the history starts again (never blocks a search)
        items = data.get("searches") if isinstance(data, dict) else None
        entries = [e for e in map(SearchEntry.from_json, items or []) if e is not None]
        return list(dict.fromkeys(entries))[: self.limit]

    def add(self, entry: SearchEntry) -> bool:
        """Put ``entry`` first (an equal older entry is dropped) and save; False if it was not kept.

        A query longer than :data:`MAX_QUERY_CHARS` or an empty one is not kept.
        """
        if not entry.query.strip() or len(entry.query) > MAX_QUERY_CHARS:
            return False
        if not entry.when:
            entry = replace(entry, when=datetime.now(UTC).isoformat(timespec="seconds"))
        self.entries = [entry, *(e for e in self.entries if e != entry)][: self.limit]
        self.save()
        return True

    def last(self) -> SearchEntry | None:
        """The most recent search, if any."""
        return self.entries[0] if self.entries else None

    def clear(self) -> None:
        """Forget every search."""
        self.entries = []
        self.save()

    def save(self) -> None:
        """Write the file atomically (a temporary file renamed over it); a failure to write is ignored."""
        data = json.dumps({"format": 1, "searches": [e.to_json() for e in self.entries]}, indent=1)
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".search_history-", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            tmp = None
        except OSError:
            pass  # a read-only or full disk must not stop a search; the history then lives in memory only
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
