/* The image detail view's keyboard, swipe and compare-slider behaviour (components/image_detail.py).

   Everything is delegated from the document, so it works for a view mounted, re-rendered or replaced at any
   time; the script installs itself once however often the page includes it. It never talks to the server:
   it presses the view's own buttons (#detail-prev, #detail-next), whose click handlers are the state's
   events, and moves the compare slider locally (a CSS variable), which needs no round trip while dragging.
   Esc is Radix's: the dialog closes itself; here it is only kept from closing while the user types. */
(() => {
  if (window.__imagechatDetail) return;
  window.__imagechatDetail = true;

  const SWIPE_PX = 50; // shortest horizontal travel that counts as a swipe
  const STEP = 5; // percent per arrow key; PageUp/PageDown move 20

  const view = () => document.getElementById("image-detail");
  const typing = (el) =>
    !!el && !!el.closest && !!el.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
  const press = (id) => {
    const button = document.getElementById(id);
    if (button && !button.disabled) button.click();
  };

  // ---------------------------------------------------------------- prev / next / Esc
  window.addEventListener(
    "keydown",
    (e) => {
      // Radix listens for Esc on the document in the capture phase; the window comes first.
      if (e.key === "Escape" && view() && typing(e.target) && view().contains(e.target)) e.stopPropagation();
    },
    true,
  );
  document.addEventListener("keydown", (e) => {
    const v = view();
    if (!v || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const t = e.target;
    if (typing(t)) return;
    // Menus, selects and sliders use the arrows themselves; so does anything outside the view (a dialog above it).
    if (t && t.closest && t.closest('[role="menu"], [role="listbox"], [role="slider"], [role="tablist"], [role="radiogroup"]'))
      return;
    if (t && t !== document.body && !v.contains(t)) return;
    e.preventDefault();
    press(e.key === "ArrowLeft" ? "detail-prev" : "detail-next");
  });

  // ---------------------------------------------------------------- swipe on the stage (phones)
  let touch = null;
  document.addEventListener(
    "touchstart",
    (e) => {
      const stage = e.target.closest && e.target.closest("#detail-stage");
      touch =
        stage && e.touches.length === 1 && !e.target.closest(".compare-slider, .mask-editor")
          ? { x: e.touches[0].clientX, y: e.touches[0].clientY }
          : null;
    },
    { passive: true },
  );
  document.addEventListener(
    "touchend",
    (e) => {
      if (!touch || e.changedTouches.length !== 1) return;
      const dx = e.changedTouches[0].clientX - touch.x;
      const dy = e.changedTouches[0].clientY - touch.y;
      touch = null;
      if (Math.abs(dx) >= SWIPE_PX && Math.abs(dx) > 1.5 * Math.abs(dy)) press(dx < 0 ? "detail-next" : "detail-prev");
    },
    { passive: true },
  );
  document.addEventListener("touchcancel", () => (touch = null), { passive: true });

  // ---------------------------------------------------------------- the compare slider
  const setPos = (box, value) => {
    const pos = Math.round(Math.max(0, Math.min(100, value)) * 10) / 10;
    box.dataset.pos = String(pos);
    box.style.setProperty("--pos", pos + "%");
    const handle = box.querySelector('[role="slider"]');
    if (handle) {
      handle.setAttribute("aria-valuenow", String(Math.round(pos)));
      handle.setAttribute("aria-valuetext", `${Math.round(pos)}% A, ${Math.round(100 - pos)}% B`);
    }
  };
  const posOf = (box) => {
    const v = parseFloat(box.dataset.pos);
    return Number.isFinite(v) ? v : 50;
  };
  const fromPointer = (box, clientX) => {
    const r = box.getBoundingClientRect();
    if (r.width > 0) setPos(box, ((clientX - r.left) / r.width) * 100);
  };

  let dragging = null;
  document.addEventListener("pointerdown", (e) => {
    const box = e.target.closest && e.target.closest(".compare-slider");
    if (!box || (e.pointerType === "mouse" && e.button !== 0)) return;
    dragging = { box, id: e.pointerId };
    try {
      box.setPointerCapture(e.pointerId);
    } catch (_) {
      /* the pointer is already gone */
    }
    fromPointer(box, e.clientX);
    const handle = box.querySelector('[role="slider"]');
    if (handle) handle.focus({ preventScroll: true });
    e.preventDefault();
  });
  document.addEventListener("pointermove", (e) => {
    if (dragging && e.pointerId === dragging.id) fromPointer(dragging.box, e.clientX);
  });
  const stop = (e) => {
    if (dragging && e.pointerId === dragging.id) dragging = null;
  };
  document.addEventListener("pointerup", stop);
  document.addEventListener("pointercancel", stop);

  document.addEventListener("keydown", (e) => {
    const handle = e.target.closest && e.target.closest('.compare-slider [role="slider"]');
    if (!handle) return;
    const box = handle.closest(".compare-slider");
    const now = posOf(box);
    const moves = {
      ArrowLeft: now - STEP,
      ArrowDown: now - STEP,
      ArrowRight: now + STEP,
      ArrowUp: now + STEP,
      PageDown: now - 20,
      PageUp: now + 20,
      Home: 0,
      End: 100,
    };
    if (!(e.key in moves)) return;
    e.preventDefault();
    e.stopPropagation();
    setPos(box, moves[e.key]);
  });
})();
