"""Model ``pattern`` constraints match what Java's ``Matcher.matches()`` accepts.

AWS checks these patterns with ``java.util.regex``; every expectation below is
Java's answer (JDK 19 or later, where ``\\b`` is ASCII like ``\\w``). Patterns
are checked through a one-member string shape, the way a request's values are.
"""

from __future__ import annotations

import logging

import pytest
from botocore.model import StringShape

from services.api.validation import find_violations


def accepts(pattern: str, value: str) -> bool:
    shape = StringShape("Value", {"type": "string", "pattern": pattern})
    return not find_violations(shape, value)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        # Java's POSIX classes are ASCII-only, even under (?i).
        (r"\p{Alpha}+", "abC", True),
        (r"\p{Alpha}+", "é", False),
        (r"\p{Lower}", "é", False),
        (r"(?i)\p{Lower}", "A", True),
        (r"(?i)\p{Lower}", "É", False),
        (r"\p{Punct}+", "$+<=>^`|~", True),
        (r"\p{Digit}", "٣", False),
        (r"\p{Space}", "\xa0", False),
        (r"arn:[\p{Alnum}\-]+", "arn:aws-cn", True),
        (r"arn:[\p{Alnum}\-]+", "arn:äws", False),
        # Unicode categories, with Java's optional "Is", negated, in and out of classes.
        (r"\p{L}+", "é数", True),
        (r"\p{IsL}+", "é数", True),
        (r"\pL", "é", True),
        (r"\p{Lu}", "É", True),
        (r"\p{Lu}", "é", False),
        (r"\P{L}", "1", True),
        (r"\P{L}", "é", False),
        (r"[\P{L}a]+", "1a", True),
        (r"[\P{L}a]", "é", False),
        (r"[^\p{L}]", "é", False),
        # \d, \w, \s and \b stay ASCII next to Unicode properties.
        (r"\d", "٣", False),
        (r"\w", "é", False),
        (r"\s", "\xa0", False),
        (r"a\bé", "aé", True),
        (r"[\p{L}\d]+", "é5", True),
        (r"[\p{L}\d]", "٣", False),
        (r"[\p{N}\S]+", "٣a\xa0", True),
        (r"[\p{N}\S]", " ", False),
        (r"[^\p{L}\s]+", "1\xa0", True),
        (r"[^\p{L}\s]", "é", False),
        (r"[^\p{L}\s]", " ", False),
        (r"[\p{L}^]+", "é^", True),
        # A surrogate pair written as two escapes is one astral code point.
        (r"\uD83D\uDE00", "\U0001f600", True),
        (r"[\uD800\uDC00-\uDBFF\uDFFF]", "\U00010000", True),
        (r"[\uD800\uDC00-\uDBFF\uDFFF]", "\U0010ffff", True),
        (r"[\uD800\uDC00-\uDBFF\uDFFF]", "\ud800", False),
        (r"\x{1F600}", "\U0001f600", True),
        (r"\0101", "A", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"[\Q.]\E]+", ".]", True),
        # '.' stops at every Java line terminator, unless (?s).
        (r".", "\x0b", True),
        (r".", "\U0001f600", True),
        (r".", "\r", False),
        (r".", "\x85", False),
        (r".", "\u2028", False),
        (r"(?s).", "\u2028", True),
        # \z is the very end; '$' and \Z allow a final line terminator of any kind.
        (r"a\z", "a", True),
        (r"a\z", "a\n", False),
        (r"a\Z\n", "a\n", True),
        (r"a\Z\r\n", "a\r\n", True),
        (r"a$\u2028", "a\u2028", True),
        (r"a\r$\n", "a\r\n", False),
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)${1,128}", "équipe ml", True),
        (r"^{1,3}a", "a", True),
        # A leading ']' is a literal.
        (r"[]a]+", "]a", True),
        (r"[^]a]", "]", False),
        # Java's \v and \h are classes of vertical and horizontal whitespace.
        (r"\v", "\u2028", True),
        (r"\h", "\xa0", True),
        # Possessive quantifiers and atomic groups do not give back.
        (r"a*+a", "aaa", False),
        (r"(?>a*)b", "aab", True),
    ],
)
def test_patterns_match_as_in_java(pattern: str, value: str, expected: bool) -> None:
    assert accepts(pattern, value) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        r"[a-z&&[^b]]",  # class intersection
        r"[a[b]]",  # nested class
        r"\p{IsLatin}",  # a script, not a category
        r"(?m)x$",  # multiline '$' at every Java line terminator
        r"a(?s).",  # DOTALL for part of the pattern
        r"(?i)[\p{L}x]",  # regex narrows \p{L} to ASCII here under (?i)
        r"\p{LD}",  # Java's letter-or-digit, not a general category
        r"\X",  # regex splits "\r\n" into two graphemes
    ],
)
def test_a_pattern_that_cannot_be_translated_is_logged_and_not_enforced(
    pattern: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.api.validation")
    assert accepts(pattern, "\U0001f600 anything")
    assert any(
        record.levelno == logging.WARNING and repr(pattern) in record.getMessage()
        for record in caplog.records
    )
