"""The query of a ``builtin:sql`` trait: one read statement, period values only as bind parameters.

:func:`prepare` reads the query the way PostgreSQL does (strings ``'...'``/``E'...'``, quoted
identifiers, ``$tag$`` dollar quotes, ``--`` and nested ``/* */`` comments) and refuses, with the
reason, what is not one read statement:

* a first keyword other than ``SELECT``, ``WITH``, ``VALUES`` or ``TABLE``;
* a ``;`` followed by anything but blanks and comments (a second statement);
* a word that writes or takes locks outside strings and comments (``INSERT``, ``UPDATE``,
  ``DELETE``, ``MERGE``, ``INTO`` of ``SELECT ... INTO``, ``FOR UPDATE``, DDL, ``COPY``, ``CALL``,
  ``set_config`` ...). A column with such a name must be quoted (``"comment"`` is fine);
* a bind parameter other than ``:date``, ``:period``, ``:pipelineId``, ``:scheduleId``; ``$1``
  placeholders; ``${...}`` anywhere (nothing is ever pasted into the SQL text).

Limits: this is a conservative reading, not a SQL parser and not a sandbox. A function with side
effects called from a ``SELECT`` is not caught here; what stops writes is the read-only
transaction the evaluator runs every query in (and a read-only database role, which the README
recommends). The check exists so a mistake is a clear validation error instead of a failed
evaluation at 3 a.m.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The period's values a query may use, as ``:name`` bind parameters.
BIND_NAMES = ("date", "period", "pipelineId", "scheduleId")
READ_STARTS = ("select", "with", "values", "table")
# Words that write, lock, or change the session: refused outside strings, comments and quoted names.
WRITE_WORDS = frozenset({
    "insert", "update", "delete", "merge", "upsert", "create", "drop", "alter", "truncate", "grant", "revoke",
    "copy", "call", "into", "lock", "vacuum", "reindex", "cluster", "refresh", "notify", "listen", "execute",
    "prepare", "set_config", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "lo_import",
    "lo_export", "dblink_exec", "pg_advisory_lock", "pg_advisory_xact_lock",
})
# Longest query accepted, in characters.
MAX_QUERY_CHARS = 100_000

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_TEMPLATE = re.compile(r"\$\{[^}]*\}")


class QueryProblem(ValueError):
    """The query is not one read statement with known bind parameters; the message says why."""


@dataclass(frozen=True)
class Prepared:
    """``sql`` is ready for SQLAlchemy's ``text()``: binds as ``(:name)``, other colons escaped."""

    sql: str
    binds: tuple[str, ...]


def prepare(query: str) -> Prepared:
    """Check ``query`` and rewrite it for ``text()``; raises :class:`QueryProblem`."""
    if not isinstance(query, str) or not query.strip():
        raise QueryProblem("query must be a non-empty SQL SELECT statement")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryProblem(f"query is {len(query)} characters; at most {MAX_QUERY_CHARS} are accepted")
    template = _TEMPLATE.search(query)
    if template:
        raise QueryProblem(f"{template.group(0)} in a query is never expanded: nothing is pasted into the SQL "
                           f"text; use bind parameters ({_names()})")
    out: list[str] = []
    binds: list[str] = []
    words: list[str] = []
    end = len(query)
    i = 0
    while i < end:
        ch = query[i]
        nxt = query[i + 1] if i + 1 < end else ""
        if ch == "'" or (ch in "eE" and nxt == "'" and not _in_word(query, i)):
            stop = _string_end(query, i + (1 if ch == "'" else 2), backslashes=ch != "'")
            out.append(_escape_colons(query[i:stop]))
            i = stop
        elif ch == '"':
            stop = _quoted_end(query, i + 1, '"', "quoted name")
            out.append(_escape_colons(query[i:stop]))
            i = stop
        elif ch == "-" and nxt == "-":
            stop = query.find("\n", i)
            stop = end if stop < 0 else stop
            out.append(_escape_colons(query[i:stop]))
            i = stop
        elif ch == "/" and nxt == "*":
            stop = _comment_end(query, i)
            out.append(_escape_colons(query[i:stop]))
            i = stop
        elif ch == "$" and (tag := _DOLLAR_TAG.match(query, i)) and not _in_word(query, i):
            close = query.find(tag.group(0), tag.end())
            if close < 0:
                raise QueryProblem(f"dollar-quoted string {tag.group(0)} is not closed")
            stop = close + len(tag.group(0))
            out.append(_escape_colons(query[i:stop]))
            i = stop
        elif ch == "$" and nxt.isdigit() and not _in_word(query, i):
            raise QueryProblem(f"positional parameter ${nxt}... is not supported; use bind parameters ({_names()})")
        elif ch == ";":
            if _rest_is_blank(query, i + 1):
                break
            raise QueryProblem("query must be a single statement: nothing may follow a ';'")
        elif ch == ":" and nxt == ":":
            out.append("::")
            i += 2
        elif ch == ":" and (name := _WORD.match(query, i + 1)) and not _in_word(query, i):
            if name.group(0) not in BIND_NAMES:
                raise QueryProblem(f"unknown bind parameter :{name.group(0)}; the period's values are {_names()}")
            binds.append(name.group(0))
            out.append(f"(:{name.group(0)})")
            i = name.end()
        elif (word := _WORD.match(query, i)) and not _in_word(query, i):
            words.append(word.group(0).lower())
            out.append(word.group(0))
            i = word.end()
        else:
            out.append(ch)
            i += 1
    _check_words(words)
    return Prepared("".join(out).strip(), tuple(dict.fromkeys(binds)))


def _check_words(words: list[str]) -> None:
    if not words:
        raise QueryProblem("query has no statement (only comments or blanks)")
    if words[0] not in READ_STARTS:
        raise QueryProblem(f"query must be a read statement starting with SELECT, WITH, VALUES or TABLE; "
                           f"it starts with {words[0].upper()}")
    for word in words:
        if word in WRITE_WORDS:
            raise QueryProblem(f"query must only read: {word.upper()} is not allowed (quote a column of that "
                               f'name: "{word}")')


def _names() -> str:
    return ", ".join(f":{n}" for n in BIND_NAMES)


def _in_word(text: str, i: int) -> bool:
    """Whether position ``i`` continues a word (``e'`` in ``some'``, ``:`` in ``a:b``, ``$`` in ``a$b``)."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_$\\")


def _string_end(text: str, i: int, *, backslashes: bool) -> int:
    end = len(text)
    while i < end:
        if backslashes and text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            if i + 1 < end and text[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    raise QueryProblem("string literal is not closed (a ' is missing)")


def _quoted_end(text: str, i: int, quote: str, what: str) -> int:
    end = len(text)
    while i < end:
        if text[i] == quote:
            if i + 1 < end and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise QueryProblem(f"{what} is not closed (a {quote} is missing)")


def _comment_end(text: str, i: int) -> int:
    depth, end = 0, len(text)
    while i < end:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise QueryProblem("comment is not closed (a */ is missing)")


def _rest_is_blank(text: str, i: int) -> bool:
    """Whether only blanks and comments follow position ``i``."""
    end = len(text)
    while i < end:
        if text[i].isspace():
            i += 1
        elif text.startswith("--", i):
            stop = text.find("\n", i)
            i = end if stop < 0 else stop
        elif text.startswith("/*", i):
            i = _comment_end(text, i)
        else:
            return False
    return True


def _escape_colons(segment: str) -> str:
    """A string or comment as ``text()`` must see it: every ``:`` escaped, so none is taken for a bind."""
    return segment.replace(":", "\\:")
