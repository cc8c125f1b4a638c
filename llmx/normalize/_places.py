"""Place names resolved against the gazetteer: official names, parents, misplaced levels,
and a document's home region.

The divisions and their lookup tables are in :mod:`llmx.normalize._gazetteer`.

Rules that keep the lookups safe:

* Names are matched whole, never by substring of a longer name, so ``南太湖新区`` is
  not ``太湖县`` (安徽).
* Short names (``湖州``, ``浙江``) resolve provinces and cities. A county's short name
  (``吴兴``, ``鼓楼``) is accepted only where it is unambiguous *and* consistent with the
  surrounding levels or the document's home region; a county's full name (``鼓楼区``) is
  disambiguated by the same context and left unresolved when it stays ambiguous.
* Anything that is not an administrative division (``江宁滨江开发区``, ``吴兴美妆小镇``)
  belongs in ``park``; a division name at its start (``江宁``, ``宿州``) fills the levels
  above it.
* For the four municipalities (北京市, 天津市, 上海市, 重庆市) the municipality is both
  ``province`` and ``city``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from llmx.normalize._chinese import to_simplified
from llmx.normalize._gazetteer import MUNICIPALITIES, Division, Gazetteer, Place, code_within

__all__ = [
    "home_region",
    "official_name",
    "resolve_location",
]

_PARK_WORDS = re.compile(
    r"(开发区|新区|园区|产业园|工业园|科技园|物流园|高新区|经开区|保税区|综保区|自贸区|试验区|"
    r"示范区|合作区|集聚区|小镇|新城|新镇|镇|乡|街道|基地|港区|片区|园|城)$"
)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    s = to_simplified(value)
    s = re.sub(r"[\s,，、。;；:：\"'“”‘’()（）\[\]【】《》<>]+", "", s)
    return s or None


def _consistent(div: Division, anchor: Place | None) -> bool:
    if anchor is None or anchor.code is None:
        return False
    return code_within(div.code, anchor.code) or code_within(anchor.code, div.code)


def _pick(
    cands: list[Division], level: int | None, context: list[Place], require_context: bool
) -> Division | None:
    """Choose among same-named divisions, preferring ``level`` and consistency."""
    if not cands:
        return None
    if level is not None:
        at_level = [d for d in cands if d.level == level]
        cands = at_level or sorted(cands, key=lambda d: d.level)
    for anchor in context:
        hits = [d for d in cands if _consistent(d, anchor)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            cands = hits
    if require_context:
        return None
    if len(cands) == 1:
        return cands[0]
    top = min(d.level for d in cands)
    tops = [d for d in cands if d.level == top]
    return tops[0] if len(tops) == 1 else None


def _resolve_name(
    gaz: Gazetteer, name: str, level: int | None, context: list[Place]
) -> Division | None:
    """Resolve one whole field value to a division (full or safe short name)."""
    full = gaz.lookup(name, short=False)
    if full:
        strict = len(full) > 1 and any(d.level == 3 for d in full) and not context
        return _pick(full, level, context, require_context=strict)
    short = gaz.lookup(name, short=True)
    if not short:
        return None
    if all(d.level == 3 for d in short):
        # county short names: only when unambiguous and consistent (or nothing to check)
        hits = [d for d in short if any(_consistent(d, a) for a in context)]
        if len(hits) == 1:
            return hits[0]
        if not context and len(short) == 1 and level in (2, 3):
            return short[0]
        return None
    return _pick([d for d in short if d.level < 3] or short, level, context, False)


def _split_prefix(gaz: Gazetteer, text: str, context: list[Place]) -> tuple[list[Division], str]:
    """Peel division names off the start of ``text``: ``南京江宁滨江开发区`` -> 南京市, 江宁区."""
    found: list[Division] = []
    rest = text
    while len(rest) >= 2:
        hit: Division | None = None
        head = ""
        for n in range(min(len(rest), 12), 1, -1):
            head = rest[:n]
            ctx = ([gaz.place(found[-1])] if found else []) + context
            full = gaz.lookup(head, short=False)
            if full:
                hit = _pick(full, None, ctx, require_context=len(full) > 1)
            else:
                short = [d for d in gaz.lookup(head) if not found or d.level > found[-1].level]
                high = [d for d in short if d.level < 3]
                if high:
                    hit = _pick(high, None, ctx, require_context=False)
                elif short:
                    hits = [d for d in short if any(_consistent(d, a) for a in ctx)]
                    hit = hits[0] if len(hits) == 1 else None
            if hit is not None and found and not code_within(hit.code, found[-1].code):
                hit = None
            if hit is not None:
                break
        if hit is None:
            break
        found.append(hit)
        rest = rest[len(head) :]
    return found, rest


def _is_parkish(text: str) -> bool:
    return bool(_PARK_WORDS.search(text))


def resolve_location(
    province: str | None,
    city: str | None,
    district: str | None,
    park: str | None,
    *,
    home: Place | None = None,
) -> Place:
    """Official names for a model's location, parents filled, misplaced levels moved.

    ``home`` is the document's home region (:func:`home_region`); it disambiguates
    county names and fills the levels of a place the story only names by its park or
    not at all (an article about 湖州 implies 浙江省 湖州市).
    """
    gaz = Gazetteer.load()
    values = {
        1: _clean(province),
        2: _clean(city),
        3: _clean(district),
    }
    park_v = _clean(park)
    extra_parks: list[str] = []
    resolved: dict[int, Division] = {}
    unresolved: dict[int, str] = {}

    # Resolve from the top down so that higher levels disambiguate lower ones.
    for level in (1, 2, 3):
        value = values[level]
        if value is None:
            continue
        ctx = [gaz.place(d) for d in sorted(resolved.values(), key=lambda d: -d.level)]
        ctx += [home] if home is not None else []
        div = _resolve_name(gaz, value, level, ctx)
        if div is None:
            found, rest = _split_prefix(gaz, value, ctx)
            if found and (not rest or _is_parkish(rest)):
                for d in found:
                    resolved.setdefault(d.level, d)
                if rest:
                    extra_parks.append(value)
                continue
            if _is_parkish(value) or level < 3:
                extra_parks.append(value)
            else:
                unresolved[level] = value
            continue
        if div.level in resolved and resolved[div.level] != div:
            # two fields name different divisions at one level: keep the first
            continue
        resolved[div.level] = div
        if div.level == 1 and div.code[:2] in MUNICIPALITIES and 2 not in resolved:
            resolved[2] = div

    if park_v is None and extra_parks:
        park_v = extra_parks[0]
    if park_v is not None:
        ctx = [gaz.place(d) for d in sorted(resolved.values(), key=lambda d: -d.level)]
        ctx += [home] if home is not None else []
        found, _rest = _split_prefix(gaz, park_v, ctx)
        for d in found:
            if all(
                code_within(d.code, r.code) or code_within(r.code, d.code)
                for r in resolved.values()
            ):
                resolved.setdefault(d.level, d)

    # Most specific division consistent with all others.
    anchor: Division | None = None
    for level in (3, 2, 1):
        cand = resolved.get(level)
        if cand is None:
            continue
        if all(code_within(cand.code, o.code) for o in resolved.values() if o.level < cand.level):
            anchor = cand
            break
        unresolved.setdefault(level, cand.name)
    if anchor is None:
        if home is not None and home.code is not None and not unresolved:
            base = replace(home, park=park_v)
            return _keep_unresolved(base, unresolved)
        return Place(
            province=values[1] if 1 in unresolved else None,
            city=values[2] if 2 in unresolved else None,
            district=values[3] if 3 in unresolved else None,
            park=park_v,
        )

    place = gaz.place(anchor, park=park_v)
    if home is not None and home.code is not None and code_within(home.code, anchor.code):
        place = replace(home, park=park_v)
    return _keep_unresolved(place, unresolved)


def _keep_unresolved(place: Place, unresolved: dict[int, str]) -> Place:
    """Keep a model's value we could not resolve where the gazetteer gave nothing."""
    if 3 in unresolved and place.district is None:
        place = replace(place, district=unresolved[3])
    return place


