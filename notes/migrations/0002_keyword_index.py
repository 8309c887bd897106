"""Keyword index of notes, built for the existing notes too.

PostgreSQL: a stored generated tsvector column (title weighted 'A', content
'B') with a GIN index. Generated rather than written by the service: the
database keeps it current on every write path (services, bulk_create, the
admin, a data migration), so no code path can leave a note unsearchable, and
the cost is the same computation a service would do (bench/search_quality.py
measures it against the table without the index). Adding the column computes it
for every existing row.

SQLite: an external-content FTS5 table (porter stemming, like PostgreSQL's
English configuration) kept current by triggers, filled by 'rebuild'.

The model does not declare either (Django has no portable field for them);
notes/search.py holds the queries.
"""

from django.db import migrations

PG_FORWARD = [
    """ALTER TABLE scribes_note ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(content, '')), 'B')) STORED""",
    "CREATE INDEX note_search_vector_idx ON scribes_note USING GIN (search_vector)",
]
PG_BACKWARD = ["ALTER TABLE scribes_note DROP COLUMN search_vector"]

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE notes_fts USING fts5(
        title, content, content='scribes_note', content_rowid='id', tokenize='porter unicode61')""",
    """CREATE TRIGGER notes_fts_insert AFTER INSERT ON scribes_note BEGIN
        INSERT INTO notes_fts(rowid, title, content) VALUES (new.id, new.title, new.content);
    END""",
    """CREATE TRIGGER notes_fts_delete AFTER DELETE ON scribes_note BEGIN
        INSERT INTO notes_fts(notes_fts, rowid, title, content) VALUES ('delete', old.id, old.title, old.content);
    END""",
    # Django's save() sets every column: only a real change of the text touches the index.
    """CREATE TRIGGER notes_fts_update AFTER UPDATE OF title, content ON scribes_note
    WHEN old.title IS NOT new.title OR old.content IS NOT new.content BEGIN
        INSERT INTO notes_fts(notes_fts, rowid, title, content) VALUES ('delete', old.id, old.title, old.content);
        INSERT INTO notes_fts(rowid, title, content) VALUES (new.id, new.title, new.content);
    END""",
    "INSERT INTO notes_fts(notes_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS notes_fts_insert",
    "DROP TRIGGER IF EXISTS notes_fts_delete",
    "DROP TRIGGER IF EXISTS notes_fts_update",
    "DROP TABLE IF EXISTS notes_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
