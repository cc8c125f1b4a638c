"""The ``candidates`` strategy: code finds the candidates, the model answers about them.

The schema's :class:`~llmx._candidates.CandidateReader` finds the places of the cleaned
text that may hold a record; the ones it has a question about are asked in groups of
``group_size`` (one request per group, its answer one required entry per candidate);
the reader builds raw items from each candidate and its answer, and each item is
validated into a record of the schema on its own, so the schema's normalisers apply.

A group whose answer is cut off at max_tokens is asked again one candidate at a time; a
candidate whose own answer is cut off is left out, with a note. With ``passes`` > 1
every group is asked again per later pass (warmer, see
:data:`~llmx._requests.PASS_TEMPERATURE`) and each record gets the share of passes that
agree on it (:mod:`llmx._agreement`).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from llmx._agreement import pass_agreement
from llmx._candidates import Candidate, CandidateReader, answers_model, answers_of, groups
from llmx._config import Settings
from llmx._errors import ExtractionError, TruncatedAnswerError
from llmx._merge import item_model
from llmx._names import rules_for
from llmx._prompts import Prompt
from llmx._requests import ModelRequests
from llmx._schemas import schema_fingerprint
from llmx._strategies import Reading
from llmx._types import Usage
from llmx.normalize._context import DocumentContext

M = TypeVar("M", bound=BaseModel)

#: output tokens allowed per candidate in a group's answer (an answer is a few short
#: names; a small model that starts repeating itself inside a string stops here)
TOKENS_PER_CANDIDATE = 80
#: output tokens of a group's answer besides its candidates' (the braces and keys)
TOKENS_PER_GROUP = 32


class CandidateStrategy(Generic[M]):
    """Reads a document candidate by candidate, with the schema's reader."""

    def __init__(
        self,
        requests: ModelRequests,
        reader: CandidateReader,
        prompt: Prompt,
        schema: type[BaseModel],
        response_model: type[M],
        settings: Settings,
    ) -> None:
        self.requests = requests
        self.reader = reader
        #: the reader's prompt, which asks about a group of candidates
        self.prompt = prompt
        self.schema_name = schema.__name__
        #: the name rules of each list's item model, for comparing passes
        self.name_rules = {
            name: rules_for(item_model(info.annotation))
            for name, info in schema.model_fields.items()
        }
        self.response_model = response_model
        self.settings = settings

    async def read(
        self, doc_id: str, context: DocumentContext, usage: Usage, notes: list[str]
    ) -> Reading[M]:
        reading: Reading[M] = Reading()
        candidates = self.reader.find(context.text, context)
        if not candidates:
            reading.records.append(self._empty_record(context, doc_id, "no candidates found"))
            notes.append("no candidates found in the text")
            return reading
        passes = self.settings.passes
        code_only = {id(c) for c in candidates if self.reader.question(c) is None}
        asked = [c for c in candidates if id(c) not in code_only]
        # a candidate code needs no answer about is built from its spans alone; one the
        # model could not answer (cut off) is left out
        answers: dict[int, tuple[BaseModel | None, list[BaseModel | None]]] = {
            cid: (None, []) for cid in code_only
        }
        for group in groups(asked, self.settings.group_size):
            answered = await self._answer_group(group, context, doc_id, usage, notes)
            later_passes = [
                {
                    id(c): reply
                    for c, reply, _ in await self._answer_group(
                        group, context, doc_id, usage, notes, pass_index=k
                    )
                }
                for k in range(1, passes)
            ]
            for candidate, reply, cached in answered:
                reading.cached = reading.cached and cached
                later = [replies.get(id(candidate)) for replies in later_passes]
                answers[id(candidate)] = (reply, later)
        for candidate in candidates:  # in reading order, asked or not
            if id(candidate) not in answers:
                continue
            answer, later_answers = answers[id(candidate)]
            for list_name, item in self.reader.build(candidate, answer, context):
                record = self._validate_item(list_name, item, context)
                if record is None:
                    continue
                reading.records.append(record)
                if passes == 1:
                    continue
                if id(candidate) in code_only:
                    share = 1.0  # code's alone: every pass agrees
                else:
                    share = pass_agreement(
                        list_name,
                        item,
                        (
                            self.reader.build(candidate, later, context)
                            for later in later_answers
                            if later is not None
                        ),
                        passes,
                        self.name_rules[list_name],
                    )
                reading.agreement[id(record)] = share
        if not reading.records:
            # every candidate turned down, cut off or invalid: a document without records
            reading.records.append(
                self._empty_record(context, doc_id, "no candidate made a record")
            )
            notes.append("no candidate made a record")
        return reading

    def _empty_record(self, context: DocumentContext, doc_id: str, why: str) -> M:
        """The schema's record with no items, for a document that yields none."""
        try:
            return self.response_model.model_validate({}, context={"llmx": context})
        except ValidationError as exc:
            raise ExtractionError(
                f"{why} and the schema has no empty record", doc_id=doc_id
            ) from exc

    async def _answer_group(
        self,
        group: list[Candidate],
        context: DocumentContext,
        doc_id: str,
        usage: Usage,
        notes: list[str],
        *,
        pass_index: int = 0,
    ) -> list[tuple[Candidate, BaseModel, bool]]:
        """The answer about each candidate of ``group``, with whether it came from the
        cache; a group whose answer is cut off at max_tokens is asked again one
        candidate at a time."""
        questions = tuple(self.reader.question(c) for c in group)  # none is None here
        model = answers_model(tuple(q for q in questions if q is not None))
        home = context.home
        messages = self.prompt.render(
            candidates=[
                {"number": i + 1, "text": c.marked, "before": c.before} for i, c in enumerate(group)
            ],
            published=context.published.isoformat() if context.published else None,
            home=" ".join(p for p in (home.province, home.city, home.district) if p)
            if home is not None
            else None,
            doc_id=doc_id,
            schema_name=self.schema_name,
        )
        try:
            answers, cached = await self.requests.ask(
                messages,
                context,
                usage,
                answer_model=model,
                fingerprint=schema_fingerprint(model),
                retry_cut_off=len(group) == 1,
                pass_index=pass_index,
                max_tokens=self._group_tokens(len(group)),
            )
        except TruncatedAnswerError:
            if len(group) == 1:  # one candidate the model cannot answer: left out, said so
                notes.append(
                    f"no answer about candidate {group[0].text[:40]!r}: "
                    "cut off at max_tokens; left out"
                )
                return []
            notes.append("answer cut off at max_tokens: asked again one candidate at a time")
            out: list[tuple[Candidate, BaseModel, bool]] = []
            for candidate in group:
                out += await self._answer_group(
                    [candidate], context, doc_id, usage, notes, pass_index=pass_index
                )
            return out
        return [(c, a, cached) for c, a in zip(group, answers_of(answers, len(group)), strict=True)]

    def _group_tokens(self, size: int) -> int:
        """Output tokens for the answer about ``size`` candidates (never above the
        settings' ``max_tokens``)."""
        budget = TOKENS_PER_GROUP + TOKENS_PER_CANDIDATE * size
        limit = self.settings.max_tokens
        return budget if limit is None else min(budget, limit)

    def _validate_item(
        self, list_name: str, item: dict[str, Any], context: DocumentContext
    ) -> M | None:
        """One record of the schema holding just ``item`` in ``list_name``, validated (so
        the schema's normalisers apply); ``None`` with a note when it does not validate."""
        try:
            record = self.response_model.model_validate(
                {list_name: [item]}, context={"llmx": context}
            )
        except ValidationError as exc:
            context.note(
                f"{list_name}: a candidate's record did not validate: {exc.errors()[0]['msg']}"
            )
            return None
        return record


__all__ = ["TOKENS_PER_CANDIDATE", "CandidateStrategy"]
