"""Hot statements as server-side prepared statements (PREPARE once, EXECUTE after).

psycopg2 sends every statement as text, so PostgreSQL parses and plans it
every time; for the short statements of one request (locate a point, look for
a duplicate, file a case) planning costs more than running (bench/prepared.py
measures both ways). `execute_prepared` PREPAREs a statement the first time a
pooled connection runs it and only EXECUTEs it afterwards.

How the statement is read: once per statement, by a scanner that knows
PostgreSQL's lexical rules (string literals with '' and E'' escapes, quoted
identifiers, dollar quoting, -- and nested /* */ comments, :: casts). Only a
`:name` outside all of those is a bind: it becomes `$n`, the same n for every
use of the name. A colon inside a literal or comment needs no escaping. (No
regular expression goes over the SQL: a pattern matches inside literals too,
and so does the bind pattern of SQLAlchemy's `text()`.)

Behind a pooler in transaction mode (PgBouncer `pool_mode = transaction`),
named prepared statements do not work: they belong to one server connection,
and the pooler hands each transaction whichever server connection is free. A
statement prepared in one transaction is then missing in the next ("prepared
statement cg_… does not exist"), or a fresh PREPARE meets one made by another
client ("already exists"); PgBouncer's own prepared-statement support covers
the protocol-level kind, not SQL `PREPARE`. Set `CG_PREPARED_STATEMENTS=false`
there: `execute_prepared` then runs the statement plainly (planned every
time, otherwise the same). Session-mode pooling, or none, is fine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult

from gis.settings import get_settings

__all__ = ["execute_prepared", "prepared_form"]

_INFO_KEY = "cg_prepared"


def _end_of_quoted(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the literal or identifier opened by `quote` at i (doubled quotes inside)."""
    j, n = i + 1, len(sql)
    while j < n:
        if backslash and sql[j] == "\\":
            j += 2
        elif sql[j] == quote:
            if not sql.startswith(quote * 2, j):
                return j + 1
            j += 2
        else:
            j += 1
    return n


def _end_of_comment(sql: str, i: int) -> int:
    """Index just past the /* comment */ opened at i (they nest in PostgreSQL)."""
    depth, j, n = 1, i + 2, len(sql)
    while j < n and depth:
        if sql.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif sql.startswith("*/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return j


def _scan(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with each `:name` bind outside literals and comments as `$n`; the names."""
    out: list[str] = []
    names: list[str] = []
    i, n = 0, len(sql)

    def word(at: int) -> bool:
        return 0 <= at < n and (sql[at].isalnum() or sql[at] == "_")

    while i < n:
        c, j = sql[i], i + 1
        if c == "'":  # E'...' also takes backslash escapes
            escaped = sql[i - 1 : i] in ("e", "E") and not word(i - 2)
            j = _end_of_quoted(sql, i, "'", escaped)
        elif c == '"':
            j = _end_of_quoted(sql, i, '"', False)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            j = n if end < 0 else end
        elif sql.startswith("/*", i):
            j = _end_of_comment(sql, i)
        elif c == "$" and not word(i - 1):  # $$...$$ or $tag$...$tag$ (not $1)
            k = i + 1
            while word(k) and not sql[i + 1].isdigit():
                k += 1
            if k < n and sql[k] == "$":
                end = sql.find(sql[i : k + 1], k + 1)
                j = n if end < 0 else end + (k + 1 - i)
        elif c == ":" and sql.startswith("::", i):
            j = i + 2
        elif c == ":" and not word(i - 1) and word(i + 1) and not sql[i + 1].isdigit():
            while word(j):
                j += 1
            name = sql[i + 1 : j]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = j
            continue
        out.append(sql[i:j])
        i = j
    return "".join(out), tuple(names)


@lru_cache(maxsize=256)
def prepared_form(statement: sa.TextClause) -> tuple[str, str, tuple[str, ...]]:
    """(label, body with $n placeholders, bind names in $n order) of a statement.

    The label is a hash of the body, so the same statement gets the same
    name on every connection.
    """
    body, names = _scan(statement.text)
    label = "cg_" + hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:16]
    return label, body, names


def execute_prepared(
    conn: Connection, statement: sa.TextClause, params: Mapping[str, Any] | None = None
) -> CursorResult[Any]:
    """Run `statement` with `params` as a prepared statement of this connection.

    The first use on a pooled connection PREPAREs it (parameter types
    inferred by PostgreSQL from the statement); later uses only EXECUTE it,
    with the values adapted by psycopg2. A prepared statement outlives the
    transaction it was made in, and goes with its connection. With the
    setting `prepared_statements` off (see the module docs: poolers in
    transaction mode) the statement is executed plainly.
    """
    if not get_settings().prepared_statements:
        return conn.execute(statement, dict(params or {}))
    label, body, names = prepared_form(statement)
    info = conn.connection.info
    prepared: set[str] = info.setdefault(_INFO_KEY, set())
    if label not in prepared:
        with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(f"PREPARE {label} AS {body}")
        prepared.add(label)
    given = params or {}
    missing = [n for n in names if n not in given]
    if missing:
        raise sa.exc.ArgumentError(f"missing values for bind parameters: {', '.join(missing)}")
    values = tuple(given[n] for n in names)
    placeholders = ", ".join(["%s"] * len(values))
    call = f"EXECUTE {label}({placeholders})" if values else f"EXECUTE {label}"
    return conn.exec_driver_sql(call, values)
