"""The desk login under attack, over HTTP: a run of wrong passwords meets 429 with
Retry-After (the right password too, until the wait is over), the wait doubles, a success
resets the account; the password pool refuses at once when full; the session cookie is
Secure over https or by setting. The throttle's clock is injected: no sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.people.hashing import HashingBusyError, HashingPool
from backend.people.settings import get_login_settings
from backend.people.throttle import ACCOUNT_FREE, ADDRESS_FREE, LoginThrottle
from tests.backend.desk.world import PASSWORDS

LOGIN = "/api/v1/desk/login"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextmanager
def app_client(db_url: str, clock: FakeClock, address: str = "203.0.113.7") -> Iterator[TestClient]:
    app = create_app(db_url, login_throttle=LoginThrottle(clock))
    with TestClient(app, client=(address, 50000)) as client:
        yield client


def attempt(http: TestClient, username: str, password: str) -> tuple[int, dict, dict[str, str]]:
    got = http.post(LOGIN, json={"username": username, "password": password})
    http.cookies.clear()
    return got.status_code, got.json(), dict(got.headers)


def test_two_hundred_wrong_passwords_meet_429_and_the_right_one_waits(db_url, world, clock):
    app = create_app(db_url, login_throttle=LoginThrottle(clock))
    with (
        TestClient(app, client=("203.0.113.7", 1)) as http,
        TestClient(app, client=("198.51.100.20", 2)) as elsewhere,
    ):
        statuses = []
        for i in range(200):
            status, body, headers = attempt(http, "coord", f"wrong-password-{i}")
            statuses.append(status)
            if status == 429:
                assert int(headers["retry-after"]) >= 1
                assert "too many failed logins for this account" in body["detail"]
                assert f"refused for {headers['retry-after']} s more" in body["detail"]
        assert statuses[:ACCOUNT_FREE] == [401] * ACCOUNT_FREE
        assert set(statuses[ACCOUNT_FREE:]) == {429}

        # the right password during the lockout is refused too, without checking it
        status, body, headers = attempt(http, "coord", PASSWORDS["coord"])
        assert status == 429 and headers["retry-after"] == "1"

        clock.advance(1)
        status, body, _ = attempt(http, "coord", PASSWORDS["coord"])
        assert status == 200, body
        assert body["username"] == "coord"

        # a success resets the account's count: elsewhere, five more tries before a lock
        for i in range(ACCOUNT_FREE):
            assert attempt(elsewhere, "coord", f"again-{i}")[0] == 401
        assert attempt(elsewhere, "coord", "again-x")[0] == 429
        # ... which does not apply where the account logged in (only that address's own)
        assert attempt(http, "coord", PASSWORDS["coord"])[0] == 200


def test_each_further_failure_doubles_the_wait(db_url, world, clock):
    with app_client(db_url, clock) as http:
        for i in range(ACCOUNT_FREE):
            assert attempt(http, "oper", f"wrong-{i}")[0] == 401
        waits = []
        for _ in range(5):
            status, _, headers = attempt(http, "oper", "still-wrong")
            assert status == 429
            waits.append(int(headers["retry-after"]))
            clock.advance(waits[-1])
            assert attempt(http, "oper", "still-wrong")[0] == 401  # tried, failed, locked longer
        assert waits == [1, 2, 4, 8, 16]


def test_an_address_trying_many_accounts_is_locked(db_url, world, clock):
    with app_client(db_url, clock) as http:
        for i in range(ADDRESS_FREE):
            assert attempt(http, f"nobody-{i}", "guess-guess")[0] == 401
        status, body, headers = attempt(http, "desk-a", PASSWORDS["desk-a"])
        assert status == 429 and headers["retry-after"] == "1"
        assert "your address" in body["detail"]
    # the same account from another address is not locked by that
    with app_client(db_url, clock, address="198.51.100.9") as other:
        assert attempt(other, "desk-a", PASSWORDS["desk-a"])[0] == 200


def test_a_stranger_cannot_lock_a_person_out_of_their_usual_address(db_url, world, clock):
    throttle = LoginThrottle(clock)
    app = create_app(db_url, login_throttle=throttle)
    with (
        TestClient(app, client=("192.0.2.10", 1)) as desk,
        TestClient(app, client=("198.51.100.66", 2)) as stranger,
    ):
        assert attempt(desk, "desk-b", PASSWORDS["desk-b"])[0] == 200
        for i in range(ACCOUNT_FREE + 3):
            attempt(stranger, "desk-b", f"guess-{i}")
        assert attempt(stranger, "desk-b", PASSWORDS["desk-b"])[0] == 429
        assert attempt(desk, "desk-b", PASSWORDS["desk-b"])[0] == 200


def test_a_full_password_pool_answers_503_with_retry_after_at_once(db_url, world, clock):
    class FullPool:
        def run(self, fn: Callable[[], object]) -> object:
            raise HashingBusyError(2.2)

        def close(self) -> None:
            pass

    app = create_app(db_url, login_throttle=LoginThrottle(clock), password_pool=FullPool())  # type: ignore[arg-type]
    with TestClient(app) as http:
        status, body, headers = attempt(http, "coord", PASSWORDS["coord"])
    assert status == 503 and headers["retry-after"] == "3"
    assert "checking too many passwords at once" in body["detail"]


def test_the_pool_refuses_at_once_beyond_threads_plus_queue():
    pool = HashingPool(threads=1, queue=0, nice=False)
    release = threading.Event()
    started = threading.Event()

    def slow() -> str:
        started.set()
        release.wait()
        return "done"

    results: list[str] = []
    runner = threading.Thread(target=lambda: results.append(pool.run(slow)))
    runner.start()
    started.wait()
    assert pool.in_flight == 1
    with pytest.raises(HashingBusyError, match="try again in"):
        pool.run(lambda: "never")
    release.set()
    runner.join()
    assert results == ["done"]
    assert pool.run(lambda: "again") == "again"
    pool.close()


# --------------------------------------------------------------------------- the cookie


@pytest.fixture
def cookie_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def set_mode(mode: str) -> None:
        monkeypatch.setenv("SR_COOKIE_SECURE", mode)
        get_login_settings.cache_clear()

    yield set_mode
    get_login_settings.cache_clear()


@pytest.mark.parametrize(
    ("mode", "base_url", "secure"),
    [
        ("auto", "https://desk.example", True),
        ("auto", "http://testserver", False),
        ("always", "http://testserver", True),
        ("never", "https://desk.example", False),
    ],
)
def test_the_session_cookie_is_secure_over_https_or_by_setting(
    db_url, world, clock, cookie_mode, mode: str, base_url: str, secure: bool
):
    cookie_mode(mode)
    app = create_app(db_url, login_throttle=LoginThrottle(clock))
    with TestClient(app, base_url=base_url) as http:
        got = http.post(LOGIN, json={"username": "coord", "password": PASSWORDS["coord"]})
        assert got.status_code == 200, got.text
        cookie = got.headers["set-cookie"]
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "path", "max-age"} <= attributes
        assert ("secure" in attributes) is secure
        token = got.json()["token"]
        out = http.post("/api/v1/desk/logout", headers={"Authorization": f"Bearer {token}"})
        assert out.status_code == 204
        assert ("secure" in out.headers["set-cookie"].lower()) is secure


def test_forwarded_proto_counts_only_through_uvicorns_trusted_proxies(db_url, world, clock):
    # TestClient has no proxy layer: a client's own X-Forwarded-Proto changes nothing here;
    # behind uvicorn, only addresses in --forwarded-allow-ips may set it.
    app = create_app(db_url, login_throttle=LoginThrottle(clock))
    with TestClient(app) as http:
        got = http.post(
            LOGIN,
            json={"username": "coord", "password": PASSWORDS["coord"]},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert got.status_code == 200 and "secure" not in got.headers["set-cookie"].lower()
