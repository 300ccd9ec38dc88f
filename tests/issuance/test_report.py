"""The batch report (CSV + printable summary), and the transport key of card-sim's blank cards."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from cardservice.issuance import BatchReport, IssuedCard, RowError, TransportKeys
from simulators.cardos import BLANK_TRANSPORT_KEY


def test_the_issuers_card_sim_transport_key_is_the_one_card_sim_publishes() -> None:
    keys = TransportKeys.card_sim()
    assert keys.auth == keys.sm == BLANK_TRANSPORT_KEY


def test_the_report_lists_every_row_in_order_with_masked_numbers_only(tmp_path: Path) -> None:
    started = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    report = BatchReport(
        "b1", "people.csv", "host:reader", "clerk", started, started + dt.timedelta(minutes=1)
    )
    report.cards = [
        IssuedCard(1, "1101************30", "active", "0000000001", "AB", seconds=1.25),
        IssuedCard(3, "6501************25", "spoiled", "0000000002", "CD", "read back differs: DDF1/EF06"),
        IssuedCard(4, "5401************5X", "skipped", detail="already has a card"),
    ]
    report.rejected = [RowError(2, ("id_number (SFZH): check character does not match",))]
    report.notes = ["the card in the reader (chip EE) is not blank; ejected"]
    csv_path, text_path = report.write(tmp_path / "out")
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["row"], r["outcome"]) for r in rows] == [
        ("1", "active"), ("2", "rejected"), ("3", "spoiled"), ("4", "skipped")
    ]  # fmt: skip
    assert rows[0]["seconds"] == "1.25"
    assert rows[1]["detail"] == "id_number (SFZH): check character does not match"
    summary = text_path.read_text(encoding="utf-8")
    assert "居民健康卡发卡批次报告" in summary
    for label in ("已发卡 (启用)", "废卡", "数据有误, 未发卡", "合计 total"):
        assert label in summary
    assert "is not blank; ejected" in summary
    assert report.counts() == {"active": 1, "spoiled": 1, "skipped": 1, "rejected": 1}
