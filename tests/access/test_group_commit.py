"""GroupCommit on its own: who leads, who waits, and what a failed commit tells each caller."""

from __future__ import annotations

import threading
import time

import pytest

from cardservice.access._group_commit import GroupCommit


class Item:
    def __init__(self, name: str) -> None:
        self.name = name
        self.outcome: str | None = None


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.002)


def test_a_caller_alone_commits_its_item_at_once() -> None:
    groups: list[list[str]] = []

    def commit(group: list[Item]) -> None:
        groups.append([item.name for item in group])
        for item in group:
            item.outcome = "in"

    committer = GroupCommit(commit, lambda item, exc: None)
    item = Item("a")
    committer.submit(item)
    assert (item.outcome, groups) == ("in", [["a"]])


def test_items_queued_behind_a_commit_go_in_together_and_in_order() -> None:
    release = threading.Event()
    groups: list[list[str]] = []

    def commit(group: list[Item]) -> None:
        if not groups:
            release.wait(10)
        groups.append([item.name for item in group])
        for item in group:
            item.outcome = "in"

    committer = GroupCommit(commit, lambda item, exc: None)
    items = [Item(f"r{n}") for n in range(6)]
    threads = [threading.Thread(target=committer.submit, args=(item,)) for item in items]
    threads[0].start()
    wait_for(lambda: committer._committing, "the first caller did not lead")
    for count, thread in enumerate(threads[1:], start=1):
        thread.start()
        wait_for(lambda count=count: committer.waiting == count, "a caller did not queue")
    assert [item.outcome for item in items[1:]] == [None] * 5  # nobody answered before the commit
    release.set()
    for thread in threads:
        thread.join(10)
    assert groups == [["r0"], ["r1", "r2", "r3", "r4", "r5"]]
    assert all(item.outcome == "in" for item in items)


def test_a_commit_that_raises_abandons_its_group_and_the_leader_sees_why() -> None:
    release = threading.Event()
    calls = 0

    def commit(group: list[Item]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            release.wait(10)
            return
        raise RuntimeError("disk on fire")

    def abandon(item: Item, exc: BaseException) -> None:
        item.outcome = f"abandoned: {exc}"

    committer = GroupCommit(commit, abandon)
    first, leader, follower = Item("first"), Item("second"), Item("third")
    errors: dict[str, BaseException] = {}

    def submit(item: Item) -> None:
        try:
            committer.submit(item)
        except BaseException as exc:
            errors[item.name] = exc

    threads = [threading.Thread(target=submit, args=(item,)) for item in (first, leader, follower)]
    threads[0].start()
    wait_for(lambda: committer._committing, "the first caller did not lead")
    threads[1].start()
    wait_for(lambda: committer.waiting == 1, "the second caller did not queue")
    threads[2].start()
    wait_for(lambda: committer.waiting == 2, "the third caller did not queue")
    release.set()
    for thread in threads:
        thread.join(10)
    # Either of the two queued callers may wake first and lead their group: that one sees the error.
    assert len(errors) == 1
    assert [str(exc) for exc in errors.values()] == ["disk on fire"]
    assert leader.outcome == follower.outcome == "abandoned: disk on fire"
    assert committer.waiting == 0
    with pytest.raises(RuntimeError):
        committer.submit(Item("later"))  # the committer is not wedged: the next caller leads again
