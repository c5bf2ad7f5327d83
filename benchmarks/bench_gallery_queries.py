"""Server time of the gallery's queries (core.gallery) at scale: 10,000 images in one account and 100,000 in the
database. p50/p95 of first page, next page, deep page (after ~9,000), count, text and prefix search, each
filter; then EXPLAIN (ANALYZE, BUFFERS) of each query's SQL, naming the indexes it used.

    python -m benchmarks.bench_gallery_queries [--count 10000] [--others 90000] [--runs 30]

Target: p95 <= 50 ms for search and filter server time. Runs in a throwaway database.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from benchmarks.common import environment, percentile

TARGET_MS = 50.0


@contextmanager
def _capture():
    from sqlalchemy import event

    from imagechat.db import get_engine

    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def explain(call: Callable[[], object]) -> tuple[float, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement the call sends (bar the tiny tsquery lookup): node types,
    indexes used, execution time, buffers; and the total execution time in PostgreSQL."""
    from imagechat.db import get_engine

    with _capture() as seen:
        call()
    lines, total = [], 0.0
    raw = get_engine().raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in seen:
            if "numnode" in statement or not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params)
            plan = cur.fetchone()[0]
            plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
            nodes = list(_plan_nodes(plan["Plan"]))
            indexes = sorted({n["Index Name"] for n in nodes if "Index Name" in n})
            seq = sorted({n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"})
            root = plan["Plan"]
            total += plan["Execution Time"]
            hit = root.get("Shared Hit Blocks", 0)
            read = root.get("Shared Read Blocks", 0)
            lines.append(f"indexes: {', '.join(indexes) or '-'}; seq scans: {', '.join(seq) or 'none'}; "
                         f"exec {plan['Execution Time']:.2f} ms; buffers hit={hit} read={read}; "
                         f"top: {root['Node Type']}")
        raw.rollback()
    finally:
        raw.close()
    return total, lines


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm: plan cache, buffers
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=90_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    runs = max(20, args.runs)

    with environment():
        from benchmarks.seed_gallery import seed
        from imagechat.core import gallery
        from imagechat.core.gallery import GalleryQuery as Q

        t = time.perf_counter()
        owner = seed("bench-gallery", args.count, args.others)
        took = time.perf_counter() - t
        print(f"seeded {args.count:,} + {args.others:,} images in {took:.1f} s "
              f"({(args.count + args.others) / took:,.0f} rows/s, including the picture pool)")

        first = gallery.page(owner, Q())
        all_ids = gallery.ids_matching(owner, Q())
        with_edits = gallery.ids_matching(owner, Q(has_edits=True), limit=1)
        deep_at = min(9000, len(all_ids) - 1)
        from imagechat.db import session_scope
        from imagechat.models import Image

        with session_scope() as s:
            row = s.get(Image, all_ids[deep_at])
            deep_cursor = gallery.encode_cursor("newest", row.created_at, row.id)
            newest = s.get(Image, all_ids[0]).created_at
        facets = gallery.facets(owner)
        album = facets.albums[0].id
        month_to = newest.date()
        month_from = month_to - timedelta(days=30)
        middle = all_ids[len(all_ids) // 2]
        detail_id = with_edits[0] if with_edits else middle

        cases: list[tuple[str, Callable[[], object], bool]] = [
            ("first page (60, newest)", lambda: gallery.page(owner, Q()), False),
            ("next page (cursor)", lambda: gallery.page(owner, Q(), cursor=first.next_cursor), False),
            (f"deep page (cursor after {deep_at:,})", lambda: gallery.page(owner, Q(), cursor=deep_cursor), False),
            ("first page, oldest first", lambda: gallery.page(owner, Q(sort="oldest")), False),
            ("count (all)", lambda: gallery.count(owner, Q()), False),
            ("search 'lighthouse' page", lambda: gallery.page(owner, Q(text="lighthouse")), True),
            ("search 'lighthouse' count", lambda: gallery.count(owner, Q(text="lighthouse")), True),
            ("prefix 'lig' page", lambda: gallery.page(owner, Q(text="lig")), True),
            ("prefix 'misty lig' page", lambda: gallery.page(owner, Q(text="misty lig")), True),
            ("prefix 's' page (very broad)", lambda: gallery.page(owner, Q(text="s")), True),
            ("search album name 'lisbon'", lambda: gallery.page(owner, Q(text="lisbon")), True),
            ("search + count 'golden harbour'", lambda: gallery.count(owner, Q(text="golden harbour")), True),
            ("filter style=watercolor", lambda: gallery.page(owner, Q(style="watercolor")), True),
            ("filter engine=diffusers", lambda: gallery.page(owner, Q(engine="diffusers")), True),
            ("filter model=gpt-image-2", lambda: gallery.page(owner, Q(model="gpt-image-2")), True),
            ("filter aspect=wide", lambda: gallery.page(owner, Q(aspect="wide")), True),
            ("filter size=224x384", lambda: gallery.page(owner, Q(size="224x384")), True),
            ("filter last 30 days", lambda: gallery.page(owner, Q(date_from=month_from, date_to=month_to)), True),
            ("filter favourites", lambda: gallery.page(owner, Q(favorites=True)), True),
            ("filter album", lambda: gallery.page(owner, Q(album_id=album)), True),
            ("filter tag=travel", lambda: gallery.page(owner, Q(tag="travel")), True),
            ("filter has edits", lambda: gallery.page(owner, Q(has_edits=True)), True),
            ("count favourites", lambda: gallery.count(owner, Q(favorites=True)), True),
            ("count has edits", lambda: gallery.count(owner, Q(has_edits=True)), True),
            ("combined: text+tag+style+wide", lambda: gallery.page(
                owner, Q(text="sea", tag="travel", style="watercolor", aspect="wide")), True),
            ("combined: fav+album+oldest", lambda: gallery.page(
                owner, Q(favorites=True, album_id=album, sort="oldest")), True),
            ("no match: tag=nowhere", lambda: gallery.page(owner, Q(tag="nowhere")), True),
            ("select all (ids_matching 10,000)", lambda: gallery.ids_matching(owner, Q()), False),
            ("facets", lambda: gallery.facets(owner), False),
            ("neighbours", lambda: gallery.neighbours(owner, Q(), middle), False),
            ("detail with lineage", lambda: gallery.detail(owner, detail_id), False),
        ]
        results = []
        for label, call, targeted in cases:
            samples = timed(call, runs)
            sql_ms, plan = explain(call)
            results.append((label, percentile(samples, 50), percentile(samples, 95), sql_ms, plan, targeted))
        header = "query (server time of the domain call)"
        width = max(len(header), *(len(r[0]) for r in results))
        print(f"\n{header:<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'SQL ms':>7}  "
              f"target p95 <= {TARGET_MS:.0f} ms  (n={runs} each; SQL = EXPLAIN ANALYZE execution, once)")
        for label, p50, p95, sql_ms, _, targeted in results:
            verdict = ("ok" if p95 <= TARGET_MS else "MISSED") if targeted else ""
            print(f"{label:<{width}}  {p50:8.2f}  {p95:8.2f}  {sql_ms:7.2f}  {verdict}")
        print(f"\nbulk actions on all {len(all_ids):,} images (once each; a web handler runs them in a thread):")
        from imagechat.core import organise

        bulk_album = organise.create_album(owner, "Bulk benchmark")
        for label, call in [
            ("star", lambda: organise.set_favorite(owner, all_ids, True)),
            ("add a tag", lambda: organise.add_tags(owner, all_ids, ["bulk"])),
            ("add to an album", lambda: organise.add_to_album(owner, bulk_album.id, all_ids)),
            ("remove from the album", lambda: organise.remove_from_album(owner, bulk_album.id, all_ids)),
            ("remove the tag", lambda: organise.remove_tags(owner, all_ids, ["bulk"])),
            ("delete", lambda: organise.delete_images(owner, all_ids)),
            ("undo the delete", lambda: organise.restore_images(owner, all_ids)),
        ]:
            t = time.perf_counter()
            changed = call()
            print(f"  {label}: {changed:,} rows in {(time.perf_counter() - t) * 1000:.0f} ms")
        print("\nquery plans (EXPLAIN ANALYZE, BUFFERS):")
        for label, *_, plan, _ in results:
            for line in plan:
                print(f"  {label}: {line}")

if __name__ == "__main__":
    main()
