"""Schemas found by name, path and module; prompts rendered with versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from llmx._errors import PromptError, SchemaError
from llmx._prompts import available_prompts, load_prompt, parse_prompt, schema_outline
from llmx._schemas import available_schemas, load_schema, schema_fingerprint

ROOT = Path(__file__).resolve().parents[1]


def test_investment_schema_by_name() -> None:
    # its JSON shape is pinned against the contract in test_schema_investment.py
    schema = load_schema("investment")
    assert schema.__name__ == "InvestmentNews"
    assert "investment" in available_schemas()
    assert load_schema("schemas/investment:InvestmentNews") is schema


def test_user_schema_by_path_and_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        "from pydantic import BaseModel\n"
        "class Helper(BaseModel):\n    x: int\n"
        "class Paper(BaseModel):\n    title: str\n    helper: Helper | None = None\n",
        encoding="utf-8",
    )
    assert load_schema(f"{path}:Paper").__name__ == "Paper"
    with pytest.raises(SchemaError, match="several models"):
        load_schema(str(path))
    assert load_schema("schemas/investment:Stat").__name__ == "Stat"
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "models.py").write_text(
        "from pydantic import BaseModel\nclass Invoice(BaseModel):\n    total: float\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_schema("mypkg.models:Invoice").__name__ == "Invoice"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuchschema", "unknown schema"),
        ("missing/file.py:X", "not found"),
        ("schemas/investment:Nope", "no class 'Nope'"),
        ("llmx._errors:LlmxError", "not a Pydantic model"),
        ("no_such_module_xyz:Thing", "cannot import"),
    ],
)
def test_schema_errors_are_clear(spec: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        load_schema(spec)


def test_schema_package_by_path_and_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a schema may be a package: its __init__.py imports its own modules relatively
    package = tmp_path / "schemas" / "papers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pydantic import BaseModel\n"
        "from .parts import Author\n"
        "class Paper(BaseModel):\n    title: str\n    authors: list[Author] = []\n"
        "SCHEMA = Paper\n",
        encoding="utf-8",
    )
    (package / "parts.py").write_text(
        "from pydantic import BaseModel\nclass Author(BaseModel):\n    name: str\n",
        encoding="utf-8",
    )
    by_path = load_schema(str(package))
    assert by_path.__name__ == "Paper"
    assert load_schema(f"{package}:Paper") is by_path
    assert load_schema(f"{package / '__init__.py'}:Paper") is by_path
    monkeypatch.chdir(tmp_path)  # ./schemas is searched first
    assert "papers" in available_schemas()
    assert load_schema("papers") is by_path
    assert load_prompt(None, by_path).name == "default"  # no papers.j2: the default


def test_broken_schema_package(tmp_path: Path) -> None:
    package = tmp_path / "half"
    package.mkdir()
    (package / "__init__.py").write_text("from .missing import X\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="failed to import"):
        load_schema(f"{package}:X")


def test_broken_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="failed to import: boom"):
        load_schema(f"{path}:X")


def test_fingerprint_changes_with_the_schema(tmp_path: Path) -> None:
    class A(BaseModel):
        x: int

    class B(BaseModel):
        x: str

    assert schema_fingerprint(A) != schema_fingerprint(B)
    assert schema_fingerprint(A) == schema_fingerprint(A)


def test_investment_prompt_is_the_default_for_its_schema() -> None:
    schema = load_schema("investment")
    prompt = load_prompt(None, schema)
    assert prompt.name == "investment" and prompt.version != "0"
    assert {"investment", "default"} <= set(available_prompts())
    messages = prompt.render(
        text="近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。",
        published="2023-02-07",
        doc_id="d",
        schema_name="InvestmentNews",
        schema_outline=schema_outline(schema),
        schema_json="{}",
        chunk_index=0,
        chunk_count=1,
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "年产值" in messages[0]["content"]  # carries the spec's rules
    assert "2023-02-07" in messages[1]["content"] and "卫蓝" in messages[1]["content"]


def test_investment_prompt_lists_the_fields_of_the_schema() -> None:
    # the field list comes from the schema: a field added to it is in the prompt
    from schemas.investment import InvestmentNews, Project

    class SitedProject(Project):
        site_area_mu: float | None = None

    class News(InvestmentNews):
        projects: list[SitedProject] = Field(default_factory=list)  # type: ignore[assignment]

    messages = load_prompt("investment").render(
        text="T",
        published=None,
        doc_id="d",
        schema_name="News",
        schema_outline=schema_outline(News),
        chunk_index=0,
        chunk_count=1,
    )
    system = messages[0]["content"]
    assert "- site_area_mu: float | None" in system
    assert "- yoy_pct: float | None" in system


def test_default_prompt_for_other_schemas() -> None:
    class Paper(BaseModel):
        title: str

    prompt = load_prompt(None, Paper)
    assert prompt.name == "default"
    messages = prompt.render(
        text="T",
        published=None,
        doc_id="d",
        schema_name="Paper",
        schema_outline=schema_outline(Paper),
        chunk_index=1,
        chunk_count=3,
    )
    assert "- title: str" in messages[0]["content"]
    assert "part 2 of 3" in messages[1]["content"]


def test_prompt_files_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.j2"
    good.write_text(
        "{#- llmx-prompt\nversion: 7\n-#}\n{% block user %}Read: {{ text }}{% endblock %}",
        encoding="utf-8",
    )
    prompt = load_prompt(str(good))
    assert prompt.label == "mine@7"
    assert prompt.render(text="abc")[0]["content"] == "Read: abc"
    edited = parse_prompt(good.read_text(encoding="utf-8") + " ", "mine")
    assert edited.fingerprint != prompt.fingerprint
    with pytest.raises(PromptError, match="not found"):
        load_prompt("no-such-prompt")
    with pytest.raises(PromptError, match="syntax error"):
        parse_prompt("{% block user %}{{ oops {% endblock %}", "bad")
    with pytest.raises(PromptError, match="failed to render"):
        prompt.render()
    with pytest.raises(PromptError, match="'user' block"):
        parse_prompt("{% block system %}x{% endblock %}", "nouser").render()
