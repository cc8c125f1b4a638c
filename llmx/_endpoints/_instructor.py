"""The one boundary to instructor: every use of instructor in llmx goes through here.

llmx lets instructor shape the request for each structured-output mode, parse the
answer and re-ask with the validation error; llmx owns sending, retries, accounting,
caching and cut-off handling itself (:mod:`llmx._endpoints.client`). Four things here
lean on how instructor works inside rather than on its public API. Each has a test in
``tests/test_instructor_boundary.py`` that fails when it is no longer in effect, and
``pyproject.toml`` pins instructor to the minor versions those tests pass on:

1. **Response models are used as given.** :func:`fast_response_model` subclasses
   instructor's ``ResponseSchema``, so instructor does not build a wrapper class with
   ``create_model`` on every call, and computes the JSON schema once.
2. **The async-validator check runs once per class.** instructor walks the whole type
   tree of the response model looking for async validators three times per request;
   :func:`_reject_async_validators_once` replaces that check (in the two instructor
   modules that bind it) by one that skips classes built and checked here. It runs the
   original check for every other class, so instructor behaves the same for them.
3. **Documents are never templated.** instructor renders every message as a Jinja2
   template whenever ``context`` is truthy; :class:`_ValidationContext` is a falsy
   mapping that still reaches ``model_validate(context=...)``.
4. **The cache stores the text that was validated.** Every mode ends in
   ``response_model.model_validate_json(text, ...)``; the fast response model records
   the text it validated, so the caller gets exactly the JSON behind the record
   (not a re-derivation of it from the completion).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.v2.core import patch as _instructor_patch
from instructor.v2.core.function_calls import ResponseSchema
from instructor.v2.validation import async_validators as _async_validators
from pydantic import BaseModel

__all__ = [
    "IncompleteOutputException",
    "InstructorRetryException",
    "StructuredAnswer",
    "StructuredClient",
    "fast_response_model",
]

M = TypeVar("M", bound=BaseModel)

# instructor logs every failed attempt at ERROR; llmx reports failures itself, so its
# records only reach users who configure logging
logging.getLogger("instructor").addHandler(logging.NullHandler())

#: instructor's modes by llmx mode name (``json_object_schema`` is sent as ``json_schema``
#: with the ``response_format`` overridden by the caller)
MODES: dict[str, instructor.Mode] = {
    "tools": instructor.Mode.TOOLS,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
}

# ----------------------------------------------------------------------------- 1. and 4.


class _Validated:
    """Where the fast response model puts the last text it validated in this call."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text: str | None = None


_VALIDATED: ContextVar[_Validated | None] = ContextVar("llmx_validated_text", default=None)


@cache
def fast_response_model(schema: type[M]) -> type[M]:
    """A subclass of ``schema`` that instructor uses as is, its JSON schema computed once.

    instructor regenerates the response model's JSON schema on every call; for a schema
    of any size that dominates the CPU cost of a request. The subclass validates exactly
    like ``schema`` (same fields, validators, name and docstring) and is built once per
    schema. During a :meth:`StructuredClient.create` it also records the JSON text it
    validated successfully. A class built here is returned as it is.
    """
    if schema in _CHECKED:
        return schema
    json_schema = schema.model_json_schema()

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return BaseModel.model_json_schema.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined,no-any-return]
        return json_schema

    def model_validate_json(
        cls: type[BaseModel], json_data: str | bytes | bytearray, /, **kwargs: Any
    ) -> BaseModel:
        record = BaseModel.model_validate_json.__func__(cls, json_data, **kwargs)  # type: ignore[attr-defined]
        validated = _VALIDATED.get()
        if validated is not None:
            text = json_data if isinstance(json_data, str) else bytes(json_data).decode()
            validated.text = text
        return record  # type: ignore[no-any-return]

    namespace: dict[str, Any] = {
        "__doc__": schema.__doc__,
        "__module__": schema.__module__,
        "__qualname__": schema.__qualname__,
        "model_json_schema": classmethod(model_json_schema),
        "model_validate_json": classmethod(model_validate_json),
    }
    fast: type[M] = type(schema.__name__, (schema, ResponseSchema), namespace)
    # the answer of the async-validator check cannot change for a class built once
    _ORIGINAL_REJECT(fast)
    _CHECKED.add(fast)
    return fast


# ----------------------------------------------------------------------------- 2.

_CHECKED: set[type[BaseModel]] = set()
_ORIGINAL_REJECT: Callable[[Any], None] = _async_validators.reject_async_validators


def _reject_async_validators_once(response_model: Any) -> None:
    """instructor's async-validator check, skipped for classes already checked."""
    if isinstance(response_model, type) and response_model in _CHECKED:
        return
    _ORIGINAL_REJECT(response_model)


# ``patch`` binds the check at import; ``response_model`` and ``retry`` import it from
# ``async_validators`` per call: both names must point here.
_async_validators.reject_async_validators = _reject_async_validators_once
_instructor_patch.reject_async_validators = _reject_async_validators_once  # type: ignore[attr-defined]

# ----------------------------------------------------------------------------- 3.


class _ValidationContext(dict[str, Any]):
    """The ``context=`` handed to instructor: a validation context only.

    instructor renders every message as a Jinja2 template whenever ``context`` is
    truthy, so a document containing ``{{ 7*7 }}`` would reach the model as ``49`` and
    one containing ``{% endif %}`` would fail. Being falsy, this mapping is skipped by
    instructor's templating but still passed on to ``model_validate(context=...)``.
    """

    def __bool__(self) -> bool:
        return False


# ----------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class StructuredAnswer(Generic[M]):
    """A validated record, the completion it came from and the JSON text validated."""

    record: M
    completion: Any
    text: str


class StructuredClient:
    """instructor's request shaping, parsing and re-asking over llmx's own ``send``."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        send: Callable[..., Awaitable[Any]],
        mode: str,
    ) -> None:
        instructor_mode = MODES[mode]
        self._client = instructor.AsyncInstructor(
            client=client,
            create=instructor.patch(create=send, mode=instructor_mode),
            mode=instructor_mode,
            provider=instructor.Provider.OPENAI,
        )

    async def create(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        response_model: type[M],
        max_reasks: int,
        context: dict[str, Any] | None,
        on_reask: Callable[[Exception], None] | None,
        params: dict[str, Any],
    ) -> StructuredAnswer[M]:
        """One record of ``response_model``, re-asked at most ``max_reasks`` times.

        ``response_model`` must come from :func:`fast_response_model`. ``on_reask`` is
        told why each invalid answer was rejected. Raises instructor's
        :class:`InstructorRetryException` when no answer validated (the original error
        as its ``__cause__`` when a request failed) and
        :class:`IncompleteOutputException` for an answer cut off at ``max_tokens``.
        """
        if response_model not in _CHECKED:
            raise TypeError("response_model must come from fast_response_model()")
        hooks = instructor.hooks.Hooks()
        if on_reask is not None:
            callback = on_reask

            def on_parse_error(error: Exception, **_: Any) -> None:
                callback(error)

            hooks.on("parse:error", on_parse_error)
        validated = _Validated()
        token = _VALIDATED.set(validated)
        try:
            record, completion = await self._client.create_with_completion(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                response_model=response_model,
                max_retries=max_reasks,
                context=_ValidationContext(context or {}),
                hooks=hooks,
                **params,
            )
        finally:
            _VALIDATED.reset(token)
        if validated.text is None:  # every mode validates with model_validate_json
            raise RuntimeError("instructor returned a record without validating a JSON text")
        return StructuredAnswer(record, completion, validated.text)
