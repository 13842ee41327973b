"""One export as a user asks for it: the formats, the moment (``--as-of``), pseudonyms, and a
record of the folder in the crawl, so that a purge can rewrite every output that named the
account (``tiktok-network refresh``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tiktok_network.export.csvs import export_csvs
from tiktok_network.export.graph_formats import export_graph_formats


@dataclass(frozen=True)
class ExportRequest:
    """What one export writes; stored with the output folder so it can be written again."""

    formats: tuple[str, ...] = ("csv",)
    as_of: float | None = None
    key_file: str | None = None  # pseudonymise with the HMAC key in this file
    force: bool = False  # GraphML/GEXF above the size Gephi opens
    share: str | None = None  # "ids": only what the terms let leave the lab (export/share.py)

    def options(self) -> dict[str, Any]:
        return {**asdict(self), "formats": list(self.formats)}

    @classmethod
    def of(cls, options: dict[str, Any]) -> ExportRequest:
        return cls(
            tuple(options.get("formats") or ("csv",)),
            options.get("as_of"),
            options.get("key_file"),
            bool(options.get("force")),
            options.get("share"),
        )


def purges_so_far(db: str | Path) -> int:
    from tiktok_network.store import open_reader

    with open_reader(db) as reader:
        return reader.purges()


def write_outputs(
    db: str | Path, out: str | Path, request: ExportRequest, *, record: bool = True
) -> dict[str, int]:
    """Write every requested format to ``out`` (files named as ``export`` names them); returns
    the count per file. With ``record``, the crawl remembers the folder and how it was made.

    An export that runs beside a refresh may read the crawl before a purge and write after
    it: once recorded, it counts the purges again and writes once more if there were new
    ones (a purge after that finds the folder recorded, and the refresh rewrites it)."""
    owner = folder_owner(db, request)
    seen = purges_so_far(db)
    while True:
        written = _write_once(db, out, request, owner, record=record)
        now = purges_so_far(db)
        if now == seen:
            return written
        seen = now


def _write_once(
    db: str | Path, out: str | Path, request: ExportRequest, owner: Any, *, record: bool
) -> dict[str, int]:
    from tiktok_network.export.folders import check_folder, write_manifest

    view: dict[str, Any] = {"as_of": request.as_of}
    if request.key_file is not None:
        from tiktok_network.pseudonyms import Pseudonymizer, load_key

        view["pseudonyms"] = Pseudonymizer(load_key(request.key_file))
    # Every format written into this folder before is written again: no file is left older
    # than the others (or naming an account a purge removed since).
    before = check_folder(out, owner)
    formats = tuple(dict.fromkeys([*request.formats, *before]))
    request = replace(request, formats=formats)
    written: dict[str, int] = {}
    if request.share:
        from tiktok_network.export.share import export_share

        written.update(export_share(db, out, **view))
    elif "csv" in request.formats:
        written.update({f"{k}.csv": v for k, v in export_csvs(db, out, **view).items()})
    others = [f for f in request.formats if f != "csv"]
    if others and not request.share:
        written.update(export_graph_formats(db, out, others, request.force, **view))
    write_manifest(out, owner, list(request.formats))
    _describe(db, out, request)
    if record:
        from tiktok_network.store import record_output

        record_output(db, str(Path(out).resolve()), "export", request.options())
    return written


def _describe(db: str | Path, out: str | Path, request: ExportRequest) -> None:
    """datapackage.json for the folder: every file's schema, the terms, the provenance, and
    how this export was made (the key file's path is the lab's business: left out)."""
    from tiktok_network.export.datapackage import write_datapackage
    from tiktok_network.store import crawl_label

    options = {k: v for k, v in request.options().items() if k != "key_file"}
    options["pseudonymised"] = request.key_file is not None
    what = "account ids and aggregates" if request.share else "follow network"
    write_datapackage(db, out, title=f"TikTok {what}: {crawl_label(db)}", extra={"export": options})


def check_destination(db: str | Path, out: str | Path, request: ExportRequest) -> None:
    """Before any work: the folder can be written, and holds no other crawl's outputs nor
    outputs of another kind (plain or pseudonymised)."""
    from tiktok_network.export.atomic import check_output_dir
    from tiktok_network.export.folders import check_folder

    check_output_dir(out)
    check_folder(out, folder_owner(db, request))


def folder_owner(db: str | Path, request: ExportRequest) -> Any:
    """Who an export into a folder writes as: the crawl, and the pseudonym key's fingerprint."""
    from tiktok_network.export.folders import FolderOwner, key_fingerprint
    from tiktok_network.store import crawl_identity, display_name

    keyed = None
    if request.key_file is not None:
        from tiktok_network.pseudonyms import load_key

        keyed = key_fingerprint(load_key(request.key_file))
    return FolderOwner(crawl_identity(db), display_name(db), keyed, bool(request.share))