def home_region(text: str) -> Place | None:
    """The document's home region: the most mentioned city (or county, or province).

    Mentions early in the text weigh more (a headline names the home city). A county's
    short name only counts when its city or province is also mentioned, so ``南太湖``
    never votes for 太湖县. The result is a county-level place when one county gets at
    least half of its city's weight, else the city, else the province.
    """
    if not text:
        return None
    gaz = Gazetteer.load()
    s = to_simplified(text)
    length = max(len(s), 1)
    hits: list[tuple[Division, float, bool]] = []
    for start, name in gaz.scanner.finditer(s):
        weight = 1.0 + (1.0 - start / length)
        full = gaz.full.get(name)
        if full:
            top = min(d.level for d in full)
            divs = [d for d in full if d.level == top]
            if len(divs) == 1:
                hits.append((divs[0], weight, False))
            continue
        short = gaz.short.get(name, [])
        high = [d for d in short if d.level < 3]
        if high:
            top = min(d.level for d in high)
            divs = [d for d in high if d.level == top]
            if len(divs) == 1:
                hits.append((divs[0], weight, False))
        elif len(short) == 1:
            hits.append((short[0], weight, True))
    if not hits:
        return None
    mentioned = {d.code for d, _, tentative in hits if not tentative}
    mentioned_prov = {c[:2] for c in mentioned}
    mentioned_city = {c[:4] for c in mentioned if c[2:] != "0000"}
    scores: dict[str, float] = defaultdict(float)
    for div, weight, tentative in hits:
        if tentative and div.code[:4] not in mentioned_city and div.code[:2] not in mentioned_prov:
            continue
        scores[div.code] += weight
    if not scores:
        return None
    city_scores: dict[str, float] = defaultdict(float)
    prov_scores: dict[str, float] = defaultdict(float)
    for code, score in scores.items():
        div = gaz.by_code[code]
        prov_scores[div.province_code] += score
        city = gaz.city_of(div)
        if city is not None:
            city_scores[city.code] += score
    if city_scores:
        best_city = max(city_scores, key=lambda c: city_scores[c])
        counties = {
            c: v
            for c, v in scores.items()
            if gaz.by_code[c].level == 3 and code_within(c, best_city) and c != best_city
        }
        if counties:
            best_county = max(counties, key=lambda c: counties[c])
            if counties[best_county] >= 0.5 * city_scores[best_city]:
                return gaz.place(gaz.by_code[best_county])
        return gaz.place(gaz.by_code[best_city])
    best_prov = max(prov_scores, key=lambda c: prov_scores[c])
    prov = gaz.by_code.get(best_prov)
    return gaz.place(prov) if prov else None


def official_name(name: str, *, home: Place | None = None) -> str | None:
    """The official full name of a division written ``name`` (``湖州`` -> ``湖州市``).

    Returns ``None`` when ``name`` is not a division or stays ambiguous (``鼓楼区``
    without a home region that picks one).
    """
    cleaned = _clean(name)
    if cleaned is None:
        return None
    context = [home] if home is not None else []
    div = _resolve_name(Gazetteer.load(), cleaned, None, context)
    return div.name if div is not None else None
