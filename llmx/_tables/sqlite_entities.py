"""Entities inside the SQLite store: mentions -> candidate links -> entities.

The mentions of one export sit in the SQLite file (:class:`~llmx._tables.sqlite.SQLiteTables`)
with their matching features and block keys in scratch tables. Per list table, blocks of
two or more mentions stream out in order and :func:`~llmx._tables.entities.link_blocks`
scores the pairs of each; the candidate links go back to a scratch table and are
resolved one connected component at a time, strongest first
(:class:`~llmx._tables.entities.Clusters`). Memory holds a window of a block, one
component, and two integers per mention (the union-find arrays). Each accepted link is
written to ``<list>_links``, each mention gets its entity's id, and one ``<list>_entities``
row is written per entity.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from llmx._tables.entities import (
    MAX_BLOCK,
    Clusters,
    Features,
    Link,
    MatchPlan,
    UnionFind,
    canonical_row,
    link_blocks,
)
from llmx._tables.flatten import ListTable
from llmx._tables.sqlite import BATCH, SQLiteTables, batched, ident, sql_value

__all__ = ["match_entities"]


def match_entities(store: SQLiteTables) -> dict[str, int]:
    """Match the store's mentions into entities and write the entities and links tables;
    the number of entities per list table (none with entities off)."""
    return EntityMatcher(store).match()


class EntityMatcher:
    """Matches the mentions of one store, list table by list table."""

    def __init__(self, store: SQLiteTables) -> None:
        self.store = store
        self.conn = store.conn
        #: features of the mentions of the component being resolved
        self._component_features: dict[int, Features] = {}

    def match(self) -> dict[str, int]:
        """Match mentions into entities and write the entities and links tables.

        Candidate links go to a scratch table; they are then joined strongest first
        (:class:`~llmx._tables.entities.Clusters`), and each accepted one is written to
        ``<list>_links``. Returns the number of entities per list table.
        """
        counts: dict[str, int] = {}
        if not self.store.entities:
            return counts
        conn = self.conn
        for t in self.store.spec.lists:
            plan = self.store.plans[t.name]
            candidates = ident("links_" + t.name)
            conn.execute(
                f"CREATE TABLE scratch.{candidates} (a INTEGER, b INTEGER, score REAL, reason TEXT)"
            )
            large = {
                key
                for (key,) in conn.execute(
                    f"SELECT key FROM scratch.{ident('block_' + t.name)} GROUP BY key "
                    "HAVING count(*) > ?",
                    (MAX_BLOCK,),
                )
            }
            found_links = link_blocks(self._blocks(t.name), plan, large)
            for found in batched(found_links, BATCH):
                conn.executemany(
                    f"INSERT INTO scratch.{candidates} VALUES (?, ?, ?, ?)",
                    [(x.a, x.b, x.score, x.reason) for x in found],
                )
            size = self.store.last_mention_id(t.name)
            clusters = Clusters(size, self._component_features.__getitem__)
            links = self.store.tables[t.links]
            for joined in batched(self._resolve(t.name, size, clusters), BATCH):
                conn.executemany(
                    links.insert_sql(), [(None, x.a, x.b, x.score, x.reason) for x in joined]
                )
            table = ident(t.name)
            for moved in batched(clusters.roots(), BATCH):
                conn.executemany(
                    f"UPDATE {table} SET entity_id = "
                    f"(SELECT entity_id FROM {table} WHERE mention_id = ?) WHERE mention_id = ?",
                    [(root, mid) for mid, root in moved],
                )
            conn.execute(
                f"UPDATE {ident(t.links)} SET entity_id = (SELECT entity_id FROM {table} "
                f"WHERE {table}.mention_id = {ident(t.links)}.mention_id)"
            )
            # entities are read back in entity order: through this index, not a sort
            conn.execute(f"CREATE INDEX {ident(f'idx_{t.name}_entity_id')} ON {table}(entity_id)")
            counts[t.name] = self._write_entities(t, plan)
        return counts

    def _blocks(self, name: str) -> Iterator[tuple[str, int, Features, str]]:
        """``(block key, mention id, features, signature)`` of every block of two or more
        mentions, in block order, streamed."""
        block, match = ident("block_" + name), ident("match_" + name)
        cursor = self.conn.execute(
            f"SELECT b.key, b.mention_id, m.doc_id, m.features FROM scratch.{block} AS b "
            f"JOIN scratch.{match} AS m ON m.mention_id = b.mention_id WHERE b.key IN "
            f"(SELECT key FROM scratch.{block} GROUP BY key HAVING count(*) > 1) "
            "ORDER BY b.key, b.sort, b.mention_id"
        )
        for key, mid, doc_id, text in cursor:
            f = json.loads(text)
            f["d"] = doc_id
            yield key, mid, f, text

    def _resolve(self, name: str, size: int, clusters: Clusters) -> Iterator[Link]:
        """The candidate links that join groups, strongest first within each connected
        component of the candidate graph, one component at a time: only that component's
        links and its mentions' features are in memory while it is resolved."""
        conn = self.conn
        candidates = ident("links_" + name)
        components = UnionFind(size)
        for a, b in conn.execute(f"SELECT a, b FROM scratch.{candidates}"):
            components.union(a, b)
        ordered = f"scratch.{ident('ordered_' + name)}"
        conn.execute(
            f"CREATE TABLE {ordered} (comp INTEGER, a INTEGER, b INTEGER, score REAL, reason TEXT)"
        )
        rows = conn.execute(f"SELECT a, b, score, reason FROM scratch.{candidates}")
        for chunk in batched(((components.find(r[0]), *r) for r in rows), BATCH):
            conn.executemany(f"INSERT INTO {ordered} VALUES (?, ?, ?, ?, ?)", chunk)
        del components
        cursor = self.conn.cursor()
        cursor.execute(
            f"SELECT comp, a, b, score, reason FROM {ordered} ORDER BY comp, score DESC, a, b"
        )
        for _, rows_of_component in itertools.groupby(cursor, key=lambda r: r[0]):
            component = [Link(a, b, score, reason) for _, a, b, score, reason in rows_of_component]
            clusters.forget()
            self._load_component(name, {m for x in component for m in (x.a, x.b)})
            for link in component:
                if clusters.join(link):
                    yield link
        self._component_features.clear()

    def _load_component(self, name: str, ids: set[int]) -> None:
        """Load the features of one component's mentions (replacing the previous ones)."""
        self._component_features.clear()
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for mid, doc_id, text in self.conn.execute(
                f"SELECT mention_id, doc_id, features FROM scratch.{ident('match_' + name)} "
                f"WHERE mention_id IN ({marks})",
                chunk,
            ):
                f = json.loads(text)
                f["d"] = doc_id
                self._component_features[mid] = f

    def _write_entities(self, t: ListTable, plan: MatchPlan) -> int:
        """One entities row per entity_id, from its mentions read in entity order."""
        conn = self.conn
        table = self.store.tables[t.entities]
        mention_cols = [c.name for c in self.store.tables[t.name].columns]
        cursor = conn.cursor()
        cursor.execute(f"SELECT * FROM {ident(t.name)} ORDER BY entity_id, mention_id")
        batch: list[list[Any]] = []
        count = 0
        insert = table.insert_sql()
        at = mention_cols.index("entity_id")
        for eid, group in itertools.groupby(cursor, key=lambda r: r[at]):
            rows = [dict(zip(mention_cols, r, strict=True)) for r in group]
            doc_ids = list(dict.fromkeys(r["doc_id"] for r in rows))
            published = sorted(str(r["published"]) for r in rows if r.get("published"))
            row: dict[str, Any] = {
                "entity_id": eid,
                "mention_count": len(rows),
                "doc_count": len(doc_ids),
                "first_published": published[0] if published else None,
                "last_published": published[-1] if published else None,
                "doc_ids": doc_ids,
                **canonical_row(rows, plan),
            }
            batch.append([sql_value(row.get(c.name), c.kind) for c in table.columns])
            count += 1
            if len(batch) >= BATCH:
                conn.executemany(insert, batch)
                batch.clear()
        if batch:
            conn.executemany(insert, batch)
        return count
