"""Record layouts: which field stands in which position of a flow-log line.

A layout comes from, in order: the header line of an S3 text object, the ``--format`` option
(AWS ``LogFormat`` syntax, ``${field}`` tokens in any order), or the default v2 format. It is
never guessed from the number of tokens in a line: two formats with the same number of fields in
another order must parse differently (``shared/docs/vpc-flow-logs.md`` section 3).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from flowscope.errors import UsageError
from flowscope.schema import BY_NAME, DEFAULT_FORMAT_FIELDS, Field


class HeaderError(ValueError):
    """A header line that names a layout no record can have (a field named twice); the
    pipeline refuses the input that carries it."""


_TOKEN = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Layout:
    """The ordered field names of a record; ``unknown`` names (from a header) are skipped."""

    names: tuple[str, ...]
    origin: str = "default"
    unknown: tuple[str, ...] = field(default=())

    @property
    def fields(self) -> list[Field | None]:
        return [BY_NAME.get(n) for n in self.names]

    @property
    def width(self) -> int:
        return len(self.names)

    @property
    def log_format(self) -> str:
        return " ".join(f"${{{n}}}" for n in self.names)

    def describe(self) -> str:
        if self.origin == "default":
            return "default format (v2)"
        return f"{self.origin}: {self.log_format}"


DEFAULT_LAYOUT = Layout(DEFAULT_FORMAT_FIELDS, "default")


def suggest(name: str, choices: list[str] | None = None) -> str | None:
    match = difflib.get_close_matches(name, choices or list(BY_NAME), n=1, cutoff=0.6)
    return match[0] if match else None


def parse_log_format(text: str) -> Layout:
    """Parse an AWS ``LogFormat`` string: ``${version} ${srcaddr} ...``.

    Every token must be a ``${field}`` of a known field; repeated fields and stray text are
    errors, since AWS itself would refuse them.
    """
    stripped = text.strip()
    if not stripped:
        raise UsageError("--format is empty", hint="expected tokens like '${srcaddr} ${dstaddr}'")
    names: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(stripped):
        between = stripped[pos : m.start()]
        if between.strip():
            raise UsageError(
                f"--format: unexpected text {between.strip()!r} at column {pos + 1}",
                hint="expected only ${field} tokens separated by spaces",
            )
        name = m.group(1).strip()
        if name not in BY_NAME:
            guess = suggest(name)
            hint = f"did you mean ${{{guess}}}?" if guess else "see `flowscope fields`"
            raise UsageError(f"--format: unknown field ${{{name}}}", hint=hint)
        if name in names:
            raise UsageError(f"--format: field ${{{name}}} appears twice")
        names.append(name)
        pos = m.end()
    rest = stripped[pos:]
    if rest.strip():
        raise UsageError(
            f"--format: unexpected text {rest.strip()!r} at column {pos + 1}",
            hint="expected only ${field} tokens separated by spaces",
        )
    if not names:
        raise UsageError(
            f"--format: no ${{field}} tokens in {text!r}",
            hint="expected e.g. '${version} ${srcaddr} ${dstaddr}'",
        )
    return Layout(tuple(names), "--format")


def header_layout(line: str) -> Layout | None:
    """The layout named by an S3 header line, or None when the line is a record.

    A header is a line whose every token looks like a field name (lower case, hyphenated) and
    at least half of whose tokens are known field names. A record such as ``vpc-1 subnet-2``
    (a custom format of ids only) has no known names and is therefore not a header. A header
    naming a field twice raises :class:`HeaderError`: AWS never writes one, and which of the
    two columns holds the value cannot be known.
    """
    tokens = line.split()
    if not tokens or not all(_NAME.match(t) for t in tokens):
        return None
    known = [t for t in tokens if t in BY_NAME]
    if len(known) * 2 < len(tokens):
        return None
    twice = sorted({t for t in tokens if tokens.count(t) > 1})
    if twice:
        raise HeaderError(
            "header line names "
            + ", ".join(twice)
            + " twice: which column holds which value is unknown"
        )
    unknown = tuple(t for t in tokens if t not in BY_NAME)
    return Layout(tuple(tokens), "header line", unknown)
