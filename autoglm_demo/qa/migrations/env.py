"""Alembic's entry point for the QA database's migrations.

The store runs `upgrade head` itself when it opens a database (`autoglm_demo.qa.store`),
inside a transaction it already holds, so this script only uses the connection it is given.
To write the next migration, let Alembic compare a database at head with `schema.py`:

    from alembic import command
    from autoglm_demo.qa.store import QaStore, alembic_config
    store = QaStore("sqlite:///dev-qa.sqlite3")  # created and migrated to head
    with store.engine.begin() as connection:
        command.revision(alembic_config(connection), message="what changes", autogenerate=True)

then read and edit the generated file in versions/: it must work on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from autoglm_demo.qa.schema import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    # SQLite alters tables by copying them; batch mode writes migrations that way.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
