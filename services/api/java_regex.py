"""Java regexes, as AWS models write their ``pattern`` constraints, compiled with Java's meaning.

AWS checks a model's patterns with ``java.util.regex`` (``Matcher.matches()``).
The third-party ``regex`` module reads most of Java's dialect as it is:
Unicode categories (``\\p{L}``, ``\\pL``, ``\\P{Lu}``, also inside classes),
possessive quantifiers, atomic groups, lookbehinds of varying length,
quantified anchors such as ``${1,128}``, a leading ``]`` in a class, ``\\z``,
``\\R`` and ``\\N{..}``. The translation here rewrites only what ``regex``
reads differently, and refuses what neither can say with Java's meaning, so
that such a pattern is skipped rather than misapplied.
"""

from __future__ import annotations

import regex

# Java's POSIX classes are ASCII-only by default. regex's namesakes are
# Unicode, and even under regex.ASCII its Punct lacks $+<=>^`|~ and its
# Lower and Upper turn Unicode under (?i), so they are spelled out.
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0B\\f\\r",
}
# A general category, with Java's optional "Is" that regex does not accept.
_CATEGORY = regex.compile(r"(?:Is)?([LMNPSZC][a-z]?)")
# Java's '.' stops at every line terminator, regex's only at '\n'.
_JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"
# Java's '$' and \Z: the end, or before a final line terminator of any kind
# (never between its '\r' and '\n'); regex's allow only a final '\n'.
_JAVA_END = "(?:(?=(?:\\r\\n|[\\n\\r\\u0085\\u2028\\u2029])?\\z)(?!(?<=\\r)\\n))"
# Escapes regex reads otherwise (\v is only \x0B there, \h misses \xA0 and
# more), as character-class bodies.
_JAVA_CLASSES = {
    "v": "\\n\\x0B\\f\\r\\x85\\u2028\\u2029",
    "h": " \\t\\xA0\\u1680\\u180E\\u2000-\\u200A\\u202F\\u205F\\u3000",
}
# regex compiles these, but not with Java's meaning (\X splits "\r\n").
_UNLIKE_JAVA = ("\\X", "\\b{")

# One token of a Java pattern; the last group that matched names its kind.
_TOKEN = regex.compile(
    r"""
      \\Q (?P<quoted> .*? ) (?: \\E | \Z )
    | \\ (?P<prop> [pP] ) (?: \{ (?P<name> [^}]* ) \} | (?P<letter> . ) )
    | \\u (?P<high> [dD][89abAB][0-9a-fA-F]{2} ) \\u (?P<low> [dD][c-fC-F][0-9a-fA-F]{2} )
    | \\x\{ (?P<hex> [0-9a-fA-F]+ ) \}
    | \\0 (?P<octal> [0-3][0-7]{2} | [0-7]{1,2} )
    | \\ (?P<escape> . )
    | (?P<open> \[ \^? \]? )
    | \( \? (?P<flags> [a-zA-Z-]+ ) [:)]
    | (?P<char> . )
    """,
    regex.VERBOSE | regex.DOTALL | regex.V0,
)


def compile_java(pattern: str) -> regex.Pattern[str]:
    """A Java regex of an AWS model, compiled with Java's meaning; ``ValueError`` or ``regex.error``
    when it cannot be (the caller does not enforce it then)."""
    # Java's \d, \w, \s, \b and (?i) are ASCII-only, as under regex.ASCII; the
    # translation scopes Unicode properties back to Unicode. V0 is named because
    # another library may change regex's default version.
    return regex.compile(java_to_regex(pattern), regex.ASCII | regex.V0)


def java_to_regex(pattern: str) -> str:
    """Rewrite a Java regex of an AWS model into ``regex`` syntax.

    Handles Java's ASCII POSIX classes, Unicode categories (``\\p{L}``,
    ``\\p{IsL}``, ``\\P{Lu}``), surrogate-pair ``\\uD800\\uDC00`` escapes,
    ``\\x{..}``, octal ``\\0..``, ``\\Q..\\E``, ``\\v``, ``\\h``, and the line
    terminators of ``.``, ``$`` and ``\\Z``. Raises ``ValueError`` for
    constructs it cannot render with Java's meaning.
    """
    return _JavaTranslation(pattern).run()


