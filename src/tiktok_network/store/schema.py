"""The crawl's tables described once, as they stand at the current schema version.

The DDL of each backend is its chain of migrations (``sqlite_db.py``, ``pg_db.py``): frozen as
they are, since every existing crawl recorded the versions it went through. This description
is what the rest derives from: ``db copy`` copies the tables and columns named here (in this
order, resuming by ``copy_key``), and ``tests/test_store_contract.py`` checks that a new
database of either backend has exactly these columns, so a column added to one backend's
migrations and not to the other's, or not here (and so not to ``db copy``), fails a test.

To add a column: a migration for each backend (``SCHEMA_VN`` in both, the version in
``migrations.py``), then the column here.

Why the DDL is not generated from this description (yet): every table today was made by the
frozen migrations, and a generated CREATE for new databases beside the migrations for old ones
would be two ways a table comes to be, each with its keys, indexes and triggers, checked only
against each other. The first table the description adds (issue 24's videos) is where a
generator of CREATE TABLE and ALTER TABLE ADD COLUMN for both dialects earns its place: built
then, with a real use, and checked by the same contract test.
"""

from __future__ import annotations

from dataclasses import dataclass

INT, REAL, TEXT, BLOB = "integer", "real", "text", "blob"  # SQLite's names; PostgreSQL: BIGINT,
# DOUBLE PRECISION, TEXT, BYTEA (ids are BIGSERIAL there)


@dataclass(frozen=True)
class Table:
    """One table: its columns (name, kind) in order, the key a copy walks it by (``()``: not
    copied: a database's own bookkeeping), and columns only one backend has."""

    name: str
    columns: tuple[tuple[str, str], ...]
    copy_key: tuple[str, ...] = ()
    only: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (backend, columns it alone has)
    serial: bool = False  # ``id`` is numbered by the database (a sequence, on PostgreSQL)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def columns_of(self, backend: str) -> tuple[str, ...]:
        """The columns this backend's migrations give the table."""
        return self.names + dict(self.only).get(backend, ())


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """``"id:integer started_at:real ..."``: the columns in order."""
    return tuple((name, kind) for name, kind in (part.split(":") for part in spec.split()))


TABLES: tuple[Table, ...] = (
    Table(
        "runs",
        _cols(
            "id:integer started_at:real ended_at:real tool_version:text api_base:text"
            " settings:text exit_status:integer"
        ),
        ("id",),
        serial=True,
    ),
    Table(
        "users",
        _cols(
            "id:integer username:text display_name:text depth:integer first_seen:real"
            " is_seed:integer state:integer status:integer attempts:integer last_error:text"
            " claimed_by:text claimed_at:real finished_at:real info:text info_at:real"
            " following_reported:integer followers_reported:integer last_seen:real"
            " first_run:integer last_run:integer refresh_due:real purged_at:real"
            " info_log_id:text"
        ),
        ("id",),
        serial=True,
    ),
    Table(
        "lists",
        _cols(
            "user_id:integer direction:text cursor:integer done:integer pages:integer"
            " items:integer note:text state:integer first_seen:real started_at:real"
            " ended_at:real run_id:integer refresh:integer"
        ),
        ("user_id", "direction"),
    ),
    Table(
        "pages",
        _cols(
            "id:integer run_id:integer user_id:integer direction:text request:text"
            " request_cursor:integer next_cursor:integer has_more:integer n_items:integer"
            " fetched_at:real log_id:text response:blob"
        ),
        ("id",),
        serial=True,
    ),
    Table(
        "edges",
        _cols(
            "src:integer dst:integer page_id:integer first_seen:real last_seen:real"
            " first_run:integer last_run:integer removed_at:real removed_run:integer"
        ),
        ("src", "dst"),
    ),
    Table(
        "edge_history",
        _cols(
            "src:integer dst:integer first_seen:real last_seen:real first_run:integer"
            " last_run:integer removed_at:real removed_run:integer"
        ),
        ("src", "dst", "removed_at"),
    ),
    Table(
        "audit",
        _cols("id:integer at:real run_id:integer tombstone:text reason:text removed:text"),
        ("id",),
        serial=True,
    ),
    Table("outputs", _cols("path:text kind:text options:text written_at:real"), ("path",)),
    Table("sample_steps", _cols("chain:integer step:integer user_id:integer"), ("chain", "step")),
    Table("purged_names", _cols("name_hash:text tombstone:text"), ("name_hash",)),
    Table(
        "quota",
        _cols("client:text day:integer bucket:text used:integer exhausted:integer"),
        ("client", "day", "bucket"),
        only=(("postgresql", ("server_message", "server_at")),),
    ),
    Table(
        "workers",
        _cols(
            "id:text host:text pid:integer run_id:integer started_at:real heartbeat_at:real"
            " ended_at:real exit_status:integer"
        ),
        ("id",),
    ),
    Table(
        "videos",
        _cols(
            "id:integer author_id:integer create_time:integer region_code:text hashtags:text"
            " description:text view_count:integer like_count:integer comment_count:integer"
            " share_count:integer first_seen:real last_seen:real first_run:integer"
            " last_run:integer log_id:text author:text mentions:text checked_at:real"
        ),
        ("id",),
    ),
    Table(
        "video_edges",
        _cols(
            "user_id:integer video_id:integer relation:text first_seen:real last_seen:real"
            " first_run:integer last_run:integer"
        ),
        ("user_id", "video_id", "relation"),
    ),
    Table(
        "video_units",
        _cols(
            "id:integer start_date:text end_date:text cursor:integer search_id:text"
            " done:integer pages:integer videos:integer restarts:integer attempts:integer"
            " last_error:text claimed_by:text claimed_at:real run_id:integer relation:text"
            " state:text"
        ),
        ("id",),
        serial=True,
    ),
    Table("video_unit_members", _cols("unit_id:integer user_id:integer"), ("unit_id", "user_id")),
    Table(
        "video_checks",
        _cols(
            "id:integer task_id:text video_ids:text created_at:real finished_at:real"
            " valid:integer removed:integer run_id:integer"
        ),
        ("id",),
        serial=True,
    ),
    # Each database's own: never copied.
    Table("meta", _cols("key:text value:text")),
    Table("schema_version", _cols("version:integer applied_at:real note:text")),
)

# Tables one backend alone has (PostgreSQL's shared rate limit), not part of a crawl's data.
BACKEND_TABLES = {"postgresql": {"rate_slots": ("client", "next_at")}}


def copied() -> tuple[Table, ...]:
    """The tables ``db copy`` copies, in the order it copies them."""
    return tuple(t for t in TABLES if t.copy_key)


def expected_columns(backend: str) -> dict[str, tuple[str, ...]]:
    """Every table of a new database of ``backend`` ("sqlite" or "postgresql"), with its
    columns in order."""
    found = {t.name: t.columns_of(backend) for t in TABLES}
    found.update(BACKEND_TABLES.get(backend, {}))
    return found
