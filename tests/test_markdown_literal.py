"""formats.markdown_literal: text from the data, escaped for Streamlit's markdown (issue 30, item 3).

The browser side (no request to a beacon, the text shown as typed) is
tests/ui/test_browser_data_text.py; here the escaping itself, and that
every page passes data-borne text through it.
"""

import re
from pathlib import Path

import pytest

from cranioscan.formats import markdown_literal

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text", [
    "![b](http://127.0.0.1:9/beacon.png) **BOLD** [link](http://127.0.0.1:9/x)",
    "<img src=x> `code` _it_ # head\n- item\n1. one | a | b | $x^2$ ~~s~~ \\ &amp;",
])
def test_every_markdown_character_is_escaped(text):
    escaped = markdown_literal(text)
    # Each ASCII punctuation character is preceded by exactly one backslash...
    assert re.fullmatch(r"(?:\\[!-/:-@\[-`{-~]|[^!-/:-@\[-`{-~])*", escaped, flags=re.S)
    # ... and removing them gives the text back (what CommonMark displays).
    assert re.sub(r"\\(.)", r"\1", escaped, flags=re.S) == text


def test_plain_words_and_non_ascii_are_unchanged():
    assert markdown_literal("CT Kopf nativ 5 mm") == "CT Kopf nativ 5 mm"
    assert markdown_literal("Schädel – axial") == "Schädel – axial"
    assert markdown_literal(ValueError("bad [x]")) == "bad \\[x\\]"


#: Streamlit calls that render their text argument as markdown.
_MARKDOWN_CALL = re.compile(r"\.(?:warning|error|info|success|caption|markdown|spinner|toast)\(")
#: Names whose values come from the data: DICOM tags, file names, PACS fields,
#: loader notes, or exceptions that quote them.
_DATA = re.compile(r"\{(?:exc|[a-z_]+\.label|config\.url|[a-z_.]*description)\}|"
                   r"\b(?:warning|error|success)\((?:note|str\(exc\)|exc|text)\b")


def test_pages_pass_data_text_through_the_escaper():
    unescaped = []
    files = sorted((REPO / "pages").glob("*.py")) + sorted((REPO / "cranioscan" / "ui").glob("*.py"))
    for path in files + [REPO / "app.py"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _MARKDOWN_CALL.search(line) and _DATA.search(line):
                unescaped.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert unescaped == []
