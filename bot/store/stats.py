"""What a published index holds and how it was built, for `citebot stats`: figures, no rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.errors import IndexMissingError
from bot.store.layout import query_model_folder
from bot.store.reading import read_info
from bot.store.schema import BuildRecord, current_build


@dataclass(frozen=True)
class IndexStats:
    build: Path
    articles: int
    passages: int
    sentences: int
    model: str
    dimension: int
    has_query_model: bool
    built_at: str
    bytes_on_disk: int


def index_stats(index_dir: Path) -> IndexStats:
    """Figures of the published build, read from its record alone (no vectors are loaded). Its size
    counts its folder (files shared with other builds in full) and the store it reads from."""
    build = current_build(index_dir)
    if build is None:
        raise IndexMissingError(f"There is no index in {index_dir} yet. Run `citebot index` to build it.")
    info = read_info(build)
    database = BuildRecord.read(build).database(build)
    store_files = [database, database.with_name(database.name + "-wal")]
    return IndexStats(
        build=build,
        articles=info.articles,
        passages=info.passages,
        sentences=info.sentences,
        model=info.model,
        dimension=info.dimension,
        has_query_model=query_model_folder(build).is_dir(),
        built_at=info.built_at,
        bytes_on_disk=folder_size(build) + sum(path.stat().st_size for path in store_files if path.is_file()),
    )


def folder_size(folder: Path) -> int:
    """Bytes of every file below ``folder`` (hard-linked files counted in full)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
