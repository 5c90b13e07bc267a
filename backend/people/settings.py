"""The login's configuration (environment, prefix ``SR_``), built on demand."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LoginSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SR_", extra="ignore")

    # The session cookie's Secure flag: "auto" = when the request came over https (behind a
    # proxy, uvicorn's --forwarded-allow-ips decides whose X-Forwarded-Proto counts),
    # "always", or "never".
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Password checks (Argon2id) running at once, and logins that may wait for one; more
    # are refused at once with 503 and Retry-After (backend.people.hashing). The waiting
    # ones hold a thread of the server's pool (40), so the queue stays well below that.
    login_hash_threads: int = Field(default=1, ge=1, le=16)
    # Logins that may wait for a password check (see above).
    login_hash_queue: int = Field(default=16, ge=0, le=24)


@lru_cache(maxsize=1)
def get_login_settings() -> LoginSettings:
    return LoginSettings()
