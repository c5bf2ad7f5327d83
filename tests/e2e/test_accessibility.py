"""Accessibility basics (issue "Hardening", point 8), checked in Chromium on the log-in, chat and gallery pages,
desktop and phone (and the phone's conversation drawer):

- axe-core (npm, pinned and installed into .tools/ by scripts/setup.sh) reports no serious or critical violation,
  colour contrast included (a second pass makes text over gradients and Radix cards decidable);
- every input, textarea, select and button has a non-empty accessible name (computed by axe);
- every Tab stop is in sight and shows a focus indicator: an outline or box-shadow appears with focus, and it
  changes pixels (a screenshot of the element's area, focused and then with focus removed).
Also the toast shown when the server cannot be reached. Screenshots: artifacts/screenshots/a11y-*.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ROOT
from tests.e2e.helpers import PASSWORD, SUNSET, send, sign_up

pytestmark = pytest.mark.e2e

AXE = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
CASES = [(v, p) for v in VIEWPORTS for p in ("login", "chat", "gallery")] + [("phone", "drawer")]
MAX_TAB_STOPS = 60

# Violations as plain data: id, impact, help and, per node, its CSS target and axe's failure summary.
# "incomplete" are the checks axe could not decide (e.g. text over an image or a gradient): printed for review.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations', 'incomplete']});
  const plain = list => list.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary})),
  }));
  return {violations: plain(result.violations), incomplete: plain(result.incomplete)};
}"""

# axe cannot decide colour contrast over a gradient or over Radix cards (their background is a ::before), so it
# files nearly every text as "incomplete". This pass makes the backgrounds decidable and runs color-contrast alone:
# each card's ::before background moves onto the card, and each gradient becomes one solid colour, its first stop
# ("first") or its last stop ("last"): the two ends bound the contrast of any text over the gradient.
CONTRAST = """async which => {
  const style = document.createElement('style');
  style.textContent = '.rt-BaseCard { background-color: var(--color-panel); } .rt-BaseCard::before { content: none; }';
  document.head.append(style);
  const changed = [];
  for (const el of document.querySelectorAll('*')) {
    const stops = getComputedStyle(el).backgroundImage.includes('gradient(')
      ? getComputedStyle(el).backgroundImage.match(/(rgba?|color|oklch|oklab)\\([^)]*\\)/g) || [] : [];
    if (!stops.length) continue;
    changed.push([el, el.getAttribute('style')]);
    el.style.setProperty('background-image', 'none', 'important');
    el.style.setProperty('background-color', which === 'first' ? stops[0] : stops[stops.length - 1], 'important');
  }
  try {
    const result = await axe.run(document, {runOnly: ['color-contrast'], resultTypes: ['violations', 'incomplete']});
    const plain = list => list.map(v => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary})),
    }));
    return {violations: plain(result.violations), incomplete: plain(result.incomplete), gradients: changed.length};
  } finally {
    style.remove();
    for (const [el, css] of changed) css === null ? el.removeAttribute('style') : el.setAttribute('style', css);
  }
}"""

# Every rendered input/textarea/select/button whose accessible name (axe's computation) is empty. Controls under
# aria-hidden (the page behind an open drawer) are not exposed at all; the same page without the drawer checks them.
UNNAMED_CONTROLS = """() => {
  axe.setup(document);
  try {
    return [...document.querySelectorAll('input, textarea, select, button')]
      .filter(el => el.type !== 'hidden' && el.checkVisibility() && !el.closest('[aria-hidden="true"]'))
      .filter(el => !axe.commons.text.accessibleText(el).trim())
      .map(el => el.outerHTML.slice(0, 200));
  } finally {
    axe.teardown();
  }
}"""

# The look of the focus indicator: outline and box-shadow of the element, its first child and its three nearest
# ancestors (Radix tabs draw the ring on an inner span, text fields on a wrapper; the composer on its shell).
RING = """el => {
  const out = [];
  const chain = [el, el.firstElementChild, el.parentElement, el.parentElement?.parentElement,
                 el.parentElement?.parentElement?.parentElement];
  for (const e of chain) {
    if (!e) { out.push({outline: '', shadow: ''}); continue; }
    const s = getComputedStyle(e);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0
      && s.outlineColor !== 'rgba(0, 0, 0, 0)' ? `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}` : '';
    out.push({outline, shadow: s.boxShadow === 'none' ? '' : s.boxShadow});
  }
  return out;
}"""

