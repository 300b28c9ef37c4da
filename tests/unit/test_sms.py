import pytest

from lifecycle.messaging.sms import measure


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("ş" * 70, "UCS-2", 70, 1),
        ("ş" * 71, "UCS-2", 71, 2),
        ("歡" * 134, "UCS-2", 134, 2),
        ("歡" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: two UTF-16 units each
        ("", "GSM-7", 0, 0),
    ],
)
def test_segment_count(text: str, encoding: str, units: int, segments: int) -> None:
    size = measure(text)

    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)
