/* The detail view's mask editor (components/image_detail.py, "Edit with a mask").

   The user paints over the large image on #mask-canvas, a canvas of the image's own pixel size laid over it:
   pointer events, so a mouse, a pen and a finger all paint (touch-action: none keeps the sheet from scrolling).
   Strokes are kept as data (points in image pixels, brush size, paint or erase), so Undo redraws all but the
   last one and Clear drops them all. Nothing goes to the server while painting.

   Apply (window.imagechatMask.apply, run by the Apply button's rx.call_script) exports a PNG of the image's
   size whose painted pixels are TRANSPARENT and the rest opaque (OpenAI's mask convention: alpha 0 = edit
   here), POSTs it to the editor's data-upload URL (api/masks.py, with the session cookie) and resolves to
   {ticket, prompt} for DetailState.apply_mask, or to null after saying in #mask-status what to fix. The image
   bytes never pass through Reflex state. Installed once, delegated from the document, so it works for an
   editor mounted or replaced at any time. */
(() => {
  if (window.imagechatMask) return;

  const COLOUR = "#ff2e88"; // shown at the canvas's CSS opacity; the mask itself only uses where paint is
  const editors = new WeakMap(); // canvas -> {strokes, current, mode}

  const canvas = () => document.getElementById("mask-canvas");
  const byId = (id) => document.getElementById(id);
  const stateOf = (c) => {
    let s = editors.get(c);
    if (!s) {
      s = { strokes: [], current: null, mode: "paint" };
      editors.set(c, s);
    }
    return s;
  };
  const brushPx = (c) => {
    const input = byId("mask-brush");
    const percent = Math.min(30, Math.max(1, Number(input && input.value) || 8));
    return Math.max(2, (percent / 100) * Math.min(c.width, c.height)); // a share of the shorter side
  };
  const at = (c, e) => {
    const r = c.getBoundingClientRect();
    return [((e.clientX - r.left) * c.width) / r.width, ((e.clientY - r.top) * c.height) / r.height];
  };
  const say = (text, error = true) => {
    const status = byId("mask-status");
    if (!status) return;
    status.textContent = text;
    status.dataset.kind = error ? "error" : "info";
  };

  // ---------------------------------------------------------------- drawing
  const begin = (ctx, stroke) => {
    ctx.globalCompositeOperation = stroke.mode === "erase" ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = COLOUR;
    ctx.lineWidth = stroke.size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  };
  const dot = (ctx, stroke, [x, y]) => {
    begin(ctx, stroke);
    ctx.beginPath();
    ctx.arc(x, y, stroke.size / 2, 0, Math.PI * 2);
    ctx.fill();
  };
  const line = (ctx, stroke, from, to) => {
    begin(ctx, stroke);
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  };
  const drawStroke = (ctx, stroke) => {
    dot(ctx, stroke, stroke.points[0]);
    for (let i = 1; i < stroke.points.length; i++) line(ctx, stroke, stroke.points[i - 1], stroke.points[i]);
  };
  const redraw = (c) => {
    const ctx = c.getContext("2d");
    ctx.save();
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.restore();
    for (const stroke of stateOf(c).strokes) drawStroke(ctx, stroke);
    ctx.globalCompositeOperation = "source-over";
  };
  const refreshButtons = (c) => {
    const s = stateOf(c);
    for (const id of ["mask-undo", "mask-clear"]) {
      const b = byId(id);
      if (b) b.disabled = s.strokes.length === 0;
    }
    for (const [id, mode] of [["mask-paint", "paint"], ["mask-erase", "erase"]]) {
      const b = byId(id);
      if (b) b.setAttribute("aria-pressed", String(s.mode === mode));
    }
  };
  const painted = (c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return true;
    return false;
  };

  // ---------------------------------------------------------------- the brush preview (mouse and pen)
  const showCursor = (c, e) => {
    const ring = c.parentElement && c.parentElement.querySelector(".mask-cursor");
    if (!ring) return;
    if (e.pointerType === "touch") {
      ring.style.display = "none";
      return;
    }
    const r = c.getBoundingClientRect();
    const d = (brushPx(c) * r.width) / c.width;
    ring.style.display = "block";
    ring.style.width = ring.style.height = `${d}px`;
    ring.style.left = `${e.clientX - r.left}px`;
    ring.style.top = `${e.clientY - r.top}px`;
  };
  const hideCursor = () => {
    const c = canvas();
    const ring = c && c.parentElement && c.parentElement.querySelector(".mask-cursor");
    if (ring) ring.style.display = "none";
  };

  // ---------------------------------------------------------------- pointer events
  document.addEventListener("pointerdown", (e) => {
    const c = e.target.closest && e.target.closest("#mask-canvas");
    if (!c || (e.pointerType === "mouse" && e.button !== 0)) return;
    const s = stateOf(c);
    if (s.current) return; // a second finger does not start a second stroke
    e.preventDefault();
    try {
      c.setPointerCapture(e.pointerId);
    } catch (_) {
      /* the pointer is already gone */
    }
    s.current = { mode: s.mode, size: brushPx(c), points: [at(c, e)], pointer: e.pointerId };
    dot(c.getContext("2d"), s.current, s.current.points[0]);
    say("", false);
  });
  document.addEventListener("pointermove", (e) => {
    const c = canvas();
    if (!c) return;
    if (e.target === c) showCursor(c, e);
    const s = stateOf(c);
    if (!s.current || e.pointerId !== s.current.pointer) return;
    const ctx = c.getContext("2d");
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = at(c, ev);
      const last = s.current.points[s.current.points.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 0.5) continue;
      line(ctx, s.current, last, p);
      s.current.points.push(p);
    }
  });
  const end = (e) => {
    const c = canvas();
    if (!c) return;
    const s = stateOf(c);
    if (!s.current || e.pointerId !== s.current.pointer) return;
    s.strokes.push(s.current);
    s.current = null;
    c.getContext("2d").globalCompositeOperation = "source-over";
    refreshButtons(c);
  };
  document.addEventListener("pointerup", end);
  document.addEventListener("pointercancel", end);
  document.addEventListener("pointerout", (e) => {
    if (e.target && e.target.id === "mask-canvas") hideCursor();
  });

  // ---------------------------------------------------------------- tools
  const undo = (c) => {
    const s = stateOf(c);
    if (!s.strokes.length) return;
    s.strokes.pop();
    redraw(c);
    refreshButtons(c);
  };
  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("#mask-paint, #mask-erase, #mask-undo, #mask-clear");
    const c = canvas();
    if (!button || !c) return;
    const s = stateOf(c);
    if (button.id === "mask-paint") s.mode = "paint";
    else if (button.id === "mask-erase") s.mode = "erase";
    else if (button.id === "mask-undo") undo(c);
    else if (button.id === "mask-clear") {
      s.strokes = [];
      redraw(c);
    }
    refreshButtons(c);
  });
  document.addEventListener("keydown", (e) => {
    const c = canvas();
    if (!c) return;
    const t = e.target;
    if (t && t.id === "mask-prompt" && e.key === "Enter" && !e.isComposing) {
      e.preventDefault();
      const apply = byId("mask-apply");
      if (apply && !apply.disabled) apply.click();
      return;
    }
    const typing = t && t.closest && t.closest("input, textarea, [contenteditable='true']");
    if (!typing && (e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z") {
      e.preventDefault();
      undo(c);
    }
  });
  document.addEventListener("input", (e) => {
    if (e.target && e.target.id === "mask-brush") hideCursor();
    if (e.target && e.target.id === "mask-prompt") say("", false); // what was missing is being typed
  });

  // ---------------------------------------------------------------- Apply
  const exportMask = (c) => {
    const m = document.createElement("canvas");
    m.width = c.width;
    m.height = c.height;
    const ctx = m.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, m.width, m.height); // opaque: keep
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(c, 0, 0); // painted pixels become transparent: change here
    return new Promise((resolve, reject) =>
      m.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no PNG"))), "image/png"),
    );
  };

  const apply = async () => {
    const c = canvas();
    const editor = byId("mask-editor");
    const input = byId("mask-prompt");
    const button = byId("mask-apply");
    if (!c || !editor) return null;
    if (stateOf(c).current) return null; // still painting
    if (!painted(c)) {
      say("Paint over the part of the image to change first.");
      return null;
    }
    const prompt = ((input && input.value) || "").trim();
    if (!prompt) {
      say("Say what should change in the painted area, for example \u201cadd a boat\u201d.");
      if (input) input.focus();
      return null;
    }
    if (button) button.disabled = true;
    say("Sending the painted area\u2026", false);
    try {
      const blob = await exportMask(c);
      const response = await fetch(editor.dataset.upload, {
        method: "POST",
        body: blob,
        headers: { "Content-Type": "image/png" },
        credentials: "same-origin",
      });
      let body = {};
      try {
        body = await response.json();
      } catch (_) {
        /* not JSON: said below */
      }
      if (!response.ok || typeof body.ticket !== "string") {
        say(
          typeof body.message === "string"
            ? body.message
            : `The painted area could not be sent (HTTP ${response.status}). Press Apply again.`,
        );
        return null;
      }
      say("Starting the edit\u2026", false);
      return { ticket: body.ticket, prompt };
    } catch (_) {
      say("The painted area could not be sent. Check the connection and press Apply again.");
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  };

  // A new editor (the view opened it, or React mounted a fresh canvas): fresh strokes, tools to match.
  let seen = null;
  new MutationObserver(() => {
    const c = canvas();
    if (c && c !== seen) refreshButtons(c);
    seen = c;
  }).observe(document.documentElement, { childList: true, subtree: true });

  window.imagechatMask = { apply };
})();
