"""Alembic's environment for the register.

bondledger runs migrations itself: `ledger.register.db.Register` opens a connection, takes a lock, and
hands the connection over in `config.attributes["connection"]`; the upgrade then runs inside
that connection's transaction and is committed (or rolled back) by the caller.

Developers write a new revision after changing ledger/register/models.py, from the repository root:

    alembic revision --autogenerate -m "what changed"     # against BONDLEDGER_DB / -x db=URL

(compare it against a register at head, e.g. a fresh SQLite file: `-x db=/tmp/empty.db` after
`alembic -x db=/tmp/empty.db upgrade head`), then review the generated script.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from ledger.register import models

config = context.config
if config.config_file_name is not None:  # the alembic command line (alembic.ini); not bondledger
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = SQLModel.metadata


def render_item(kind, obj, autogen_context):
    """Types as the scripts should spell them: the register's own TokenAmount by its import
    path; SQLModel's AutoString and UTCDateTime as the plain String and DateTime(timezone=True)
    they are (the same DDL on every dialect; scripts then do not depend on SQLModel's internals)."""
    if kind == "type":
        if isinstance(obj, models.TokenAmount):
            autogen_context.imports.add("import ledger.register.models")
            return "ledger.register.models.TokenAmount()"
        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
    return False


def _options(dialect_name: str) -> dict:
    return {
        "target_metadata": target_metadata,
        # SQLite alters a table by copying it: batch mode renders every ALTER that way.
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
        "compare_type": True,
    }


def _url() -> str:
    from ledger.register.db import resolve_url

    # a SQLite path or any URL, as bondledger's --db takes it
    return resolve_url(context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url"))


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: the DDL as a script, for a DBA to read or run."""
    url = _url()
    context.configure(
        url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(url.split(":", 1)[0].split("+")[0])
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # bondledger's own upgrade: the caller owns the transaction
        context.configure(connection=connection, **_options(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, **_options(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
