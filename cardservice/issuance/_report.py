"""The issuance report of one batch run: a CSV for machines and a printable summary for the file.

Both carry masked card numbers only: reports are printed, mailed and left on desks; the registry
holds the full numbers. Rows rejected by validation appear with outcome ``rejected`` and the reasons
(which name items, never values).
"""

from __future__ import annotations

import csv
import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cardservice.issuance._batch import IssuedCard
from cardservice.issuance._people import RowError

__all__ = ["OUTCOME_LABELS", "BatchReport"]

#: outcome → the label printed on the summary
OUTCOME_LABELS = {
    "active": "已发卡 (启用)",
    "issued": "已发卡 (待领取)",
    "skipped": "跳过 (已有卡)",
    "spoiled": "废卡",
    "failed": "失败",
    "rejected": "数据有误, 未发卡",
}
_CSV_HEADER = ["row", "card", "outcome", "issuance_serial", "chip_serial", "seconds", "detail"]


@dataclass
class BatchReport:
    batch: str
    source: str  # the input file's name
    station: str
    operator: str
    started: _dt.datetime
    finished: _dt.datetime | None = None
    cards: list[IssuedCard] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        counts = Counter(card.outcome for card in self.cards)
        if self.rejected:
            counts["rejected"] = len(self.rejected)
        return counts

    def write(self, directory: Path) -> tuple[Path, Path]:
        """``DIR/<batch>.csv`` and ``DIR/<batch>.txt``; both paths."""
        directory.mkdir(parents=True, exist_ok=True)
        csv_path, text_path = directory / f"{self.batch}.csv", directory / f"{self.batch}.txt"
        with csv_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(_CSV_HEADER)
            for row, card in self._rows():
                if card is None:
                    error = next(e for e in self.rejected if e.row == row)
                    writer.writerow([row, "", "rejected", "", "", "", "; ".join(error.problems)])
                else:
                    writer.writerow(
                        [card.row, card.masked, card.outcome, card.issuance_serial or "",
                         card.chip_serial or "", f"{card.seconds:.2f}", card.detail]
                    )  # fmt: skip
        text_path.write_text(self.summary(), encoding="utf-8")
        return csv_path, text_path

    def _rows(self) -> list[tuple[int, IssuedCard | None]]:
        rows: list[tuple[int, IssuedCard | None]] = [(card.row, card) for card in self.cards]
        rows += [(error.row, None) for error in self.rejected]
        return sorted(rows, key=lambda item: item[0])

    def summary(self) -> str:
        """The printable summary (plain text, fits A4 portrait in a monospaced font)."""
        counts = self.counts()
        finished = self.finished or _dt.datetime.now(_dt.UTC)
        issued = [card for card in self.cards if card.outcome in ("active", "issued")]
        per_card = sum(card.seconds for card in issued) / len(issued) if issued else 0.0
        lines = [
            "居民健康卡发卡批次报告 (Resident Health Card issuance report)",
            "=" * 64,
            f"批次 batch:       {self.batch}",
            f"数据文件 input:   {self.source}",
            f"工作站 station:   {self.station}",
            f"操作员 operator:  {self.operator}",
            f"开始 started:     {_local(self.started)}",
            f"结束 finished:    {_local(finished)}",
            "",
            "结果 outcomes:",
        ]
        for outcome, label in OUTCOME_LABELS.items():
            if counts.get(outcome):
                lines.append(f"  {label:<16} {outcome:<10} {counts[outcome]:>5}")
        lines.append(f"  {'合计 total':<16} {'':<10} {sum(counts.values()):>5}")
        if issued:
            lines.append(f"  平均每卡 {per_card:.1f} s per issued card")
        lines += [
            "",
            f"{'行':>4}  {'卡号 card':<20} {'结果 outcome':<12} {'发卡序列号':<12} 说明 detail",
            "-" * 64,
        ]
        for row, card in self._rows():
            if card is None:
                error = next(e for e in self.rejected if e.row == row)
                lines.append(f"{row:>4}  {'-':<20} {'rejected':<12} {'-':<12} {'; '.join(error.problems)}")
            else:
                lines.append(
                    f"{card.row:>4}  {card.masked:<20} {card.outcome:<12} {card.issuance_serial or '-':<12} "
                    f"{card.detail}".rstrip()
                )
        if self.notes:
            lines += ["", "附注 notes:"] + [f"  - {note}" for note in self.notes]
        lines += ["", "经办人签字 operator signature: ____________    复核 checked by: ____________", ""]
        return "\n".join(lines)


def _local(moment: _dt.datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
