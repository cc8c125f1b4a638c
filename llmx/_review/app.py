"""The review web app (Starlette) and the static page, over one :class:`ReviewIndex`.

Routes (every one needs the per-run token, as ``?token=`` or ``X-Llmx-Token``)::

    GET  /                         the page (plain JavaScript renders the views)
    GET  /api/docs                 ?filter=&q=&page=&size=  one page of the list
    GET  /api/doc/{n}              document n: text, records, highlights, notes
    POST /api/doc/{n}/fixture      {"record": {...}} -> <name>.txt + <name>.gold.json

Documents are addressed by their number in the index; the fixture's file name
comes from the document's doc_id, never from the request. Pages are sent with a
Content-Security-Policy that allows only the page's own script and same-origin
requests, and every response refuses framing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel

from llmx._errors import LlmxError
from llmx._review.document import ListInfo, build_document, list_infos, read_source
from llmx._review.fixture import save_fixture
from llmx._review.index import FILTERS, Filter, ReviewIndex

__all__ = ["ReviewSettings", "create_app", "render_page", "render_static"]

MAX_BODY = 5 * 2**20


@dataclass
class ReviewSettings:
    """What the app serves and where it may write."""

    index: ReviewIndex
    fixtures: Path | None = None
    schema: type[BaseModel] | None = None
    roots: list[Path] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _infos: dict[str, ListInfo] | None = field(default=None, init=False, repr=False)

    @property
    def infos(self) -> dict[str, ListInfo]:
        if self._infos is None:
            self._infos = list_infos(self.index.list_names, self.index.samples, self.schema)
        return self._infos

    def document(self, n: int) -> dict[str, Any]:
        line = self.index.line(n)
        sha = line.get("content_sha256")
        text = read_source(str(line.get("source") or ""), self.roots, sha)
        return build_document(line, text, self.infos)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("llmx._review", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _asset(name: str) -> str:
    return resources.files("llmx._review").joinpath("static", name).read_text(encoding="utf-8")


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _page(config: dict[str, Any], data: dict[str, Any] | None) -> tuple[str, str]:
    """The page HTML and the Content-Security-Policy that fits it."""
    script = _asset("review.js")
    html = (
        _environment()
        .get_template("review.html")
        .render(
            title=config.get("title", "llmx review"),
            config=config,
            data=data,
            css=Markup(_asset("review.css")),  # our own files, not data
            script=Markup(script),
        )
    )
    connect = "'self'" if data is None else "'none'"
    csp = (
        f"default-src 'none'; script-src {_csp_hash(script)}; style-src 'unsafe-inline'; "
        f"connect-src {connect}; img-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return html, csp


def render_page(settings: ReviewSettings) -> tuple[str, str]:
    """The served page (views fetch their data from the API)."""
    config = {
        "mode": "server",
        "token": settings.token,
        "title": f"llmx review · {settings.index.path.name}",
        "file": settings.index.path.name,
        "low": settings.index.low_confidence,
        "filters": list(FILTERS),
        "can_save": settings.fixtures is not None,
        "fixtures": str(settings.fixtures) if settings.fixtures is not None else None,
    }
    return _page(config, None)


def render_static(settings: ReviewSettings) -> str:
    """One self-contained, read-only page holding every document (no network use)."""
    index = settings.index
    summaries = []
    for d in index:
        item = d.to_dict()
        item["search"] = d.search
        summaries.append(item)
    data = {
        "summaries": summaries,
        "counts": index.counts,
        "docs": [settings.document(d.n) for d in index],
    }
    config = {
        "mode": "static",
        "title": f"llmx review · {index.path.name}",
        "file": index.path.name,
        "low": index.low_confidence,
        "filters": list(FILTERS),
        "can_save": False,
        "fixtures": None,
    }
    html, csp = _page(config, data)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
    return html.replace("<!--csp-->", meta, 1)


def create_app(settings: ReviewSettings) -> Any:
    """The Starlette application (imported lazily: the ``review`` extra provides it)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    token = settings.token.encode("utf-8")

    def allowed(request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get("x-llmx-token") or ""
        return secrets.compare_digest(given.encode("utf-8"), token)

    def local_host(request: Request) -> bool:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        return host in ("127.0.0.1", "localhost")

    async def guard(request: Request) -> Response | None:
        if not local_host(request):
            return JSONResponse({"error": "unexpected Host header"}, status_code=403)
        if not allowed(request):
            return JSONResponse({"error": "missing or wrong token"}, status_code=403)
        return None

    async def page(request: Request) -> Response:
        if (denied := await guard(request)) is not None:
            return denied
        html, csp = render_page(settings)
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    def doc_number(request: Request) -> int | None:
        n = request.path_params["n"]
        return n if isinstance(n, int) and 0 <= n < len(settings.index) else None

    async def docs(request: Request) -> Response:
        if (denied := await guard(request)) is not None:
            return denied
        params = request.query_params
        flt = params.get("filter", "all")
        if flt not in FILTERS:
            return JSONResponse({"error": f"unknown filter {flt!r}"}, status_code=400)
        try:
            page_no = int(params.get("page", "1"))
            size = int(params.get("size", "50"))
        except ValueError:
            return JSONResponse({"error": "page and size must be numbers"}, status_code=400)
        chosen: Filter = flt
        result = settings.index.query(chosen, params.get("q", ""), page=page_no, size=size)
        return JSONResponse(result.to_dict())

    async def doc(request: Request) -> Response:
        if (denied := await guard(request)) is not None:
            return denied
        n = doc_number(request)
        if n is None:
            return JSONResponse({"error": "no such document"}, status_code=404)
        return JSONResponse(settings.document(n))

    async def fixture(request: Request) -> Response:
        if (denied := await guard(request)) is not None:
            return denied
        n = doc_number(request)
        if n is None:
            return JSONResponse({"error": "no such document"}, status_code=404)
        if settings.fixtures is None:
            return JSONResponse(
                {"error": "no fixture folder: start llmx review with --fixtures DIR"},
                status_code=409,
            )
        if "application/json" not in request.headers.get("content-type", ""):
            return JSONResponse({"error": "send JSON"}, status_code=415)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "malformed JSON"}, status_code=400)
        record = payload.get("record") if isinstance(payload, dict) else None
        if not isinstance(record, dict):
            return JSONResponse({"error": 'send {"record": {...}}'}, status_code=400)
        document = settings.document(n)
        if document["text"] is None:
            return JSONResponse(
                {"error": f"cannot save: {document['text_problem']}"}, status_code=409
            )
        try:
            saved = save_fixture(
                settings.fixtures,
                str(document["doc_id"]),
                document["text"],
                record,
                document["meta"],
                schema=settings.schema,
            )
        except LlmxError as exc:
            return JSONResponse({"error": exc.message}, status_code=422)
        return JSONResponse({"saved": saved.to_dict(), "folder": str(settings.fixtures)})

    async def secure_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/docs", docs),
            Route("/api/doc/{n:int}", doc),
            Route("/api/doc/{n:int}/fixture", fixture, methods=["POST"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=secure_headers)],
    )
