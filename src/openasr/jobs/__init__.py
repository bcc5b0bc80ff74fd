"""L3 durable async transcription: a task store, a result store and in-process workers.

`store.TaskStore` keeps tasks and per-chunk checkpoints (SQLite by default, PostgreSQL when configured);
`worker.TaskWorker` claims PENDING tasks, transcribes them checkpoint by checkpoint and resumes after a
crash; `results.ResultStore` writes result files served at signed, expiring URLs; `tasks.TaskQueue` is
what a router calls (submit, get, cancel, list). Nothing here imports the server, FastAPI or pydantic.
"""
