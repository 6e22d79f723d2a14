"""tenants.validators: what a name or a description typed by an admin may contain."""

import pytest
from django.core.exceptions import ValidationError

from tenants.validators import validate_display_name, validate_display_text

REFUSED = [
    pytest.param("\x00", id="NUL"),
    pytest.param("\t", id="TAB"),
    pytest.param("\n", id="LF"),
    pytest.param("\r", id="CR"),
    pytest.param("\x1b", id="ESC"),
    pytest.param("\x7f", id="DEL"),
    pytest.param("\x85", id="NEL (C1)"),
    pytest.param("\x9b", id="CSI (C1)"),
    pytest.param("\u2028", id="line separator"),
    pytest.param("\u2029", id="paragraph separator"),
    *(pytest.param(chr(code), id=f"U+{code:04X}") for code in range(0x202A, 0x202F)),
    *(pytest.param(chr(code), id=f"U+{code:04X}") for code in range(0x2066, 0x206A)),
    pytest.param("\u200e", id="LRM"),
    pytest.param("\u200f", id="RLM"),
    pytest.param("\u061c", id="ALM"),
    pytest.param("\u200b", id="zero-width space"),
    pytest.param("\u2060", id="word joiner"),
    pytest.param("\ufeff", id="byte order mark"),
    pytest.param("\u00ad", id="soft hyphen"),
    pytest.param("\U000e0041", id="tag character"),
]
TEXT_KEEPS = ("\t", "\n", "\r")


@pytest.mark.parametrize("character", REFUSED)
def test_a_name_refuses_control_and_bidirectional_characters(character):
    with pytest.raises(ValidationError) as refused:
        validate_display_name(f"Deploy{character}prod")

    assert refused.value.code == "unsafe_character"
    assert f"found U+{ord(character):04X}" in refused.value.messages[0]


@pytest.mark.parametrize("character", REFUSED)
def test_a_text_refuses_them_except_line_breaks_and_tabs(character):
    value = f"Deploy{character}prod"
    if character in TEXT_KEEPS:
        validate_display_text(value)
        return
    with pytest.raises(ValidationError):
        validate_display_text(value)


@pytest.mark.parametrize(
    "value",
    [
        "GitHub Actions",
        "部署 / déploiement",
        "נשלח מ-main",
        "🚀 release",
        "👩\u200d💻 zero-width joiner",
        "\u0930\u094d\u200c\u0915 zero-width non-joiner",
    ],
)
def test_ordinary_text_in_any_script_is_fine(value):
    validate_display_name(value)
    validate_display_text(value)
