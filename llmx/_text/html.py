"""HTML page -> the article's main text, with the standard library only.

The page is parsed into a light element tree (:mod:`html.parser`). Scripts, styles,
navigation, page headers/footers, asides and forms are dropped. The main content is
the largest ``<article>`` (or ``<main>``) with enough text, else the element that
collects the most CJK text and punctuation from its paragraphs (a readability-style
score, with link-heavy blocks penalised). The page title (``<h1>`` or ``<title>``) and
a short ``发布时间``/``来源`` metadata line near it are kept in front of the content.
Block elements become line breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_DROP = {
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "canvas",
    "nav",
    "footer",
    "aside",
    "form",
    "button",
    "select",
    "input",
    "textarea",
    "head",
    "object",
    "embed",
    "video",
    "audio",
    "map",
}
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
_BLOCK = {
    "address",
    "article",
    "blockquote",
    "body",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "center",
    "font",
}
#: Closing any of these implicitly closes an open ``<p>``/``<li>`` etc.
_AUTO_CLOSE = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr"}}
_NOISE_ATTR = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|menu|breadcrumb|crumb|footer|foot|sidebar|side|share|"
    r"comment|comments|related|recommend|hot|copyright|toolbar|login|advert|ad|ads|banner)"
    r"(?:$|[\s_-])",
    re.I,
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_PUNCT = re.compile(r"[，。、；：？！“”‘’（）《》,.;:?!]")
_META_LINE = re.compile(
    r"(发布时间|發布時間|发布日期|日期|时间|時間|来源|來源|作者|\d{4}[-/年]\d{1,2})"
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)
    parent: _Node | None = None


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root")
        self.stack: list[_Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        closes = _AUTO_CLOSE.get(tag)
        if closes:
            for k in range(len(self.stack) - 1, 0, -1):
                if self.stack[k].tag in closes:
                    del self.stack[k:]
                    break
                if self.stack[k].tag in _BLOCK and self.stack[k].tag not in ("font", "center"):
                    break
        node = _Node(tag, {k.lower(): v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag.lower(), {k.lower(): v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        for k in range(len(self.stack) - 1, 0, -1):
            if self.stack[k].tag == tag:
                del self.stack[k:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _is_noise(node: _Node, inside_article: bool) -> bool:
    if node.tag in _DROP:
        return True
    if node.tag == "header" and not inside_article:
        return True
    if node.attrs.get("hidden") is not None and "hidden" in node.attrs:
        return True
    style = node.attrs.get("style", "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    label = f"{node.attrs.get('class', '')} {node.attrs.get('id', '')}"
    return bool(label.strip()) and _NOISE_ATTR.search(label) is not None and node.tag != "body"


def _prune(node: _Node, inside_article: bool = False) -> None:
    inside = inside_article or node.tag in ("article", "main")
    kept: list[_Node | str] = []
    for child in node.children:
        if isinstance(child, str):
            kept.append(child)
        elif not _is_noise(child, inside):
            _prune(child, inside)
            kept.append(child)
    node.children = kept


def _render(node: _Node, out: list[str]) -> None:
    for child in node.children:
        if isinstance(child, str):
            out.append(_SPACES.sub(" ", child.replace("\n", " ")))
            continue
        tag = child.tag
        if tag == "br":
            out.append("\n")
        elif tag == "pre":
            out.append("\n" + _plain(child) + "\n")
        elif tag in ("td", "th"):
            _render(child, out)
            out.append(" ")
        elif tag in _BLOCK:
            out.append("\n")
            _render(child, out)
            out.append("\n")
        elif tag == "img":
            alt = child.attrs.get("alt", "").strip()
            if alt and _CJK.search(alt) and len(alt) > 4:
                out.append(alt)
        else:
            _render(child, out)


def _plain(node: _Node) -> str:
    parts: list[str] = []
    for child in node.children:
        parts.append(child if isinstance(child, str) else _plain(child))
    return "".join(parts)


def _tidy(text: str) -> str:
    lines = [line.strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _text_of(node: _Node) -> str:
    out: list[str] = []
    _render(node, out)
    return _tidy("".join(out))


def _walk(node: _Node) -> list[_Node]:
    found: list[_Node] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        found.append(cur)
        stack.extend(c for c in reversed(cur.children) if isinstance(c, _Node))
    return found


def _link_text_len(node: _Node) -> int:
    return sum(len(_plain(n)) for n in _walk(node) if n.tag == "a")


def _content_score(text: str) -> float:
    return len(_CJK.findall(text)) + 3.0 * len(_CJK_PUNCT.findall(text))


def _best_candidate(root: _Node) -> _Node:
    """Readability-style pick: paragraphs give their score to parent and grandparent."""
    scores: dict[int, float] = {}
    nodes: dict[int, _Node] = {}
    for node in _walk(root):
        if node.tag not in ("p", "div", "td", "section", "li", "span", "font", "pre"):
            continue
        own = "".join(c for c in node.children if isinstance(c, str))
        if node.tag == "p":
            own = _plain(node)
        own = own.strip()
        if len(own) < 20:
            continue
        score = _content_score(own)
        parent = node.parent if node.tag in ("p", "span", "font") else node
        for weight, target in ((1.0, parent), (0.5, parent.parent if parent else None)):
            if target is None:
                continue
            scores[id(target)] = scores.get(id(target), 0.0) + weight * score
            nodes[id(target)] = target
    if not scores:
        body = next((n for n in _walk(root) if n.tag == "body"), None)
        return body or root
    best: _Node | None = None
    best_score = -1.0
    for key, score in scores.items():
        node = nodes[key]
        total = len(_plain(node)) or 1
        link_density = _link_text_len(node) / total
        adjusted = score * (1.0 - min(link_density, 0.95))
        if adjusted > best_score:
            best, best_score = node, adjusted
    return best or root


def _contains(ancestor: _Node, node: _Node) -> bool:
    cur: _Node | None = node
    while cur is not None:
        if cur is ancestor:
            return True
        cur = cur.parent
    return False


def _title_and_meta(root: _Node, content: _Node, title_tag: str) -> list[str]:
    """The page title and a metadata line near it, unless already in the content."""
    order = _walk(root)
    h1 = next((n for n in order if n.tag == "h1" and _plain(n).strip()), None)
    lines: list[str] = []
    if h1 is not None and not _contains(content, h1):
        lines.append(_text_of(h1))
        start = order.index(h1)
        for node in order[start + 1 : start + 40]:
            if _contains(content, node) or _contains(node, content):
                break
            text = _text_of(node)
            if (
                text
                and len(text) <= 120
                and "\n" not in text
                and _META_LINE.search(text)
                and not any(n.tag in _BLOCK for n in _walk(node)[1:])
            ):
                lines.append(text)
                break
    elif h1 is None and title_tag:
        lines.append(title_tag)
    return lines


def html_to_text(html: str) -> str:
    """Reduce an HTML page to its article text (title, metadata line, paragraphs)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    root = builder.root
    title_node = next((n for n in _walk(root) if n.tag == "title"), None)
    title_tag = _SPACES.sub(" ", _plain(title_node)).strip() if title_node else ""
    _prune(root)

    articles = [n for n in _walk(root) if n.tag in ("article", "main")]
    content: _Node | None = None
    if articles:
        biggest = max(articles, key=lambda n: _content_score(_plain(n)))
        if _content_score(_plain(biggest)) >= 100:
            content = biggest
    if content is None:
        content = _best_candidate(root)
    body = _text_of(content)
    head = [line for line in _title_and_meta(root, content, title_tag) if line not in body[:300]]
    return _tidy("\n".join(head) + "\n\n" + body if head else body)
