"""Finding a Pydantic schema by name, by file path or by module path.

``investment``             a schema file ``investment.py`` or a schema package (a folder
                           ``investment/`` with an ``__init__.py``) in a schemas folder
``path/to/file.py:Class``  a class in any Python file
``path/to/folder:Class``   a class in a schema package: its ``__init__.py`` is loaded
                           as a package, so it can import its own modules (``from .reader
                           import ...``)
``package.module:Class``   a class in an importable module
``path/to/file.py``        the file's (or package's) ``SCHEMA`` attribute, or its only model
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from llmx._errors import SchemaError
from llmx._resources import resource_dirs

USER_MODULE_PREFIX = "llmx_user_schema_"
"""Schema files and packages loaded by path are modules named
``llmx_user_schema_<stem>_<hash of the path>`` (the stem names the default prompt)."""


def available_schemas() -> list[str]:
    """Names of the schemas found in the schema folders: files and packages."""
    names: set[str] = set()
    for folder in resource_dirs("schemas"):
        names.update(p.stem for p in folder.glob("*.py"))
        names.update(p.parent.name for p in folder.glob("*/__init__.py"))
    return sorted(n for n in names if not n.startswith("_"))


def _in_folder(folder: Path, name: str) -> Path | None:
    """The schema file or package ``name`` in ``folder``, if there is one."""
    for candidate in (folder / f"{name}.py", folder / name):
        if _is_package(candidate) or candidate.is_file():
            return candidate
    return None


def _is_package(path: Path) -> bool:
    return (path / "__init__.py").is_file()


def _load_file(path: Path) -> ModuleType:
    """Load a schema file, or a schema package (a folder with ``__init__.py``) with its
    folder as the search location of its submodules."""
    if path.name == "__init__.py":
        path = path.parent
    package = _is_package(path)
    if not package and not path.is_file():
        raise SchemaError("schema file not found", path=str(path))
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"{USER_MODULE_PREFIX}{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    if package:
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SchemaError("cannot load schema file", path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
        raise SchemaError(f"schema file failed to import: {exc}", path=str(path)) from exc
    return module


def _pick(module: ModuleType, attr: str | None, where: str) -> type[BaseModel]:
    if attr is not None:
        obj: Any = getattr(module, attr, None)
        if obj is None:
            raise SchemaError(f"no class {attr!r} in schema module", where=where)
    elif hasattr(module, "SCHEMA"):
        obj = module.SCHEMA
    else:
        models = [
            v
            for v in vars(module).values()
            if isinstance(v, type)
            and issubclass(v, BaseModel)
            and v is not BaseModel
            and v.__module__ == module.__name__
        ]
        if len(models) != 1:
            raise SchemaError(
                "schema module defines several models; name one as path.py:Class "
                "or set SCHEMA = Class",
                where=where,
            )
        obj = models[0]
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise SchemaError("schema is not a Pydantic model class", where=where)
    return obj


@cache
def load_schema(spec: str) -> type[BaseModel]:
    """Resolve a schema spec (see module docstring) to a Pydantic model class."""
    target, _, attr = spec.partition(":")
    attr_or_none = attr or None
    if target.endswith(".py") or "/" in target:
        return _pick(_load_file(Path(target)), attr_or_none, spec)
    if attr_or_none is None or "." not in target:
        for folder in resource_dirs("schemas"):
            found = _in_folder(folder, target)
            if found is not None:
                return _pick(_load_file(found), attr_or_none, spec)
    if "." in target or attr_or_none:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise SchemaError(f"cannot import schema module: {exc}", schema=spec) from exc
        return _pick(module, attr_or_none, spec)
    raise SchemaError(
        "unknown schema; use a name, path.py:Class or module:Class",
        schema=spec,
        available=", ".join(available_schemas()) or "none",
    )


@cache
def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """pydantic's JSON schema of ``schema``, built once per class (~10 ms each time);
    only read, never handed out."""
    return schema.model_json_schema()


@cache
def schema_json(schema: type[BaseModel]) -> str:
    """The schema's JSON schema as compact JSON (once per class, not per Extractor)."""
    return json.dumps(_json_schema(schema), ensure_ascii=False, separators=(",", ":"))


@cache
def schema_fingerprint(schema: type[BaseModel]) -> str:
    """A stable hash of the schema's JSON schema: part of every cache key."""
    text = json.dumps(_json_schema(schema), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
