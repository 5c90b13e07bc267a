"""People's accounts: Argon2id hashes, refusals, and the make-run seed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.auth.subject import Role, subject_of
from backend.people.models import Person
from backend.people.service import PeopleError, authenticate, create_person
from devstack.seed import seed_demo_people


def test_seed_creates_one_account_per_role_once(desk_sessions, world):
    with desk_sessions.begin() as session:
        first = seed_demo_people(session)
    with desk_sessions.begin() as session:
        again = seed_demo_people(session)
    assert first == again
    assert {role for _, _, role in first} == {"coordinator", "operator", "police"}
    with desk_sessions() as session:
        for username, password, role in first:
            person = authenticate(session, username, password)
            assert person is not None and person.role == role
            assert person.password_hash.startswith("$argon2id$")
            assert password not in person.password_hash
        police = subject_of(session, session.get(Person, "police"))
        assert police.station_ids == {"PS-A", "PS-B"}
        assert authenticate(session, "police", "wrong-password") is None


def test_account_refusals(desk_sessions, world):
    now = datetime.now(UTC)
    with desk_sessions() as session:
        with pytest.raises(PeopleError, match="taken"):
            create_person(session, username="coord", password="long-enough", role=Role.OPERATOR, now=now)
        with pytest.raises(PeopleError, match="too short"):
            create_person(session, username="new", password="short", role=Role.OPERATOR, now=now)
        with pytest.raises(PeopleError, match="needs the station"):
            create_person(session, username="new", password="long-enough", role=Role.POLICE, now=now)
        with pytest.raises(PeopleError, match="only police"):
            create_person(session, username="new", password="long-enough", role=Role.OPERATOR,
                          now=now, station_ids=("PS-A",))
