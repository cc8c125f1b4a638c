"""Running an eval: predict every fixture (or read ``llmx run`` output) and score it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

from pydantic import BaseModel

from llmx._errors import EvalError
from llmx._types import Result
from llmx.evals._fixtures import Fixture, check_gold
from llmx.evals._report import Report
from llmx.evals._results import DocumentScore
from llmx.evals._score import field_names, prediction_dict, record_lists, score_document
from llmx.evals._specs import ScoreConfig

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "requests")


@dataclass
class PredictionOutcome:
    """What predicting one fixture produced.

    ``record`` is the predicted record (model or dict); ``None`` with ``error``
    set marks a failed document, scored as an empty prediction.
    """

    record: BaseModel | dict[str, Any] | None = None
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cached: bool = False
    attempts: int = 0
    seconds: float = 0.0

    @classmethod
    def from_result(cls, result: Result[Any]) -> PredictionOutcome:
        """Wrap an extraction :class:`~llmx._types.Result`."""
        error = str(result.error) if result.error is not None else None
        if result.record is None and error is None:
            error = "no record"
        return cls(
            record=result.record,
            error=error,
            usage=result.usage.to_dict(),
            cached=result.cached,
            attempts=result.attempts,
            seconds=result.seconds,
        )


Predict = Callable[[Fixture], Awaitable[PredictionOutcome]]


def build_report(
    fixtures: Sequence[Fixture],
    schema: type[BaseModel],
    outcomes: dict[str, PredictionOutcome],
    *,
    config: ScoreConfig | None = None,
    model: str | None = None,
    prompt: str | None = None,
    prompt_version: str | None = None,
    info: dict[str, Any] | None = None,
) -> Report:
    """Score ``outcomes`` (by fixture ``doc_id``; a missing one counts as failed)."""
    config = config or ScoreConfig()
    documents: list[DocumentScore] = []
    usage: dict[str, int] = dict.fromkeys(USAGE_KEYS, 0)
    cached = 0
    for fixture in fixtures:
        outcome = outcomes.get(fixture.doc_id)
        if outcome is None:
            outcome = PredictionOutcome(error="no prediction for this fixture")
        error = outcome.error
        if error is None and outcome.record is None:
            error = "no record"
        doc = score_document(
            schema,
            fixture.gold,
            outcome.record if error is None else None,
            doc_id=fixture.doc_id,
            config=config,
            error=error,
        )
        doc.info = {
            "usage": dict(outcome.usage),
            "cached": outcome.cached,
            "attempts": outcome.attempts,
            "seconds": round(outcome.seconds, 3),
            # what was predicted, for the report's sources with evidence highlighted
            "predicted": prediction_dict(outcome.record) if error is None else None,
        }
        for key in USAGE_KEYS:
            value = outcome.usage.get(key, 0)
            usage[key] += value if isinstance(value, int) else 0
        cached += int(outcome.cached)
        documents.append(doc)
    return Report(
        schema=schema.__name__,
        documents=documents,
        model=model,
        prompt=prompt,
        prompt_version=prompt_version,
        config=config.to_dict(),
        record_lists=record_lists(schema),
        field_order=field_names(schema, config),
        usage=usage,
        info={"cached_documents": cached, **(info or {})},
    )


async def run_eval(
    fixtures: list[Fixture],
    schema: type[BaseModel],
    predict: Predict,
    *,
    concurrency: int = 1,
    config: ScoreConfig | None = None,
    model: str | None = None,
    prompt: str | None = None,
    prompt_version: str | None = None,
    check: bool = True,
) -> Report:
    """Predict every fixture with ``predict`` (at most ``concurrency`` at once) and score.

    An exception from ``predict`` marks that document failed (scored as an empty
    prediction) instead of aborting the eval. With ``check`` the gold records are
    validated against ``schema`` first (:func:`~llmx.evals._fixtures.check_gold`).
    """
    if concurrency < 1:
        raise EvalError("concurrency must be at least 1", concurrency=concurrency)
    if check:
        for fixture in fixtures:
            check_gold(fixture, schema)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(fixture: Fixture) -> tuple[str, PredictionOutcome]:
        async with semaphore:
            try:
                outcome = await predict(fixture)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = PredictionOutcome(error=f"{type(exc).__name__}: {exc}")
        return fixture.doc_id, outcome

    results = await asyncio.gather(*(one(f) for f in fixtures))
    return build_report(
        fixtures,
        schema,
        dict(results),
        config=config,
        model=model,
        prompt=prompt,
        prompt_version=prompt_version,
    )


def _stems(value: Any) -> list[str]:
    """The id itself plus the stem of it read as a path (POSIX or Windows)."""
    if not isinstance(value, str) or not value:
        return []
    out = [value]
    for path in (PurePath(value), PureWindowsPath(value)):
        name = path.name
        if name.endswith(".gold.json"):
            name = name[: -len(".gold.json")]
        elif path.suffix:
            name = name[: -len(path.suffix)]
        if name and name not in out:
            out.append(name)
    return out


def _error_text(error: Any) -> str | None:
    if error is None or error is False:
        return None
    if isinstance(error, dict):
        kind = error.get("kind")
        message = error.get("message") or json.dumps(error, ensure_ascii=False)
        return f"{kind}: {message}" if kind else str(message)
    return str(error)


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Parse the JSONL written by ``llmx run``; :class:`EvalError` on malformed lines."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError("cannot read predictions", path=str(p), detail=str(exc)) from exc
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(
                f"predictions line is not valid JSON: {exc.msg}", path=str(p), line=number
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("doc_id"), str):
            raise EvalError(
                'predictions line must be an object with a string "doc_id"',
                path=str(p),
                line=number,
            )
        if data.get("record") is not None and not isinstance(data["record"], dict):
            raise EvalError('"record" must be an object or null', path=str(p), line=number)
        lines.append(data)
    return lines


def outcomes_from_lines(
    fixtures: Sequence[Fixture], lines: Sequence[dict[str, Any]]
) -> tuple[dict[str, PredictionOutcome], list[str]]:
    """Match JSONL lines to fixtures by ``doc_id`` (or its path stem, or ``source``'s).

    Returns the outcomes by fixture id and the ids of lines matching no fixture.
    A later line for the same fixture replaces an earlier one.
    """
    ids = {f.doc_id for f in fixtures}
    outcomes: dict[str, PredictionOutcome] = {}
    unmatched: list[str] = []
    for line in lines:
        target = next((s for s in _stems(line.get("doc_id")) if s in ids), None)
        if target is None:
            target = next((s for s in _stems(line.get("source")) if s in ids), None)
        if target is None:
            unmatched.append(str(line.get("doc_id")))
            continue
        usage = line.get("usage") if isinstance(line.get("usage"), dict) else {}
        record = line.get("record")
        error = _error_text(line.get("error"))
        if error is None and record is None:
            error = "no record"
        outcomes[target] = PredictionOutcome(
            record=record if isinstance(record, dict) else None,
            error=error,
            usage={k: v for k, v in (usage or {}).items() if isinstance(v, int)},
            cached=bool(line.get("cached", False)),
            attempts=int(line.get("attempts") or 0),
            seconds=float(line.get("seconds") or 0.0),
        )
    return outcomes, unmatched


def score_predictions_file(
    fixtures: list[Fixture],
    schema: type[BaseModel],
    jsonl_path: str | Path,
    *,
    config: ScoreConfig | None = None,
    model: str | None = None,
    prompt: str | None = None,
    prompt_version: str | None = None,
    check: bool = True,
) -> Report:
    """Score the JSONL output of ``llmx run`` against ``fixtures``.

    Fixtures without a line count as failed ("no prediction for this fixture");
    lines matching no fixture are listed in ``report.info["unmatched_predictions"]``.
    """
    if check:
        for fixture in fixtures:
            check_gold(fixture, schema)
    outcomes, unmatched = outcomes_from_lines(fixtures, read_predictions(jsonl_path))
    return build_report(
        fixtures,
        schema,
        outcomes,
        config=config,
        model=model,
        prompt=prompt,
        prompt_version=prompt_version,
        info={"predictions": str(jsonl_path), "unmatched_predictions": unmatched},
    )
