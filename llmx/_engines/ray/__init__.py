"""The Ray engine: many documents over a Ray cluster (``llmx run --engine ray``).

The data path::

    inputs -> Ray Dataset of documents -> map_batches(pool of extractor actors)
           -> driver: the same Tally (output file, counts, progress) as one process

* **Documents as a Ray Dataset.** Paths, folders, globs and ``.jsonl`` files are read by
  llmx's own reader (:func:`llmx._inputs.iter_documents`, so doc_ids, duplicate renaming and
  unreadable-input errors are exactly those of one process) inside one Ray read task
  pinned to the driver's node, where the paths were named; ``.parquet`` files are read
  by Ray Data itself (``read_parquet``, on any node; columns ``id``, ``text``, the rest
  going to ``meta``). A document travels pickled, with its doc_id beside it, in blocks
  of ``concurrency`` documents (a streaming repartition), so results flow back while
  reading goes on and a lost block costs little.
* **A pool of actors**, each holding one :class:`~llmx._extractor.Extractor` (its client,
  its cache handle, its event loop): ``map_batches`` with an async callable class on an
  ``ActorPoolStrategy`` of ``actors`` actors, each running several batches at once, and
  ``concurrency`` documents in flight per actor (a governor slot per document, as in one
  process: :func:`llmx._batch.process_one`).
* **One limiter for all.** rpm/tpm buckets and the 429 pause live in one small async
  actor (:class:`BudgetActor`, a :class:`~llmx._ratelimit.RateLimiter`); every extractor's
  limiter (:class:`SharedLimiter`) asks it before each request, so a 429 seen by one
  actor pauses them all, and each halves its own concurrency when it learns of it.
* **The driver writes.** Results come back (pickled :class:`~llmx._types.Result`) as Ray
  Data streams them; the driver records each with :class:`llmx._accounting.Tally` into the
  same :class:`~llmx._writer.ResultWriter` as one process: the same output lines, error
  report, summary, token and cost accounting. Resume uses the same scan (the skip set
  goes to every actor; a skipped document is counted, not extracted).
* **Faults.** Ray Data restarts a killed actor and retries the batches it held; their
  results never reached the driver, so each document is written once (answers the
  killed actor already had come from the cache when its node keeps one). A driver
  killed outright loses only documents not yet written: running the same command
  again resumes. Ctrl-C (or ``stop``) stops taking results, keeps the ones already
  back, and shuts the dataset down; a resume redoes the rest.

The modules, in the order the data meets them: :mod:`~llmx._engines.ray.inputs` (the
Ray Dataset of documents, resume verdicts included), :mod:`~llmx._engines.ray.extract`
(the actor that extracts), :mod:`~llmx._engines.ray.limiter` (the one rate limiter the
actors share), :mod:`~llmx._engines.ray.run` (the driver: cluster, pipeline, results).
Ray pickles the actor classes by reference: the workers import them from these modules.
"""

from __future__ import annotations

from llmx._errors import ConfigError

try:
    import pyarrow  # noqa: F401
    import ray.data  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a child process by the tests
    raise ConfigError(
        "the Ray engine needs Ray: pip install 'llmx[ray]'", missing=exc.name or "ray"
    ) from exc

from llmx._engines.ray.run import RayOptions, run_ray

__all__ = ["RayOptions", "run_ray"]
