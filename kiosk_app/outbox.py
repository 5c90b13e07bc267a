"""The durable outbox: every report is written here before it is sent, and leaves only when
its receipt arrives.

One SQLite file per device. Rows keep the client-generated report id (the idempotency key
end to end), the exact JSON sent, the optional photo, the retry schedule and the last error.
A ``rejected`` receipt moves the row to the ``rejected`` state with the backend's problems,
so a person can be told why; it is not retried. Safe to use from several threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from protocol import Receipt, ReceiptStatus, SightingReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    report_id      TEXT PRIMARY KEY,
    created_at     REAL NOT NULL,      -- unix time the person pressed send
    payload        BLOB NOT NULL,      -- SightingReport JSON, exactly as sent
    photo          BLOB,               -- prepared JPEG or NULL
    state          TEXT NOT NULL DEFAULT 'pending',  -- pending | rejected
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt   REAL NOT NULL DEFAULT 0,
    last_sent_at   REAL,
    last_error     TEXT,
    problems       TEXT                -- JSON list of problems of a rejected receipt
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    report_id: str
    created_at: float
    payload: bytes
    photo: bytes | None
    state: str
    attempts: int
    next_attempt: float
    last_sent_at: float | None
    last_error: str | None
    problems: tuple[str, ...]

    @property
    def reference(self) -> str:
        return self.report_id.replace("-", "")[:8].upper()


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_pending_s: float | None
    rejected: int


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        retry_min_s: float = 2.0,
        retry_max_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a report must survive power loss
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ writing

    def add(self, report: SightingReport, photo: bytes | None = None) -> OutboxEntry:
        now = self._clock()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (report_id, created_at, payload, photo, next_attempt)"
                " VALUES (?, ?, ?, ?, ?)",
                (report.report_id, now, report.to_json(), photo, now),
            )
        entry = self.get(report.report_id)
        assert entry is not None
        return entry

    def mark_sent(self, report_id: str) -> None:
        """A publish went out: schedule the next attempt with exponential backoff."""
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "SELECT attempts FROM outbox WHERE report_id = ?", (report_id,)
            ).fetchone()
            if row is None:
                return
            attempts = int(row[0]) + 1
            delay = min(self.retry_max_s, self.retry_min_s * 2 ** (attempts - 1))
            # MAX: a rate-limited receipt may already have arrived for this very publish
            # (it races the pump); its retry_after_s must not be shortened by the backoff.
            self._db.execute(
                "UPDATE outbox SET attempts = ?, last_sent_at = ?, "
                "next_attempt = MAX(next_attempt, ?) WHERE report_id = ?",
                (attempts, now, now + delay, report_id),
            )

    def mark_error(self, report_id: str, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET last_error = ? WHERE report_id = ?", (error[:500], report_id)
            )

    def reschedule_all_now(self) -> None:
        """A fresh connection: everything pending is due at once."""
        now = self._clock()
        with self._lock:
            self._db.execute("UPDATE outbox SET next_attempt = ? WHERE state = 'pending'", (now,))

    def apply_receipt(self, receipt: Receipt) -> OutboxEntry | None:
        """Settle the row the receipt is about. Returns the row as it was, or None when the
        receipt is for nothing we hold (a duplicate receipt, or a report sent elsewhere)."""
        if receipt.report_id is None:
            return None
        entry = self.get(receipt.report_id)
        if entry is None:
            return None
        with self._lock:
            if receipt.retryable:
                # Refused for the rate, not for what it says: keep it and send it again
                # (same id) when the backend says it will be taken.
                wait_s = float(receipt.retry_after_s or self.retry_min_s)
                self._db.execute(
                    "UPDATE outbox SET next_attempt = ?, last_error = ? WHERE report_id = ?",
                    (
                        self._clock() + wait_s,
                        f"rate limited; retrying in {wait_s:.0f} s",
                        receipt.report_id,
                    ),
                )
                return entry
            if receipt.status is ReceiptStatus.REJECTED:
                problems = [f"{p.path}: {p.code}: {p.message}" for p in receipt.problems]
                self._db.execute(
                    "UPDATE outbox SET state = 'rejected', problems = ?, photo = NULL "
                    "WHERE report_id = ?",
                    (json.dumps(problems, ensure_ascii=False), receipt.report_id),
                )
            else:
                self._db.execute("DELETE FROM outbox WHERE report_id = ?", (receipt.report_id,))
        return entry

    def dismiss_rejected(self, report_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM outbox WHERE report_id = ? AND state = 'rejected'", (report_id,)
            )

    # ------------------------------------------------------------------ reading

    def get(self, report_id: str) -> OutboxEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE report_id = ?", (report_id,)
            ).fetchone()
        return _entry(row) if row else None

    def due(self, limit: int = 20) -> list[OutboxEntry]:
        now = self._clock()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt <= ? "
                "ORDER BY created_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_entry(r) for r in rows]

    def pending(self) -> list[OutboxEntry]:
        return self._select("pending")

    def rejected(self) -> list[OutboxEntry]:
        return self._select("rejected")

    def _select(self, state: str) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = ? ORDER BY created_at", (state,)
            ).fetchall()
        return [_entry(r) for r in rows]

    def stats(self) -> OutboxStats:
        with self._lock:
            pending, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
            (rejected,) = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE state = 'rejected'"
            ).fetchone()
        oldest_s = max(0.0, self._clock() - float(oldest)) if oldest is not None else None
        return OutboxStats(int(pending), oldest_s, int(rejected))

    def next_due_in(self) -> float | None:
        """Seconds until the next pending row is due (0 if overdue), None if nothing pending."""
        with self._lock:
            (nxt,) = self._db.execute(
                "SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        return None if nxt is None else max(0.0, float(nxt) - self._clock())


_COLUMNS = (
    "report_id, created_at, payload, photo, state, attempts, next_attempt, last_sent_at, "
    "last_error, problems"
)


def _entry(row: tuple[object, ...]) -> OutboxEntry:
    problems = json.loads(str(row[9])) if row[9] else []
    return OutboxEntry(
        report_id=str(row[0]),
        created_at=float(row[1]),  # type: ignore[arg-type]
        payload=bytes(row[2]),  # type: ignore[arg-type]
        photo=bytes(row[3]) if row[3] is not None else None,  # type: ignore[arg-type]
        state=str(row[4]),
        attempts=int(row[5]),  # type: ignore[call-overload]
        next_attempt=float(row[6]),  # type: ignore[arg-type]
        last_sent_at=float(row[7]) if row[7] is not None else None,  # type: ignore[arg-type]
        last_error=str(row[8]) if row[8] is not None else None,
        problems=tuple(str(p) for p in problems),
    )
