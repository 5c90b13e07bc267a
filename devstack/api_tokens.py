"""The demo people's API tokens for ``make run``: one per demo account, created once and kept
in ``var/<username>.api-token`` (the database holds only its hash), created again when the
kept one no longer works (revoked, or a new database)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from backend.auth.subject import TokenRefusedError, subject_for_token
from backend.people.api_tokens import create_api_token

LABEL = "make run demo"


def demo_api_tokens(session: Session, var: Path, usernames: Iterable[str]) -> dict[str, str]:
    """username -> a working API token of that demo account."""
    now = datetime.now(UTC)
    tokens = {}
    for username in usernames:
        path = var / f"{username}.api-token"
        kept = path.read_text().strip() if path.exists() else ""
        if kept:
            try:
                if subject_for_token(session, kept, now).username == username:
                    tokens[username] = kept
                    continue
            except TokenRefusedError:
                pass
        _, secret = create_api_token(session, username, LABEL, now)
        path.write_text(secret)
        path.chmod(0o600)
        tokens[username] = secret
    return tokens
