"""imagechat/models.py and the Alembic migrations describe the same schema.

The session database (tests/conftest.py `database_url`) is built by `alembic upgrade head` only. Two checks
against it:

1. Alembic's autogenerate comparison (what `alembic check` runs): fails with the operations a new
   migration would need, rendered as Python (`alembic revision --autogenerate` writes the same).
2. PostgreSQL's own definitions of every column, index and constraint, compared with a scratch database
   built by `SQLModel.metadata.create_all`. Autogenerate does not compare everything: it ignores an
   index's method (`USING gin` vs btree), for example. Expression indexes such as the GIN
   `to_tsvector('english', prompt)` index are compared here as PostgreSQL itself renders them (both sides
   normalised the same way, e.g. `'english'::regconfig`), so they are neither skipped nor reported falsely.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

import imagechat.models  # noqa: F401  (registers the tables on SQLModel.metadata)

ALEMBIC_OPTS = {"compare_type": True, "compare_server_default": True}

# Everything PostgreSQL knows about a table's shape, as PostgreSQL renders it (public schema only).
COLUMNS = """
    SELECT c.relname, a.attname,
           format_type(a.atttypid, a.atttypmod)
             || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
             || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
"""
INDEXES = """
    SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
"""
CONSTRAINTS = """
    SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
"""


def catalog(conn: Connection) -> dict[str, dict[tuple[str, str], str]]:
    """{"column"|"index"|"constraint": {(table, name): definition}}, without Alembic's own table."""
    out = {}
    for kind, sql in (("column", COLUMNS), ("index", INDEXES), ("constraint", CONSTRAINTS)):
        rows = conn.execute(text(sql)).all()
        out[kind] = {(table, name): definition for table, name, definition in rows if table != "alembic_version"}
    return out


def describe(diff) -> str:
    """One line per autogenerate difference, e.g. `add_column images.rating INTEGER`."""
    if isinstance(diff, list):  # modify_* entries come grouped per column
        return "; ".join(describe(d) for d in diff)
    op, *args = diff
    if any(isinstance(arg, sa.Table | sa.Column | sa.Index | sa.Constraint) for arg in args):
        args = [arg for arg in args if not isinstance(arg, str)]  # schema and table names: the object says
    parts = []
    for arg in args:
        if isinstance(arg, sa.Table):
            parts.append(arg.name)
        elif isinstance(arg, sa.Column):
            parts.append(f"{arg.table.name}.{arg.name} {arg.type}")
        elif isinstance(arg, sa.Index | sa.Constraint):
            parts.append(f"{type(arg).__name__} {arg.name or '(unnamed)'} on {arg.table.name}")
        elif arg is not None and not isinstance(arg, dict):
            parts.append(repr(arg))
    return f"{op} {' '.join(parts)}"


def catalog_differences(migrated: dict, models: dict) -> list[str]:
    lines = []
    for kind in migrated:
        for key in sorted(migrated[kind].keys() | models[kind].keys()):
            have, want = migrated[kind].get(key), models[kind].get(key)
            if have != want:
                lines.append(f"{kind} {key[0]}.{key[1]}:\n    migrations: {have}\n    models:     {want}")
    return lines


@pytest.fixture
def models_database(database_url) -> Iterator[str]:
    """A scratch database on the same server holding `SQLModel.metadata.create_all`, no migrations."""
    base = make_url(database_url)
    name = f"imagechat_models_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name)
    engine = create_engine(url)
    try:
        SQLModel.metadata.create_all(engine)
        yield url.render_as_string(hide_password=False)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_alembic_autogenerate_finds_nothing_to_migrate(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            context = MigrationContext.configure(conn, opts=ALEMBIC_OPTS)
            diffs = compare_metadata(context, SQLModel.metadata)
            code = render_python_code(produce_migrations(context, SQLModel.metadata).upgrade_ops) if diffs else ""
    finally:
        engine.dispose()
    # Autogenerate says so when it cannot compare something (e.g. "skipping unsupported reflection of
    # expression-based index"): that would be a blind spot, so it fails the check too.
    skipped = [str(w.message) for w in caught if "skip" in str(w.message).lower()]
    if diffs or skipped:
        pytest.fail(
            "imagechat/models.py and the Alembic head disagree: add a migration "
            "(.venv/bin/alembic revision --autogenerate -m '...') or fix the model.\n"
            + "".join(f"\n  {describe(d)}" for d in diffs)
            + "".join(f"\n  autogenerate skipped: {s}" for s in skipped)
            + (f"\n\nThe upgrade a new migration would need:\n{code}" if code else ""),
            pytrace=False,
        )


def test_postgres_definitions_match_create_all(database_url, models_database):
    migrated_engine, models_engine = create_engine(database_url), create_engine(models_database)
    try:
        with migrated_engine.connect() as migrated, models_engine.connect() as models:
            have, want = catalog(migrated), catalog(models)
    finally:
        migrated_engine.dispose()
        models_engine.dispose()
    assert want["column"] and want["index"] and want["constraint"], "the catalog queries found nothing"
    differences = catalog_differences(have, want)
    if differences:
        pytest.fail(
            "The database built by the migrations differs from SQLModel.metadata.create_all "
            "(imagechat/models.py):\n" + "\n".join(differences),
            pytrace=False,
        )
