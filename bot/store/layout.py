"""Where an index keeps its files: the names the stages that write and read a build agree on.

index/CURRENT                 the name of the published build folder (replaced atomically)
index/.build-lock             held by the one build that writes the index at a time
index/store-<n>.sqlite        articles, passages, sentences, full text and build records of
                              every build since build <n>; each article row says which build
                              added it and which removed it, so one database serves them all
index/builds/<name>/          one build: build.json (its number, store and vector segments),
                              the segments (hard links to the files of earlier builds, plus
                              what this build added), and query-model/, the ONNX model that
                              embeds questions (written by ``bot.embed.onnx``)
index/builds/<name>/store.sqlite   the whole index of a build written before stores were shared
                              between builds; read only to reuse its vectors
"""

from __future__ import annotations

from pathlib import Path

CURRENT = "CURRENT"
BUILDS = "builds"
BUILD_FILE = "build.json"
LOCK = ".build-lock"
QUERY_MODEL = "query-model"
LEGACY_DATABASE = "store.sqlite"


def query_model_folder(build: Path) -> Path:
    """Where ``build`` keeps the ONNX model that embeds questions, when it has one."""
    return build / QUERY_MODEL
