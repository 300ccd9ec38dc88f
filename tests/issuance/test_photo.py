"""fit_photo: any camera picture becomes a JPEG that fits the card's photo file (EF07, 3,072 bytes); what is
not a picture, or is a picture no camera takes (a decompression bomb), is refused before it is decoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cardservice.errors import CodecError
from cardservice.healthcard import PHOTO_CAPACITY
from cardservice.issuance import fit_photo


def _image(size: tuple[int, int], kind: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert(mode).save(out, kind)  # noise: the hardest picture to compress
    return out.getvalue()


@pytest.mark.parametrize(("size", "kind"), [((640, 480), "PNG"), ((1920, 2560), "JPEG"), ((300, 400), "BMP")])
def test_a_camera_picture_fits_the_card(size: tuple[int, int], kind: str) -> None:
    fitted = fit_photo(_image(size, kind))
    assert fitted[:3] == b"\xff\xd8\xff"
    assert len(fitted) <= PHOTO_CAPACITY
    with Image.open(io.BytesIO(fitted)) as shown:
        assert shown.width <= 240
        assert abs(shown.width / shown.height - size[0] / size[1]) < 0.05  # the proportions kept


def test_a_jpeg_that_fits_is_kept_as_it_is() -> None:
    small = fit_photo(_image((640, 480), "PNG"))
    assert fit_photo(small) is small


@pytest.mark.parametrize(
    "data", [b"", b"\x89PNG\r\n\x1a\n not really", _image((6000, 6000), "PNG", "L")],
    ids=["empty", "not a picture", "36 megapixels"],
)  # fmt: skip
def test_what_is_not_a_camera_picture_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        fit_photo(data)