class _JavaTranslation:
    """One left-to-right pass over a Java pattern, writing ``regex`` syntax."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.out: list[str] = []
        self.class_start: int | None = None  # index in out of the open class's '['
        self.class_properties: list[str] = []  # Unicode properties of the open class
        self.dotall = False  # a leading (?s): '.' matches every character
        self.case_insensitive = False  # an inline i flag somewhere
        self.unicode = False  # a Unicode property somewhere

    def run(self) -> str:
        handlers = {
            "quoted": self._quoted,
            "name": self._property,
            "letter": self._property,
            "low": self._code_point,
            "hex": self._code_point,
            "octal": self._code_point,
            "escape": self._escape,
            "open": self._open_class,
            "flags": self._flags,
            "char": self._char,
        }
        for token in _TOKEN.finditer(self.pattern):
            handlers[token.lastgroup or "char"](token)
        if self.case_insensitive and self.unicode:
            # Under IGNORECASE regex loses the (?u:) scope of a property that
            # shares a class or an alternation, narrowing it to ASCII.
            raise ValueError("a Unicode property in a case-insensitive pattern")
        return "".join(self.out)

    @property
    def in_class(self) -> bool:
        return self.class_start is not None

    def _quoted(self, token: regex.Match[str]) -> None:
        self.out.append(regex.escape(token["quoted"]))

    def _property(self, token: regex.Match[str]) -> None:
        name = token[token.lastgroup or "name"]
        negated = token["prop"] == "P"
        if name in _POSIX:
            if negated and self.in_class:
                raise ValueError("negated POSIX class inside a character class")
            body = _POSIX[name]
            self.out.append(body if self.in_class else f"[{'^' if negated else ''}{body}]")
            return
        category = _CATEGORY.fullmatch(name)
        if category is None:
            raise ValueError(f"unsupported property \\p{{{name}}}")
        # regex.ASCII narrows \p{..} to ASCII; a (?u:) scope widens it back.
        prop = f"(?u:\\{token['prop']}{{{category[1]}}})"
        self.unicode = True
        if self.in_class:
            self.class_properties.append(prop)
        else:
            self.out.append(prop)

    def _code_point(self, token: regex.Match[str]) -> None:
        if token.lastgroup == "low":
            # Java patterns are UTF-16: a surrogate pair is one astral code point.
            high, low = int(token["high"], 16), int(token["low"], 16)
            point = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        elif token.lastgroup == "hex":
            point = int(token["hex"], 16)
        else:
            # Java's \0 takes up to three octal digits, regex's only two more.
            point = int(token["octal"], 8)
        if point > 0x10FFFF:
            raise ValueError(f"code point {point:#x} is out of range")
        self.out.append(f"\\U{point:08X}")

    def _escape(self, token: regex.Match[str]) -> None:
        letter = token["escape"]
        if letter in _JAVA_CLASSES:
            body = _JAVA_CLASSES[letter]
            self.out.append(body if self.in_class else f"[{body}]")
        elif letter == "Z" and not self.in_class:
            self.out.append(_JAVA_END)
        elif self.pattern.startswith(_UNLIKE_JAVA, token.start()):
            raise ValueError(f"unsupported escape {token.group()}")
        else:
            self.out.append(token.group())

    def _open_class(self, token: regex.Match[str]) -> None:
        if self.in_class:
            raise ValueError("nested character classes are not supported")
        self.class_start, self.class_properties = len(self.out), []
        self.out.append(token.group())  # a leading ']' is a literal in both dialects

    def _close_class(self) -> None:
        start, self.class_start = self.class_start, None
        if not self.class_properties:
            self.out.append("]")
            return
        # A (?u:) scope around a whole class would also widen its \d, \w and
        # \s, and regex drops it under (?i); so a class with Unicode
        # properties becomes alternatives: each property, then the rest.
        assert start is not None
        opening, rest = self.out[start], "".join(self.out[start + 1 :])
        negated = opening.startswith("[^")
        leading = opening.removeprefix("[^" if negated else "[")  # a literal ']'
        if not leading and rest.startswith("^"):
            rest = "\\" + rest  # no longer first, so no longer a negation
        choices = self.class_properties + ([f"[{leading}{rest}]"] if leading or rest else [])
        either = "|".join(choices)
        # A negated class takes any one character that none of them matches.
        self.out[start:] = [f"(?:(?!{either})(?s:.))" if negated else f"(?:{either})"]

    def _flags(self, token: regex.Match[str]) -> None:
        if self.in_class:
            self.out.append(token.group())  # literal characters there
            return
        flags = token["flags"]
        # (?s) is followed only where it covers the whole pattern; m and x
        # would change what the rewritten '$' and classes mean, and d, u and
        # U have no regex counterpart.
        whole = token.start() == 0 and token.group().endswith(")") and "-" not in flags
        if set(flags) - set("is-") or ("s" in flags and not whole):
            raise ValueError(f"unsupported inline flags {token.group()}")
        self.dotall = self.dotall or "s" in flags
        self.case_insensitive = self.case_insensitive or "i" in flags
        self.out.append(token.group())

    def _char(self, token: regex.Match[str]) -> None:
        char = token.group()
        if self.in_class:
            if char == "]":
                self._close_class()
            elif char == "&" and self.pattern.startswith("&", token.end()):
                raise ValueError("character class intersection is not supported")
            else:
                self.out.append(char)
        elif char == ".":
            self.out.append("." if self.dotall else _JAVA_DOT)
        elif char == "$":
            self.out.append(_JAVA_END)
        else:
            self.out.append(char)
