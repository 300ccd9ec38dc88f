"""The print job lifecycle: the table of moves (JobStatus, a StrEnum, with cardservice.store.Lifecycle),
the WHERE sets of the queue's conditional UPDATEs derived from it, and an illegal move refused."""

from __future__ import annotations

import pytest
from sqlalchemy import CheckConstraint

from cardservice.printing import JOB, JobStatus, PrintQueue
from cardservice.printing._jobs import move, sources
from cardservice.printing._workers import Claimed
from cardservice.store import Database, IllegalTransition, PrintJobRow
from drivers.printers import DummyPrinter
from tests.printing.conftest import AuditSpy
from tests.printing.samples import make_slip

TABLE = """\
queued → cancelled, held, printing
printing → failed, held, printed, queued
printed → (final)
held → cancelled, failed, printing
failed → (final)
cancelled → (final)"""


def test_the_table_of_moves() -> None:
    print(JOB.describe())
    assert JOB.describe() == TABLE
    assert JOB.final == {JobStatus.PRINTED, JobStatus.FAILED, JobStatus.CANCELLED}
    assert [status.value for status in JobStatus] == [
        "queued", "printing", "printed", "held", "failed", "cancelled"
    ]  # fmt: skip
    assert isinstance(JobStatus.HELD, str)  # a StrEnum: compares and serialises as the stored value
    assert f"{JobStatus.HELD}" == "held"


def test_the_states_are_the_ones_the_database_allows() -> None:
    table = PrintJobRow.metadata.tables[PrintJobRow.__tablename__]
    (check,) = (c for c in table.constraints if isinstance(c, CheckConstraint))
    assert str(check.sqltext) == "status IN ({})".format(", ".join(f"'{s.value}'" for s in JobStatus))


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("printed", "queued"),  # finished is final: a reprint is a new job
        ("failed", "printing"),
        ("cancelled", "held"),
        ("held", "printed"),  # only what is being printed is printed
        ("queued", "failed"),  # a job fails once tried (or held too long)
        ("queued", "printed"),
    ],
)
def test_an_illegal_move_raises(current: str, target: str) -> None:
    assert not JOB.can(current, target)
    with pytest.raises(IllegalTransition, match=f"print job: {current} → {target}"):
        JOB.check(current, target)
    with pytest.raises(IllegalTransition):
        move(JobStatus(target), source=JobStatus(current))


def _sql(target: JobStatus, source: JobStatus | None = None) -> str:
    return str(move(target, source=source).compile(compile_kwargs={"literal_binds": True}))


def test_the_where_sets_come_from_the_table() -> None:
    assert sources(JobStatus.PRINTING) == [JobStatus.QUEUED, JobStatus.HELD]
    assert sources(JobStatus.CANCELLED) == [JobStatus.QUEUED, JobStatus.HELD]
    assert _sql(JobStatus.PRINTING) == (
        "UPDATE print_jobs SET status='printing' WHERE print_jobs.status IN ('queued', 'held')"
    )
    assert _sql(JobStatus.CANCELLED).endswith("WHERE print_jobs.status IN ('queued', 'held')")
    assert _sql(JobStatus.HELD, JobStatus.QUEUED) == (
        "UPDATE print_jobs SET status='held' WHERE print_jobs.status IN ('queued')"
    )


def test_the_queue_refuses_an_illegal_move_before_the_database(database: Database) -> None:
    queue = PrintQueue(database, {"front": DummyPrinter()}, audit=AuditSpy(), station="kiosk-1")
    job = queue.submit("kiosk-1", "l1", "registration_slip", make_slip())
    claimed = queue._workers.claim("front")
    assert isinstance(claimed, Claimed)
    with pytest.raises(IllegalTransition, match="printing → cancelled"):
        queue._workers._finish(claimed, JobStatus.CANCELLED, None)
    assert queue.get(job.job_ref).status is JobStatus.PRINTING
