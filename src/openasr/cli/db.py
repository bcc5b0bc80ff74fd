"""`openasr db upgrade`: bring the task database to the schema of this release.

Any store opening the database upgrades it too (under a lock, so servers starting together do not race);
the command lets an operator do it once, before rolling out new API nodes or workers."""

from __future__ import annotations

from typing import Annotated

import typer

from openasr.jobs.database import sqlite_url
from openasr.jobs.store import TaskStore
from openasr.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The task database (SQLite by default, or OPENASR_DATABASE_URL).")


@app.command()
def upgrade(
    database_url: Annotated[
        str | None, typer.Option(help="Default: OPENASR_DATABASE_URL, else SQLite in the data directory.")
    ] = None,
) -> None:
    """Apply every schema migration the database lacks, and print its revision."""
    settings = Settings()
    store = TaskStore(database_url or settings.database_url or sqlite_url(settings.data_dir))
    try:
        print(f"{store.dialect} database at schema revision {store.schema_revision()} (head)")
    finally:
        store.close()
