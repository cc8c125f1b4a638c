"""Output as a folder of shards: one JSONL file per writer, for runs across a cluster.

With ``llmx run --engine ray --shards --out FOLDER`` each Ray actor appends its results
to its own file ``FOLDER/part-<start time>-<id>.jsonl`` (the same lines, written by the
same :class:`~llmx._writer.ResultWriter`, as a single output file) instead of sending them
to the driver to write: on shared storage the writing spreads over the nodes. Beside
each shard its writer keeps that shard's error report (``part-....errors.jsonl``).

A shard folder is read in the order its writers started (the names sort that way):
as in one file, the **last** line of a doc_id decides. After an actor was killed, the
documents it had written but not reported are written again by the actor that takes
its batches over, so a doc_id can appear in two shards; both lines say the same (the
second one from the cache), and every reader here keeps one.

* :func:`scan_shards` - what a resume skips (the run does this itself);
* :func:`iter_shard_lines` - every line, in order;
* :func:`merge_shards` - one compacted JSONL file and its error report
  (``llmx shards merge FOLDER --out FILE``), which every other llmx command reads.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from llmx._errors import InputError
from llmx._outfile import finalize_output, repair_tail
from llmx._resume import read_output

__all__ = [
    "SHARD_GLOB",
    "iter_shard_lines",
    "merge_shards",
    "new_shard_path",
    "scan_shards",
    "shard_files",
]

#: the shard files of a folder
SHARD_GLOB = "part-*.jsonl"
#: beside each shard, its writer's error report (the failed documents of that shard)
_ERRORS = ".errors.jsonl"


def new_shard_path(folder: str | os.PathLike[str]) -> Path:
    """A new shard's path in ``folder``: named by start time, so names sort by it."""
    return Path(folder) / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"


def shard_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The shards of ``folder`` in the order their writers started ([] when none)."""
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(p for p in path.glob(SHARD_GLOB) if p.is_file() and not p.name.endswith(_ERRORS))


def scan_shards(folder: str | os.PathLike[str], *, retry_failed: bool = False) -> set[str]:
    """doc_ids a resume skips: as in one output file, over every shard in order.

    Repairs each shard's torn last line (a writer killed mid-line).
    """
    ok: set[str] = set()
    failed: set[str] = set()
    for shard in shard_files(folder):
        scan = read_output(shard)
        ok = (ok - scan.failed) | scan.ok
        failed = (failed - scan.ok) | scan.failed
    return set(ok) if retry_failed else ok | failed


def iter_shard_lines(folder: str | os.PathLike[str]) -> Iterator[bytes]:
    """Every complete line of every shard, in order (a torn last line is repaired away)."""
    for shard in shard_files(folder):
        repair_tail(shard)
        with open(shard, "rb") as fh:
            for line in fh:
                if line.strip():
                    yield line if line.endswith(b"\n") else line + b"\n"


def merge_shards(folder: str | os.PathLike[str], out: str | os.PathLike[str]) -> tuple[int, int]:
    """Write the shards of ``folder`` as one output file ``out`` and its error report.

    One line per doc_id (the last one, as in a single output), like a finished run's
    output. Returns ``(documents, failed documents)``. Refuses to overwrite a shard.
    """
    shards = shard_files(folder)
    if not shards:
        raise InputError("no output shards in this folder", path=os.fspath(folder))
    target = Path(out)
    if target.resolve() in {s.resolve() for s in shards}:
        raise InputError("the merged output cannot be one of the shards", path=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.merging-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            for line in iter_shard_lines(folder):
                fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    report = finalize_output(target)
    return report.totals.documents, report.failed_documents
