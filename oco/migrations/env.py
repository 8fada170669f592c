"""Alembic environment: runs migrations on the connection handed in by oco.migrations, or renders
PostgreSQL SQL offline for deploy/docker/init.sql."""

from __future__ import annotations

from alembic import context

if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        dialect_name="postgresql",
        literal_binds=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `oco db upgrade` (oco.migrations), which supplies a connection"
        )
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