# The focused element: a description, its ring, the area where a ring would show (its box, or its first child's
# when it is an inline wrapper, plus a margin, within the viewport), and whether it can be seen at all (some
# point of it is not covered by another element such as the sticky header or composer). Remembers it as the
# current stop; `seen` is true once Tab has come back round to an earlier stop.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  window.__a11yStops = window.__a11yStops || [];
  const seen = window.__a11yStops.includes(el);
  window.__a11yStops.push(el);
  window.__a11yCurrent = el;
  const label = el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40) || el.id || '';
  let r = el.getBoundingClientRect();
  if ((r.width < 2 || r.height < 2) && el.firstElementChild) r = el.firstElementChild.getBoundingClientRect();
  const pad = 12;
  const x = Math.max(0, r.left - pad), y = Math.max(0, r.top - pad);
  const clip = {x, y, width: Math.min(innerWidth, r.right + pad) - x,
                height: Math.min(innerHeight, r.bottom + pad) - y};
  const points = [[0.5, 0.5], [0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]];
  const uncovered = points.some(([fx, fy]) => {
    const hit = document.elementFromPoint(r.left + fx * r.width, r.top + fy * r.height);
    return hit && hit !== document.body && hit !== document.documentElement && (el.contains(hit) || hit.contains(el));
  });
  return {seen, desc: `<${el.tagName.toLowerCase()}> ${label}`.trim(), ring: (RING)(el), clip, uncovered};
}""".replace("(RING)", f"({RING})")


def _format(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for n in v["nodes"]:
            lines.append(f"    {' '.join(map(str, n['target']))}  {n['html'][:160]}")
            lines.extend(f"        {s}" for s in (n["summary"] or "").splitlines())
    return "\n".join(lines)


def audit(page: Page, where: str) -> None:
    """axe (no serious/critical), accessible names, and a visible focus ring on every Tab stop."""
    check_axe(page, where)
    unnamed = page.evaluate(UNNAMED_CONTROLS)
    assert not unnamed, f"{where}: controls without an accessible name:\n" + "\n".join(unnamed)
    _check_focus_ring(page, where)


def check_axe(page: Page, where: str) -> None:
    """No serious or critical axe violation, colour contrast over gradients included."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/setup.sh (npm install --prefix .tools axe-core)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(RUN_AXE)
    violations = result["violations"]
    if violations:
        print(f"\n[a11y] {where}: all axe violations\n{_format(violations)}")
    undecided = [v for v in result["incomplete"] if v["id"] != "color-contrast"]  # the CONTRAST pass decides those
    if undecided:
        print(f"\n[a11y] {where}: axe could not decide (review by eye)\n{_format(undecided)}")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{where}: serious/critical axe violations:\n{_format(bad)}"
    for which in ("first", "last"):
        contrast = page.evaluate(CONTRAST, which)
        label = f"{where}, colour contrast with each gradient's {which} stop ({contrast['gradients']} gradients)"
        if contrast["incomplete"]:
            print(f"\n[a11y] {label}: still undecided (review by eye)\n{_format(contrast['incomplete'])}")
        assert not contrast["violations"], f"{label}:\n{_format(contrast['violations'])}"


def _ring_added(on: list[dict], off: list[dict]) -> bool:
    """Focus added or changed an outline or box-shadow somewhere in the ring chain."""
    return any((f["outline"] or f["shadow"]) and (f["outline"] != b["outline"] or f["shadow"] != b["shadow"])
               for f, b in zip(on, off, strict=True))


def _check_focus_ring(page: Page, where: str) -> None:
    """Tab round the page; every stop must be in sight, and focusing it must add an outline or box-shadow (computed
    styles) that really changes pixels (a screenshot of its area focused, then with focus removed)."""
    page.evaluate("() => { window.__a11yStops = []; }")
    stops, problems = [], []
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        page.wait_for_timeout(50)
        info = page.evaluate(FOCUSED)
        if info is None:
            continue
        if info["seen"]:
            break
        stops.append(info["desc"])
        clip = info["clip"]
        if not info["uncovered"] or clip["width"] <= 0 or clip["height"] <= 0:
            problems.append(f"{info['desc']}: focused but hidden (off screen or under another element)")
            continue
        focused = page.screenshot(clip=clip, animations="disabled")
        page.evaluate("() => window.__a11yCurrent.blur()")
        page.wait_for_timeout(50)
        ring_off = page.evaluate(f"() => ({RING})(window.__a11yCurrent)")
        blurred = page.screenshot(clip=clip, animations="disabled")
        page.evaluate("() => window.__a11yCurrent.focus({preventScroll: true})")  # Tab goes on from here
        if not _ring_added(info["ring"], ring_off):
            problems.append(f"{info['desc']}: no outline or box-shadow appears with focus {json.dumps(info['ring'])}")
        elif focused == blurred:
            problems.append(f"{info['desc']}: the focus ring changes no pixel in {clip}")
    assert stops, f"{where}: Tab focused nothing"
    assert not problems, f"{where}: focus is not visible on:\n    " + "\n    ".join(problems) + (
        "\nTab order: " + " | ".join(stops))
    print(f"[a11y] {where}: {len(stops)} Tab stops, each with a visible focus ring")


