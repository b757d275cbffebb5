"""Alembic's environment for the registry database: run on the connection parity passes.

:func:`parity.registry.migrations.upgrade_schema` opens a locked transaction and hands
its connection over in ``config.attributes``; nothing here opens a database or reads a
URL, and there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
schema = context.config.attributes.get("schema")
context.configure(
    connection=connection,
    version_table="parity_schema_version",
    version_table_schema=schema,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
