"""Writing many changed rows of a versioned model at once.

The ORM writes a row with a version counter (`version_id_col`) in an UPDATE of its own, to
check each row's count; with hundreds of cases changed in one batch that is hundreds of round
trips. `write_versioned` sends one executemany per set of changed columns instead, with the
same check: every row must still carry the version it was read with, or nothing is saved.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import attributes
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..readonly import note_write


def write_versioned(objects: Iterable[object]) -> int:
    """UPDATE the changed persistent objects now, as one statement per column set.

    Returns the number of rows written. Afterwards the objects hold their new values and
    version as committed state, so the next flush has nothing left to write for them.
    """
    groups: dict[tuple, list[tuple[object, dict]]] = {}
    mapper = None
    columns: set[str] = set()
    for obj in objects:
        state = sa.inspect(obj)
        if not state.persistent or not state.modified:
            continue
        if state.mapper is not mapper:
            mapper = state.mapper
            columns = {attr.key for attr in mapper.column_attrs}
        changed = {}
        # committed_state holds exactly the attributes set since the load (their old values)
        for key in state.committed_state:
            if key in columns:
                added = state.manager[key].impl.get_history(state, state.dict).added
                if added:
                    changed[key] = added[0]
        if changed:
            groups.setdefault(tuple(sorted(changed)), []).append((obj, changed))
    if not groups:
        return 0
    table = mapper.local_table
    version_key = mapper.get_property_by_column(mapper.version_id_col).key
    pk = mapper.primary_key[0]
    written = 0
    for keys, rows in groups.items():
        stmt = (sa.update(table)
                .where(pk == sa.bindparam("_pk"),
                       mapper.version_id_col == sa.bindparam("_version"))
                .values({**{mapper.get_property(k).columns[0].name: sa.bindparam(k)
                            for k in keys},
                         mapper.version_id_col.name: sa.bindparam("_next")}))
        params = []
        for obj, changed in rows:
            version = getattr(obj, version_key)
            params.append({**changed, "_pk": sa.inspect(obj).identity[0], "_version": version,
                           "_next": version + 1})
        count = db.session.connection().execute(stmt, params).rowcount
        if count != len(params):
            raise StaleDataError(f"{table.name}: {len(params) - count} of {len(params)} rows "
                                 "were changed by someone else meanwhile")
        for obj, changed in rows:
            for key, value in changed.items():
                attributes.set_committed_value(obj, key, value)
            attributes.set_committed_value(obj, version_key, getattr(obj, version_key) + 1)
            state = sa.inspect(obj)
            if not state.committed_state:  # nothing else changed: no longer dirty, so the
                # next flush need not look at it (what the unit of work does after a flush)
                state._commit_all(state.dict, db.session.identity_map)
        written += len(params)
    return written


def member(column, values) -> sa.ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(:array)`, one parameter however many
    values (a statement with thousands of placeholders costs the driver more than the query)."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def insert_rows(table: sa.Table, rows: list[dict]) -> None:
    """INSERT many rows that name the same columns, without RETURNING: on PostgreSQL by COPY
    (a third of the client time of an executemany, which sends a message per row), elsewhere
    by executemany. Values pass the columns' own bind processing (aware UTC times, JSON), as
    in an INSERT; a column the rows leave out gets its server default, not a Python one."""
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    keys = list(rows[0])
    columns = [table.c[key] for key in keys]
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect)
                  for column in columns]
    quote = dialect.identifier_preparer.quote
    statement = (f"COPY {dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(column.name) for column in columns)}) FROM STDIN")
    note_write(connection)  # COPY bypasses the engine's events
    cursor = connection.connection.driver_connection.cursor()
    with cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([value if process is None or value is None else process(value)
                            for value, process in zip(map(row.__getitem__, keys), processors,
                                                      strict=True)])
