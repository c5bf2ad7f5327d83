// The gallery's windowed grid (wrapped in imagechat/components/gallery_grid.py).
//
// The state holds only a window of cards; `before`/`after` count the cards dropped above and below it.
// This component draws a spacer of their height on each side (so the scrollbar and the scroll position
// stay put when pages are dropped or restored), measures a row from the live grid (its column count and the
// height of a card, which is fixed by CSS), and asks for more through two sentinels just outside the window:
// onNearEnd / onNearStart get the window's key, so the state can ignore a duplicate or stale request.
//
// The first screen does not wait for the websocket: on a full page load, the head's inline script
// (imagechat/components/gallery_first.js) draws the first page's cards as a layer over this grid; it is removed
// here as soon as the state is `ready` (its first page loaded and drawn).
import React, { memo, useEffect, useLayoutEffect, useRef, useState } from "react";

// One card of the grid, re-rendered only when `version` changes. A page appended or dropped changes the
// state's list of cards, and without this every card of the window would render again (its menu, its
// buttons) for the sixty that are new. `version` must cover everything the card draws: see
// components/gallery_grid.py `gallery_card`. Its event handlers only carry the card's id, which is in it.
export const MemoCard = memo(({ children }) => children, (a, b) => a.version === b.version);

const MARGIN = "1200px 0px"; // start fetching about a screen and a half before the user gets there

export function GalleryWindow({
  before = 0, after = 0, windowKey = 0, hasMore = false, hasPrevious = false, ready = false,
  onNearEnd, onNearStart, children, id, className,
}) {
  const grid = useRef(null);
  const top = useRef(null);
  const end = useRef(null);
  const topSpace = useRef(null);
  const endSpace = useRef(null);
  const [row, setRow] = useState({ cols: 1, height: 0 });

  useLayoutEffect(() => {
    const drop = () => document.getElementById("gallery-early")?.remove();
    if (ready) drop();
    return drop; // also when the page is left before the state arrived
  }, [ready]);

  useLayoutEffect(() => {
    const el = grid.current;
    if (!el) return undefined;
    const measure = () => {
      const style = getComputedStyle(el);
      const cols = Math.max(1, style.gridTemplateColumns.split(" ").filter(Boolean).length);
      const card = el.firstElementChild;
      const height = card ? card.getBoundingClientRect().height + (parseFloat(style.rowGap) || 0) : 0;
      setRow((r) => (r.cols === cols && Math.abs(r.height - height) < 0.5 ? r : { cols, height }));
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // A new observer per window: its first callback reports a sentinel that is already near the viewport
  // (a tall screen, a short page), so loading goes on until the screen is filled.
  useEffect(() => {
    if (typeof IntersectionObserver === "undefined") return undefined;
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        const t = entry.target;
        if ((t === end.current || t === endSpace.current) && hasMore && onNearEnd) onNearEnd(windowKey);
        if ((t === top.current || t === topSpace.current) && hasPrevious && onNearStart) onNearStart(windowKey);
      }
    }, { rootMargin: MARGIN });
    // The spacers too: after a jump (Home, End, the scrollbar dragged) the viewport lands inside one, far
    // from the sentinels; pages then keep coming until the spacer has left the screen.
    for (const el of [top.current, end.current, topSpace.current, endSpace.current]) {
      if (el) observer.observe(el);
    }
    return () => observer.disconnect();
  }, [windowKey, hasMore, hasPrevious]);

  const rows = (n) => Math.ceil(n / row.cols);
  return (
    <div id={id} className={className}>
      <div ref={topSpace} className="gallery-spacer" aria-hidden="true"
        style={{ height: rows(before) * row.height }} />
      <div ref={top} className="gallery-sentinel" aria-hidden="true" />
      <div ref={grid} className="gallery-grid" role="list">{children}</div>
      <div ref={end} className="gallery-sentinel" aria-hidden="true" />
      <div ref={endSpace} className="gallery-spacer" aria-hidden="true"
        style={{ height: rows(after) * row.height }} />
    </div>
  );
}
