"""The ``investment`` schema: projects and reported statistics from 招商引资 news.

Field names, enums and nesting follow the users' contract
(``investment-schema.md``) exactly; the JSON shape of :class:`InvestmentNews` is
that contract.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from llmx.fields import Compare, Evidence, MatchKey

Qualifier = Literal["exact", "approx", "at_least", "at_most"]
Stage = Literal["signed", "under_construction", "in_production"]


class Money(BaseModel):
    """An amount of money, normalised to whole currency units."""

    value: float = Field(description="Value in whole units: 139亿元 -> 13900000000, 1.2万元 -> 12000")
    currency: str = Field(default="CNY", description="ISO 4217 code; CNY unless stated otherwise")
    qualifier: Qualifier = Field(
        default="exact",
        description="约/近/左右 -> approx; 以上/超/逾/余/多 -> at_least; 以下/不到 -> at_most",
    )
    text: str = Field(description="The verbatim span from the article, e.g. 约25亿元")


class Location(BaseModel):
    """Where a project is sited, at the levels the story states or plainly implies."""

    province: str | None = Field(default=None, description="Full official name, e.g. 浙江省")
    city: str | None = Field(default=None, description="Prefecture-level city, e.g. 湖州市")
    district: str | None = Field(default=None, description="County-level division, e.g. 吴兴区")
    park: str | None = Field(default=None, description="Development zone, park or town")


class Project(BaseModel):
    """One concrete investment project named in the story."""

    name: Annotated[str, MatchKey()] = Field(description="Project name as written, simplified")
    investor: str | None = Field(default=None, description="Investing company or organisation")
    amount: Annotated[Money | None, Compare("money")] = Field(
        default=None, description="The project's own total investment; never output, revenue or tax"
    )
    location: Location = Field(default_factory=Location)
    industry: str | None = Field(default=None, description="Short sector phrase, e.g. 固态电池")
    stage: Stage | None = Field(default=None, description="signed / under_construction / in_production")
    date: Annotated[str | None, Compare("date")] = Field(
        default=None, description="ISO date of the stage event: YYYY-MM-DD, YYYY-MM or YYYY"
    )
    evidence: Annotated[str, Evidence()] = Field(description="Verbatim source sentence")


class Stat(BaseModel):
    """A figure the story reports for a region and a period or event."""

    region: Annotated[str, MatchKey(0.5)] = Field(description="Most specific region, e.g. 湖州市")
    period: Annotated[str | None, Compare("date")] = Field(
        default=None, description="2023-01, 2023-Q1, 2023-H1, 2024-01/2024-09, 2023 or an event date"
    )
    scope: Annotated[str, MatchKey(1.0)] = Field(description="What is counted, e.g. 新签约亿元以上项目")
    project_count: int | None = Field(default=None, description="Number of projects")
    amount: Annotated[Money | None, Compare("money")] = Field(default=None)
    yoy_pct: Annotated[float | None, Compare("percent")] = Field(
        default=None, description="同比 change in percent: 增长21.7% -> 21.7; 下降3% -> -3.0"
    )
    evidence: Annotated[str, Evidence()] = Field(description="Verbatim source sentence")


class InvestmentNews(BaseModel):
    """Everything one 招商引资 article reports: its projects and its statistics."""

    projects: list[Project] = Field(default_factory=list)
    stats: list[Stat] = Field(default_factory=list)


SCHEMA = InvestmentNews
