"""An SMS's encoding and segments (GSM 03.38; 3GPP TS 23.040): GSM-7 160
alone, 153 a segment; UCS-2 70 alone, 67 a segment; ñ é ü ¿ ¡ in GSM-7's
basic set, á í ó ú not; the extension table's characters take two septets,
never split across segments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.messages.sms import Encoding, measure


@pytest.mark.parametrize("char", list("ñéü¿¡ÑÉÜàèìòù§Ä"))
def test_these_spanish_and_basic_set_characters_keep_gsm7(char: str) -> None:
    size = measure(f"Hola {char}")
    assert (size.encoding, size.units, size.forcing) == (Encoding.GSM7, 6, "")


@pytest.mark.parametrize("char", list("áíóúÁÍÓÚç"))
def test_these_accents_force_ucs2(char: str) -> None:
    size = measure(f"Pague {char}")
    assert (size.encoding, size.units, size.forcing) == (Encoding.UCS2, 7, char)


@pytest.mark.parametrize(("text", "units", "segments"), [
    ("a" * 160, 160, 1), ("a" * 161, 161, 2), ("a" * 306, 306, 2), ("a" * 307, 307, 3),
    ("€" * 80, 160, 1), ("€" * 81, 162, 2),
    # The escape and its character stay in one segment: 152 + 2 does not fit 153.
    ("a" * 152 + "[" + "a" * 10, 164, 2), ("a" * 152 + "[" + "a" * 152, 306, 3),
])
def test_gsm7_septets_and_segments(text: str, units: int, segments: int) -> None:
    size = measure(text)
    assert (size.encoding, size.units, size.segments) == (Encoding.GSM7, units, segments)


@pytest.mark.parametrize(("text", "units", "segments"), [
    ("á" * 70, 70, 1), ("á" * 71, 71, 2), ("á" * 134, 134, 2), ("á" * 135, 135, 3),
    # An emoji is a surrogate pair: two units, never split.
    ("😀" * 35, 70, 1), ("á" * 66 + "😀" + "á" * 5, 73, 2),
])
def test_ucs2_units_and_segments(text: str, units: int, segments: int) -> None:
    size = measure(text)
    assert (size.encoding, size.units, size.segments) == (Encoding.UCS2, units, segments)


def test_the_extension_table_counts_two_septets_each() -> None:
    assert measure("^{}\\[~]|€").units == 18


def test_it_says_what_forced_ucs2() -> None:
    assert str(measure("Pagó")) == "UCS-2, forced by 'ó': 4 UTF-16 units, 1 segment"
    assert str(measure("Pague")) == "GSM-7: 5 septets, 1 segment"


@given(st.text(alphabet=st.sampled_from("aZ09 .,:/?=&-_@$£€[]{}^~|\\ñéüáíóú¿¡\n`\t😀"),
               max_size=400))
def test_measured_a_character_at_a_time_as_the_codec_encodes_the_whole_text(text) -> None:
    size = measure(text)
    try:
        encoded = text.encode("gsm03.38")
    except UnicodeEncodeError:
        assert size.encoding is Encoding.UCS2
        assert size.units == len(text.encode("utf-16-be")) // 2
    else:
        assert (size.encoding, size.units) == (Encoding.GSM7, len(encoded))
