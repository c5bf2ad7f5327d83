// Inlined in the head of every page (components/gallery_grid.py: early_first_page_script; the CSP allows it by
// its hash, like the build's other inline scripts). On a full page load of /gallery it asks for the first page
// of cards (imagechat/api/gallery.py: the same query, the same cards as the state's) at once, in parallel with
// the scripts, and draws them as a layer over the still-empty grid, so the first screen of thumbnails does not
// wait for React to hydrate and the websocket to deliver the state. The layer is inert (no pointer events,
// hidden from assistive technology: the real cards follow within moments) and is built with DOM calls only
// (text is never parsed as HTML). assets/gallery-window.jsx removes it as soon as the state's cards are drawn.
// React leaves it alone: it is a child of <body> that React did not render.
(function () {
  if (!/^\/gallery\/?$/.test(window.location.pathname)) return;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function card(c) {
    var item = el("div", "gallery-item");
    item.setAttribute("data-id", c.id);
    var box = el("div", "gallery-open");
    var img = el("img");
    img.src = c.thumb;
    img.alt = "";
    img.width = c.width;
    img.height = c.height;
    box.appendChild(img);
    item.appendChild(box);
    var text = el("div", "gallery-card-text");
    var prompt = el("p", "gallery-prompt");
    if (!c.segments.length) prompt.textContent = c.prompt;
    c.segments.forEach(function (s) { prompt.appendChild(el(s.hit ? "mark" : "span", "", s.text)); });
    text.appendChild(prompt);
    var facts = el("div", "gallery-facts");
    facts.appendChild(el("span", "gallery-meta", (c.style ? c.style + " \u00b7 " : "") + c.meta));
    text.appendChild(facts);
    var tags = el("div", "gallery-tags");
    c.tags.forEach(function (t) { tags.appendChild(el("span", "gallery-tag", t)); });
    text.appendChild(tags);
    item.appendChild(text);
    return item;
  }

  function draw(cards) {
    var grid = document.querySelector("#gallery-window .gallery-grid");
    if (!grid || grid.children.length || document.getElementById("gallery-early")) return; // the state was first
    var r = grid.getBoundingClientRect();
    var layer = el("div", "gallery-grid gallery-early");
    layer.id = "gallery-early";
    layer.setAttribute("aria-hidden", "true");
    layer.style.cssText = "position:absolute;pointer-events:none;left:" + (r.left + window.scrollX) + "px;top:" +
      (r.top + window.scrollY) + "px;width:" + r.width + "px";
    cards.forEach(function (c) { layer.appendChild(card(c)); });
    document.body.appendChild(layer);
  }

  fetch("/api/gallery/first" + window.location.search, { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (d) {
      var cards = d && Array.isArray(d.cards) ? d.cards : [];
      if (!cards.length) return;
      // The grid is in the page's HTML, parsed long before the modules run (DOMContentLoaded waits for them).
      if (document.querySelector("#gallery-window .gallery-grid")) {
        draw(cards);
      } else {
        document.addEventListener("DOMContentLoaded", function () { draw(cards); });
      }
    })
    .catch(function () {});
})();
