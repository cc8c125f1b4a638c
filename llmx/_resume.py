"""Resuming: which input documents the output already has, and the doc_id of the others.

Before a run reads its inputs, :func:`read_output` reads the output file once (what it
needs of each doc_id's current line: ok or failed, content hash). A resumed run skips a
document only when its doc_id's current line has the same ``content_sha256``
(:class:`ResumeIndex`): a different document under a taken id gets the next free id and
is extracted, with a note saying so, so no output line is ever shadowed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple

from llmx._inputs import TAKEN_IN_THIS_RUN, duplicate_input, renamed, unique_id
from llmx._outfile import OutputScan, is_ok, scan_output
from llmx._types import Document

__all__ = ["ResumeIndex", "Status", "read_output"]

log = logging.getLogger(__name__)


class _ResumeLine(NamedTuple):
    """What a resume needs of a doc_id's current line."""

    ok: bool
    #: its ``content_sha256`` (``None``: a line written before content hashes were kept)
    sha256: str | None


def _resume_line(obj: dict[str, Any], position: int) -> _ResumeLine:
    digest = obj.get("content_sha256")
    return _ResumeLine(is_ok(obj), digest if isinstance(digest, str) else None)


def read_output(path: str | os.PathLike[str]) -> OutputScan[_ResumeLine]:
    """Read an output file once (streaming) for a resume, repairing a torn last line first.

    Corrupt lines in the middle (not produced by llmx) are counted, logged and
    ignored, so their documents are processed again. A missing file reads as empty.
    """
    scan = scan_output(path, _resume_line)
    if scan.corrupt_lines:
        log.warning("%s: ignored %d corrupt line(s)", os.fspath(path), scan.corrupt_lines)
    return scan


Status = Literal["run", "done", "failed"]


class ResumeIndex:
    """Which documents a run skips because the output already has them, and the doc_id
    each of the others is written under.

    A document is *done* only when the output's line of its doc_id has the same
    ``content_sha256``: a different document under a taken id (a second story piped
    through stdin, ``x/b/index.html`` after ``x/a/index.html``) gets the next free id
    (``stdin~2``, ``index~2``) and is extracted, with a note saying so. A line written
    before content hashes were kept matches on its doc_id alone. Ids are also kept
    unique within the run, whatever produced the documents.
    """

    def __init__(
        self, output: OutputScan[_ResumeLine] | None = None, *, retry_failed: bool = False
    ) -> None:
        self._output = output if output is not None else OutputScan(path=Path())
        self.retry_failed = retry_failed
        #: doc_id -> content hash of the documents of this run
        self._claimed: dict[str, str] = {}

    def done_ids(self) -> set[str]:
        """The doc_ids skipped on their id alone (for engines that only take a set)."""
        return self._output.done_ids(retry_failed=self.retry_failed)

    def _taken(self, doc_id: str, digest: str) -> bool:
        if doc_id in self._claimed:
            return True
        line = self._output.current.get(doc_id)
        return line is not None and line.sha256 is not None and line.sha256 != digest

    def resolve(self, doc: Document) -> tuple[Document, Status]:
        """``doc`` (renamed if its id is taken) and whether to ``run`` it or skip it as
        ``done`` (succeeded before) or ``failed`` (failed before; not retried)."""
        digest = doc.content_sha256
        claimed = self._claimed.get(doc.doc_id)
        if claimed is not None and claimed == digest and doc.error is None:
            new_id = unique_id(doc.doc_id, lambda i: self._taken(i, digest))
            self._claimed[new_id] = digest
            return duplicate_input(doc, new_id), "run"
        if self._taken(doc.doc_id, digest):
            new_id = unique_id(doc.doc_id, lambda i: self._taken(i, digest))
            why = (
                TAKEN_IN_THIS_RUN
                if doc.doc_id in self._claimed
                else "is taken in the output by a different document"
            )
            doc = renamed(doc, new_id, why)
        self._claimed[doc.doc_id] = digest
        line = self._output.current.get(doc.doc_id)
        if line is None:
            return doc, "run"
        if line.ok:
            return doc, "done"
        return doc, "run" if self.retry_failed else "failed"
