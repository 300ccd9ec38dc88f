"""HIS tests run on SQLite and on the PostgreSQL `make test` starts (see tests/dbfixtures.py). The
embedded HIS is seeded for a fixed Monday, 2026-11-23, with a clock the tests move."""

from __future__ import annotations

import datetime as dt

import pytest

from cardservice.healthcard import id_check_character
from cardservice.his import CHINA_TZ, EmbeddedHis, Patient, open_embedded_his
from cardservice.store import Database
from simulators.demo import demo_patient
from tests.dbfixtures import database, database_url

__all__ = ["TODAY", "Clock", "database", "database_url", "embedded", "make_patient"]

TODAY = dt.date(2026, 11, 23)


class Clock:
    """Settable UTC time for the embedded HIS."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)


def make_patient(sequence: int, name: str = "张三") -> Patient:
    """A synthetic, well-formed card number (born 1990-01-01 in Beijing 朝阳区)."""
    body = f"11010519900101{sequence:03d}"
    return Patient(body + id_check_character(body), name)


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime.combine(TODAY, dt.time(7, 0), CHINA_TZ))


@pytest.fixture
def embedded(database: Database, clock: Clock) -> EmbeddedHis:
    return open_embedded_his(database, today=TODAY, clock=clock, patient=demo_patient())
