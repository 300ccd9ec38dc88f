"""Layout in character columns: a Chinese character is two columns, ASCII one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage

from cardservice.printing import (
    Align,
    Column,
    Cut,
    Feed,
    Image,
    PaperWidth,
    QrCode,
    Row,
    Rule,
    Text,
    Ticket,
    column_widths,
    display_width,
    fit_image,
    layout_row,
    layout_text,
    pad,
    preview_pages,
    printable,
    wrap,
)

# Text as it comes from a HIS: ASCII, Chinese (BMP and a supplementary-plane character), minority-name dot.
_TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ 0123456789.-/") + list("李明阿依古丽·买买提龘𠀀↑↓￥")),
    max_size=80,
)


def test_paper_geometry() -> None:
    assert (PaperWidth.MM58.dots, PaperWidth.MM58.columns) == (384, 32)
    assert (PaperWidth.MM80.dots, PaperWidth.MM80.columns) == (576, 48)


@pytest.mark.parametrize(
    ("text", "width"),
    [("", 0), ("abc", 3), ("李明", 4), ("阿依古丽·买买提", 16), ("¥12.50", 7), ("𠀀龘", 4), ("↑", 2)],
)
def test_display_width(text: str, width: int) -> None:
    assert display_width(text) == width


def test_printable_removes_commands_and_substitutes_yuan() -> None:
    # An ESC @ or a cut hidden in a name must never reach the printer as a command.
    assert printable("李\x1b@明\x1dV\x00") == "李 @明 V "
    assert printable("a\u200bb") == "ab"
    assert printable("¥12.50") == "￥12.50"
    assert printable("一\n二") == "一\n二"


def test_wrap_breaks_chinese_anywhere_and_keeps_ascii_words() -> None:
    assert wrap("心血管内科门诊", 6) == ["心血管", "内科门", "诊"]
    assert wrap("mmol/L per day", 8) == ["mmol/L", "per day"]
    assert wrap("龘a", 1) == ["龘", "a"]  # too wide for the line: a line of its own, no endless loop
    assert wrap("", 10) == [""]
    assert wrap("一\n\n二", 10) == ["一", "", "二"]


@given(_TEXT, st.integers(min_value=2, max_value=48))
def test_wrap_lines_fit_and_keep_every_character(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(display_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_pad() -> None:
    assert pad("李", 5, Align.LEFT) == "李   "
    assert pad("李", 5, Align.RIGHT) == "   李"
    assert pad("李", 5, Align.CENTER) == " 李  "
    assert pad("李明张", 4, Align.RIGHT) == "李明张"


def test_pair_row_label_as_wide_as_it_is() -> None:
    assert layout_row(Row.pair("科室", "内科"), 32) == ["科室" + " " * 24 + "内科"]
    assert layout_row(Row.pair("挂号费", "¥12.50"), 20) == ["挂号费       ￥12.50"]


def test_table_row_wraps_inside_its_column() -> None:
    row = Row(
        ("阿莫西林胶囊", "2", "¥18.50"), (Column(), Column(width=3, align=Align.RIGHT), Column(width=8))
    )
    widths = column_widths(row, 20)
    assert widths == [7, 3, 8]
    assert layout_row(row, 20) == ["阿莫西    2 ￥18.50", "林胶囊"]


_COLUMN = st.builds(
    Column,
    weight=st.integers(0, 3),
    align=st.sampled_from(Align),
    width=st.one_of(st.none(), st.integers(2, 30)),
)


@given(st.lists(st.tuples(_TEXT, _COLUMN), min_size=1, max_size=8), st.sampled_from(PaperWidth))
def test_rows_never_exceed_the_paper(spec: list[tuple[str, Column]], paper: PaperWidth) -> None:
    cells = [cell for cell, _ in spec]
    columns = tuple(column for _, column in spec)
    for line in layout_row(Row(tuple(cells), columns), paper.columns):
        assert display_width(line) <= paper.columns


def test_magnified_text_uses_fewer_columns() -> None:
    assert layout_text(Text("A023" * 4, width=3, height=3), 48) == ["A023A023A023A023"]
    assert layout_text(Text("A023" * 5, width=3, height=3), 48) == ["A023A023A023A023", "A023"]


def test_rule_fills_the_line() -> None:
    assert preview_pages(Ticket((Rule("="), Rule("－"))), PaperWidth.MM58) == (
        "=" * 32 + "\n" + "－" * 16 + "\n",
    )


def test_fit_image() -> None:
    assert fit_image(100, 50, 576) == (104, 50)
    assert fit_image(1152, 200, 576) == (576, 100)


def test_preview_pages_split_at_cuts_and_join_adjacent_images() -> None:
    logo = PILImage.new("L", (100, 40), 0)
    ticket = Ticket(
        (Image(logo), Image(logo), Text("甲"), Feed(2), Cut(), QrCode("x"), Text(""), Cut(), Cut())
    )
    assert preview_pages(ticket, PaperWidth.MM80) == ("[IMAGE 104x80]\n甲\n", "[QR: x]\n")
    assert [len(page.ops) for page in ticket.pages] == [5, 3, 1]
    assert ticket + Ticket((Cut(),)) == Ticket((*ticket.ops, Cut()))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Text("x", width=9),
        lambda: Rule(""),
        lambda: Rule(" "),
        lambda: Row(("a", "b"), (Column(),)),
        lambda: QrCode(""),
        lambda: QrCode("x", module=17),
        lambda: Feed(0),
        lambda: Column(weight=-1),
        lambda: Column(width=1),
    ],
)
def test_invalid_operations_are_refused(make: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        make()  # type: ignore[operator]


def test_too_many_columns_for_the_paper() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        layout_row(Row(tuple("abcdefghijkl"), tuple(Column() for _ in range(12))), 32)