def rewrite_recorded(
    db: str | Path, *, kinds: tuple[str, ...] | None = None, seen: set[str] | None = None
) -> list[tuple[str, str]]:
    """Write again every output folder recorded in the crawl that still exists, as it was
    written (after a purge, so no output keeps a purged account); returns (path, what
    happened) per folder."""
    from tiktok_network.store import open_reader

    with open_reader(db) as reader:
        recorded = reader.outputs()
    done: list[tuple[str, str]] = []
    seen = set() if seen is None else seen
    seen.add(_name(db))
    for path, kind, options in recorded:
        if kinds is not None and kind not in kinds:
            continue
        if kind == "copy" and path in seen:
            continue  # a copy's record of itself (copied from its source), or one done already
        if not _still_there(kind, path):
            done.append((path, "gone: skipped"))
            continue
        try:
            what = (
                _rewrite_copy(db, path, seen)
                if kind == "copy"
                else REWRITERS.get(kind, _rewrite_export)(db, path, options)
            )
        except (OSError, ValueError) as exc:
            what = f"not rewritten ({exc})"
        done.append((path, what))
    return done


def _still_there(kind: str, path: str) -> bool:
    """Whether a recorded output still exists (a copy on a server says so when reached)."""
    if kind == "copy" and "://" in path:
        return True
    return Path(path).is_file() if kind in ("diff", "copy") else Path(path).is_dir()


def _rewrite_export(db: str | Path, path: str, options: dict[str, Any]) -> str:
    write_outputs(db, path, ExportRequest.of(options), record=False)
    return "rewritten"


def _rewrite_report(db: str | Path, path: str, options: dict[str, Any]) -> str:
    """An ``analyze`` report, with the networks it was compared with that still exist, in
    memory or out of core as it was made."""
    from tiktok_network.analysis.niches import analyse_niches
    from tiktok_network.analysis.report import analyse, crawl_networks_as, file_network

    ooc = {
        "out_of_core": bool(options.get("out_of_core")),
        "memory_limit": str(options.get("memory_limit") or "4GB"),
    }  # made out of core (a graph beyond memory): written again the same way
    networks = crawl_networks_as(db, str(options.get("name") or "crawl"), **ooc)
    gone = []
    for other in options.get("compare") or []:
        if Path(other).is_file():
            networks.append(file_network(other, reference=True, **ooc))
        else:
            gone.append(other)
    seed = int(options.get("seed") or 0)
    niches = analyse_niches(db, Path(path), seed=seed)  # the niches name accounts too
    from tiktok_network.analysis.methods import methods_paragraph
    from tiktok_network.export.datapackage import provenance

    methods = methods_paragraph(provenance(db))
    analyse(networks, Path(path), seed=seed, niches=niches, methods=methods)
    return "rewritten" + (f" without {', '.join(gone)} (gone)" if gone else "")


def _rewrite_diff(db: str | Path, path: str, options: dict[str, Any]) -> str:
    from tiktok_network.export.history import write_diff
    from tiktok_network.store import open_reader

    with open_reader(db) as reader:
        write_diff(reader, float(options["since"]), float(options["until"]), Path(path))
    return "rewritten"


def _rewrite_copy(db: str | Path, path: str, seen: set[str]) -> str:
    """A ``db copy`` destination brought up to date (a copy that moved on is refused and
    said: the lab then purges it by hand)."""
    from tiktok_network.store import database_errors
    from tiktok_network.store.copy import copy_crawl
    from tiktok_network.store.errors import NotACrawlDatabase

    target = str(path)
    try:
        results = copy_crawl(str(db), target)
    except (NotACrawlDatabase, *database_errors()) as exc:
        return f"not brought up to date ({str(exc).splitlines()[0][:300]})"
    if not all(r.verified for r in results):
        return "brought up to date, but it does not match: run db copy again"
    # The copies made from that copy, in turn (each database records its own copies).
    chained = [
        f"{where}: {what}" for where, what in rewrite_recorded(target, kinds=("copy",), seen=seen)
    ]
    return "brought up to date" + (f" (and {'; '.join(chained)})" if chained else "")


def _name(db: str | Path) -> str:
    from tiktok_network.store.copy import copy_name

    return copy_name(str(db))


# How each kind of recorded output file or folder is written again after a purge (a copy is
# brought up to date by ``_rewrite_copy``, which follows the copies made from it).
REWRITERS = {"export": _rewrite_export, "analyze": _rewrite_report, "diff": _rewrite_diff}


def record_diff(db: str | Path, path: str | Path, since: float, until: float) -> None:
    """Remember a ``diff --out`` file so that a purge rewrites it."""
    from tiktok_network.store import record_output

    record_output(db, str(Path(path).resolve()), "diff", {"since": since, "until": until})
