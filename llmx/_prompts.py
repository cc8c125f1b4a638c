"""Prompt templates: Jinja2 files with a version.

A template is a ``.j2`` file in a prompts folder (``./prompts``, the project's
``prompts/``, or the bundled copy). It starts with a header comment::

    {#- llmx-prompt
    version: 3
    description: what it is for
    -#}

and defines two blocks, ``system`` and ``user``, rendered with ``text``,
``published``, ``doc_id``, ``schema_name``, ``schema_outline`` (a readable field
list), ``schema_json`` (the compact JSON schema), ``chunk_index`` and
``chunk_count``. The version and a hash of the template text enter every
cache key, so editing a prompt never serves stale answers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from llmx._errors import PromptError
from llmx._resources import resource_dirs
from llmx._schemas import USER_MODULE_PREFIX

_HEADER = re.compile(r"\{#-?\s*llmx-prompt\s*(?P<body>.*?)-?#\}", re.S)


@dataclass(frozen=True)
class Prompt:
    """A loaded prompt template."""

    name: str
    version: str
    description: str
    source: str
    path: Path | None

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Render to chat messages (system then user)."""
        template = _compile(self.source, self.name)
        context = template.new_context(variables)
        messages: list[dict[str, str]] = []
        for role in ("system", "user"):
            block = template.blocks.get(role)
            if block is None:
                continue
            try:
                content = "".join(block(context)).strip()
            except jinja2.TemplateError as exc:
                raise PromptError(f"prompt failed to render: {exc}", prompt=self.name) from exc
            if content:
                messages.append({"role": role, "content": content})
        if not messages or messages[-1]["role"] != "user":
            raise PromptError("prompt must define a non-empty 'user' block", prompt=self.name)
        return messages


_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


@cache
def _compile(source: str, name: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"prompt template has a syntax error: {exc}", prompt=name) from exc


def parse_prompt(source: str, name: str, path: Path | None = None) -> Prompt:
    meta: dict[str, str] = {}
    header = _HEADER.search(source)
    if header:
        for line in header.group("body").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip()] = value.strip()
    _compile(source, name)
    return Prompt(
        name=name,
        version=meta.get("version", "0"),
        description=meta.get("description", ""),
        source=source,
        path=path,
    )


def available_prompts() -> list[str]:
    names: set[str] = set()
    for folder in resource_dirs("prompts"):
        names.update(p.stem for p in folder.glob("*.j2"))
    return sorted(names)


def load_prompt(spec: str | None, schema: type[BaseModel] | None = None) -> Prompt:
    """Load a prompt by name or path.

    With no spec, the prompt named after the schema's file (``investment``) is
    used when one exists, else ``default``.
    """
    if spec is not None and (spec.endswith(".j2") or "/" in spec):
        path = Path(spec)
        if not path.is_file():
            raise PromptError("prompt file not found", path=str(path))
        return parse_prompt(path.read_text(encoding="utf-8"), path.stem, path)
    names = [spec] if spec else []
    if spec is None and schema is not None:
        names += [_schema_stem(schema.__module__), schema.__name__.lower()]
    if spec is None:
        names.append("default")
    for name in names:
        for folder in resource_dirs("prompts"):
            path = folder / f"{name}.j2"
            if path.is_file():
                return parse_prompt(path.read_text(encoding="utf-8"), name, path)
    raise PromptError(
        "prompt not found", prompt=spec or "default", available=", ".join(available_prompts())
    )


def _schema_stem(module: str) -> str:
    """The name of the schema file or package a model comes from: ``investment`` for
    ``schemas.investment``, a file loaded by path (``llmx_user_schema_investment_<hash>``)
    and any module inside such a package."""
    if module.startswith(USER_MODULE_PREFIX):
        top = module.split(".", 1)[0]
        return top.removeprefix(USER_MODULE_PREFIX).rsplit("_", 1)[0]
    return module.rsplit(".", 1)[-1]


def schema_outline(schema: type[BaseModel]) -> str:
    """A compact, human-readable outline of a schema's fields for the prompt."""
    lines: list[str] = []
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], indent: str) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            kind = _type_name(info.annotation)
            desc = f" — {info.description}" if info.description else ""
            lines.append(f"{indent}- {name}: {kind}{desc}")
            for sub in _nested_models(info.annotation):
                walk(sub, indent + "  ")

    walk(schema, "")
    return "\n".join(lines)


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(_nested_models(arg))
    return out


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation)
    text = re.sub(r"typing\.|[\w.]+\.(?=[A-Z]\w*)", "", text)
    return text.replace("NoneType", "null")