@pytest.fixture(scope="module")
def account(browser: Browser, base_url: str) -> str:
    """One user with two finished images (a chat turn and an /imagine) and a conversation in the sidebar."""
    ctx = browser.new_context(base_url=base_url)
    try:
        page = ctx.new_page()
        name = sign_up(page)
        send(page, SUNSET)
        expect(page.locator(".assistant-message").last.locator(".job-done")).to_be_visible(timeout=60_000)
        send(page, "/imagine a quiet lake with a red boat")
        expect(page.locator(".assistant-message .job-done")).to_have_count(2, timeout=60_000)
        return name
    finally:
        ctx.close()


def _log_in(page: Page, name: str) -> None:
    page.goto("/login")
    page.locator("#login-username").fill(name)
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-submit").click()
    expect(page.locator("#user-menu")).to_be_visible()


def _images_loaded(page: Page, selector: str, count: int) -> None:
    images = page.locator(selector)
    expect(images).to_have_count(count)
    for i in range(count):
        images.nth(i).scroll_into_view_if_needed()  # lazy images load once near the viewport
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)", arg=selector)
    page.evaluate("() => window.scrollTo(0, 0)")


@pytest.mark.parametrize(("viewport", "where"), CASES, ids=[f"{p}-{v}" for v, p in CASES])
def test_accessibility(request, browser: Browser, base_url: str, screenshots_dir: Path, viewport, where):
    # bypass_csp: the app's Content-Security-Policy forbids inline scripts, and add_script_tag injects one.
    ctx = browser.new_context(base_url=base_url, bypass_csp=True, **VIEWPORTS[viewport])
    try:
        page = ctx.new_page()
        shot = screenshots_dir / f"a11y-{where}-{viewport}.png"
        if where == "login":
            page.goto("/login")
            expect(page.locator("#login-username")).to_be_visible()
            page.screenshot(path=shot, full_page=True)
            audit(page, f"log-in ({viewport})")
            page.get_by_role("tab", name="Sign up").click()
            expect(page.locator("#signup-username")).to_be_visible()
            page.screenshot(path=screenshots_dir / f"a11y-signup-{viewport}.png", full_page=True)
            audit(page, f"sign-up ({viewport})")
            page.get_by_role("tab", name="Log in").click()
            for field, label in (("login-username", "Username"), ("login-password", "Password")):
                expect(page.get_by_label(label, exact=True)).to_have_id(field)  # the <label> is associated
            return

        _log_in(page, request.getfixturevalue("account"))  # only the signed-in pages need the images
        if where == "gallery":
            page.goto("/gallery")
            # The state's own cards (the early layer drawn from the first page's JSON goes when they come).
            expect(page.locator("#gallery-count")).not_to_have_text("Loading…")
            _images_loaded(page, ".gallery-item img", 2)
        else:
            expect(page.locator("#conversation-list .conversation").first).to_be_attached()
            _images_loaded(page, "img.generated-image", 2)
        if where == "drawer":
            page.locator("#menu-button").click()
            drawer_list = page.locator("#conversation-list").last
            expect(drawer_list).to_be_visible()
            page.wait_for_function("() => [...document.querySelectorAll('#conversation-list')].pop()"
                                   ".getBoundingClientRect().left >= 0")  # the slide-in has finished
            page.wait_for_timeout(300)
            page.screenshot(path=shot)
        else:  # the chat's header and composer are sticky: a full-page shot would draw them mid-page
            page.screenshot(path=shot, full_page=where == "gallery")
        audit(page, f"{where} ({viewport})")
    finally:
        ctx.close()


def test_connection_lost_toast(browser: Browser, base_url: str, screenshots_dir: Path):
    """The toast Reflex shows when the websocket cannot connect is readable too (its red text was 4.34:1)."""
    ctx = browser.new_context(base_url=base_url, bypass_csp=True, **VIEWPORTS["desktop"])
    try:
        page = ctx.new_page()
        page.goto("/login")
        expect(page.locator("#login-username")).to_be_visible()
        ctx.set_offline(True)  # the socket drops ("offline" event) and every reconnection attempt fails
        page.evaluate("() => window.dispatchEvent(new Event('offline'))")
        expect(page.locator("[data-sonner-toast]")).to_contain_text("Cannot connect to server", timeout=30_000)
        page.wait_for_timeout(600)  # sonner's fade-in: axe weighs opacity into contrast
        page.screenshot(path=screenshots_dir / "a11y-connection-lost-desktop.png")
        check_axe(page, "log-in with the connection-lost toast")
    finally:
        ctx.close()
