"""QA sessions: recorded turns with their feedback, kept in a database, exported to files
and replayed against another model.

    records.py    the typed values: a session, its turns, their feedback and media
    codec.py      the one dict shape of the records, shared by the database and the exports
    schema.py     the database tables (SQLAlchemy Core); migrations/ moves old files to them
    store.py      the database: open (and migrate), write, query
    media.py      screenshots and recordings in and out of the store, by content hash
    recorder.py   the page's writer: records finished turns on a background thread
    export.py     JSONL, CSV and zip files, and importing them back
    replay.py     re-running a session on another model, and the diff of the answers
    episodes.py   multi-step episodes: a task's screenshots in order, each with its target
    evaluate.py   accuracy per variant: replays scored against the marked targets
    eval_report.py  an evaluation as eval.json, eval.md and eval.png
    episode_export.py  marked episodes as JSONL and sample_messages files for other tools
"""
