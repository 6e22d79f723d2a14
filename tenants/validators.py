"""Field validators shared by every app (tenants is the bottom of the dependency chain, so
identity_server, machines and federation may all import them).

Names and descriptions that admins type are shown in the admin site, in the audit log and
its CSV export, and in other admins' terminals and log viewers. Two kinds of character
make such text lie about itself there:
- control characters (C0 such as CR, LF, TAB and NUL; DEL; C1): a line break forges a new
  line in a log or a CSV cell, NUL truncates in C libraries;
- Unicode bidirectional formatting characters (embeddings, overrides and isolates
  U+202A-U+202E and U+2066-U+2069, the marks U+200E, U+200F and U+061C): they reorder
  what is displayed after them, so "Deploy\\u202egnp.exe" reads as "Deployexe.png"
  (the "Trojan Source" attack, CVE-2021-42574);
- other invisible formatting characters (Unicode's category Cf: zero-width space, word
  joiner, byte order mark, tag characters…): "prod" and "pro\\u200bd" look the same to the
  admin who picks one. Zero-width joiner and non-joiner stay allowed: emoji and several
  scripts need them.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

BIDI_CONTROLS = frozenset(
    chr(code) for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
)
# Unicode's line and paragraph separators break a line as LF does.
LINE_SEPARATORS = frozenset({"\u2028", "\u2029"})
# Format characters that writing needs (emoji sequences, Indic and Arabic scripts).
JOINERS = frozenset({"\u200c", "\u200d"})
# What a multi-line text (a description typed in a textarea) may keep: browsers send its
# line breaks as CR LF.
TEXT_WHITESPACE = frozenset({"\t", "\n", "\r"})


# Unicode gives control characters no name (unicodedata.name fails); the common ones'.
_CONTROL_NAMES = {"\0": "NUL", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}


def _character_name(char: str) -> str:
    code = f"U+{ord(char):04X}"
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"{code} {name}" if name else code


@deconstructible
class DisplaySafeValidator:
    """Refuses control, bidirectional and other invisible formatting characters; `multiline`
    allows TAB, LF and CR (a description), never the others. The message names the first
    character refused, so the user can find an invisible one."""

    code = "unsafe_character"

    def __init__(self, *, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, value) -> None:
        for char in str(value):
            if self.multiline and char in TEXT_WHITESPACE:
                continue
            if char in BIDI_CONTROLS:
                kind = "Unicode bidirectional formatting characters"
            elif (category := unicodedata.category(char)) == "Cc" or char in LINE_SEPARATORS:
                kind = (
                    "control characters other than line breaks and tabs"
                    if self.multiline
                    else "control characters (line breaks, tabs, NUL and the like)"
                )
            elif category in ("Cf", "Cs") and char not in JOINERS:
                kind = "invisible formatting characters"
            else:
                continue
            raise ValidationError(
                "Must not contain %(kind)s; found %(character)s.",
                code=self.code,
                params={"kind": kind, "character": _character_name(char)},
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, DisplaySafeValidator) and self.multiline == other.multiline


validate_display_name = DisplaySafeValidator()
validate_display_text = DisplaySafeValidator(multiline=True)
