"""The documents of a Ray run as a Ray Dataset, each with the resume's verdict.

Paths, folders, globs and ``.jsonl`` files are read by llmx's own reader
(:func:`llmx._inputs.iter_documents`) inside one Ray read task pinned to the driver's node,
where the paths were named; that one task also resolves each document against the
output (:meth:`llmx._resume.ResumeIndex.resolve`: ``run``, ``done`` or ``failed``, and a new
doc_id for different content under a taken one), in order, as one process would.
``.parquet`` files are read by Ray Data itself (``read_parquet``, on any node) and are
checked by doc_id in the actors instead. Rows are a pickled document, its doc_id and
the verdict, in blocks of ``docs_per_block`` documents.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from llmx._errors import ConfigError, InputError
from llmx._inputs import all_paths, iter_documents
from llmx._resume import ResumeIndex
from llmx._types import Document


def _block(docs: Sequence[Document], statuses: Sequence[str] | None = None) -> pa.Table:
    """Documents as rows; ``status`` is the resume's verdict: ``run`` (extract it),
    ``done`` (already in the output) or ``failed`` (failed before, not retried)."""
    return pa.table(
        {
            "doc_id": pa.array([doc.doc_id for doc in docs], pa.string()),
            "doc": pa.array([pickle.dumps(doc) for doc in docs], pa.binary()),
            "status": pa.array(statuses or ["run"] * len(docs), pa.string()),
        }
    )


class _DocumentsDatasource(Datasource):
    """llmx's own input reader as a datasource: one read task on the driver's node."""

    def __init__(
        self,
        read: Callable[[], Iterable[Document]],
        docs_per_block: int,
        resume: ResumeIndex | None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._read = read
        self._docs_per_block = docs_per_block
        self._resume = resume

    def get_name(self) -> str:
        return "LlmxInputs"

    @property
    def supports_distributed_reads(self) -> bool:
        return False  # the paths were named on the driver's machine

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        read, docs_per_block, resume = self._read, self._docs_per_block, self._resume

        def blocks() -> Iterator[pa.Table]:
            # one read task reads every document in order: the resume's verdicts (and
            # the new doc_id of different content under a taken one) are the same as
            # in one process
            chunk: list[Document] = []
            statuses: list[str] = []
            for doc in read():
                status = "run"
                if resume is not None:
                    doc, status = resume.resolve(doc)
                chunk.append(doc)
                statuses.append(status)
                if len(chunk) >= docs_per_block:
                    yield _block(chunk, statuses)
                    chunk, statuses = [], []
            if chunk:
                yield _block(chunk, statuses)

        meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
        return [ReadTask(blocks, meta)]


def _parquet_documents(table: pa.Table) -> pa.Table:
    """Rows of a Parquet file (``id``, ``text``, other columns: ``meta``) as documents."""
    return _block([_parquet_document(row) for row in table.to_pylist()])


def _parquet_document(row: dict[str, Any]) -> Document:
    path = str(row.pop("path", "") or "")
    raw_id = row.pop("id", None)
    text = row.pop("text", None)
    meta = {key: value for key, value in row.items() if value is not None}
    name = Path(path).name
    if not isinstance(text, str):
        doc_id = str(raw_id) if raw_id not in (None, "") else f"{name}:no-text"
        error = InputError("parquet row has no text column value", path=path, doc_id=doc_id)
        return Document(doc_id=doc_id, source=path, data="", meta=meta, error=error)
    if raw_id in (None, ""):
        # no row numbers in a distributed read: the text itself names the row
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return Document(doc_id=f"{name}:{digest}", source=path, data=text, meta=meta)
    return Document(doc_id=str(raw_id), source=path, data=text, meta=meta)


def check_inputs(inputs: Any) -> None:
    """What the one-process engine accepts and this one cannot, refused before Ray starts."""
    if all_paths(inputs) and "-" in [os.fspath(i) for i in inputs]:
        raise ConfigError("--engine ray cannot read stdin ('-'): save it to a file and pass that")


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(".parquet") and os.path.exists(path)


def documents_dataset(
    inputs: Any, docs_per_block: int, resume: ResumeIndex | None
) -> ray.data.Dataset:
    """The documents of ``inputs`` as a dataset of blocks of ``docs_per_block`` documents, each
    with the resume's verdict (Parquet rows, read in parallel, are checked by doc_id in
    the actors instead)."""
    parts: list[ray.data.Dataset] = []
    readers: list[Callable[[], Iterable[Document]]] = []
    if callable(inputs):
        readers.append(inputs)
    elif all_paths(inputs):
        paths = [os.fspath(i) for i in inputs]
        parquet = [p for p in paths if _is_parquet(p)]
        others = [p for p in paths if not _is_parquet(p)]
        if others:
            readers.append(functools.partial(iter_documents, others))
        if parquet:
            table = ray.data.read_parquet(parquet, include_paths=True)
            parts.append(table.map_batches(_parquet_documents, batch_format="pyarrow"))
    else:
        readers.append(functools.partial(iter, list(inputs)))
    for read in readers:
        parts.append(
            ray.data.read_datasource(
                _DocumentsDatasource(read, docs_per_block, resume),
                override_num_blocks=1,
                num_cpus=0.1,
            )
        )
    dataset = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
    return dataset.repartition(target_num_rows_per_block=docs_per_block)
