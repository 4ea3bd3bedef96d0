// cwmn_web guests' pointers on the host's page. The worker sends the full list of guests'
// pointers ({op: 'cursors'}) and their clicks ({op: 'ripple'}) in DOCUMENT coordinates (CSS
// px, like pageX/pageY); they are drawn in one overlay element, <cwmn-overlay
// data-cwmn-overlay>, appended to <html>: position fixed over the viewport, pointer-events
// none, its content in a closed shadow root, so the page's CSS cannot restyle it and it
// cannot restyle the page, and it never changes the page's layout or scroll size. Capture
// (capture.mjs) never mirrors it. The overlay is only in the page while it draws something.
import { dom } from './capture/dom.mjs';
import { DEFAULT_GUEST_COLOR, OVERLAY_ATTR as ATTR } from './dist/constants.mjs';

const MOVE_MS = 80;
const RIPPLE_MS = 600;
// Inline and !important: the page's stylesheets lose to it, even their !important rules.
const HOST_CSS = [
  'all:initial', 'display:block', 'position:fixed', 'top:0', 'left:0', 'right:0', 'bottom:0',
  'margin:0', 'padding:0', 'border:0', 'pointer-events:none', 'z-index:2147483647',
  'overflow:hidden', 'contain:strict', 'visibility:visible', 'opacity:1',
].map((d) => d + '!important').join(';');
const SHEET = `
.c, .r { position: absolute; left: 0; top: 0; width: 0; height: 0; direction: ltr;
  pointer-events: none; }
.c { transition: transform ${MOVE_MS}ms linear; will-change: transform; }
.c svg { position: absolute; left: 0; top: 0; display: block; overflow: visible;
  filter: drop-shadow(0 1px 1.5px rgba(0, 0, 0, .35)); }
.c b { position: absolute; left: 13px; top: 17px; max-width: 16em; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; padding: 2px 6px; border-radius: 4px;
  background: var(--c); color: #fff; font: 600 12px/16px system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; letter-spacing: normal; text-shadow: 0 0 1px rgba(0,0,0,.4);
  box-shadow: 0 1px 2px rgba(0, 0, 0, .3); }
.c b:empty { display: none; }
.r i { position: absolute; left: -20px; top: -20px; width: 40px; height: 40px;
  box-sizing: border-box; border: 3px solid var(--c); border-radius: 50%; opacity: 0;
  animation: cwmn-ripple ${RIPPLE_MS}ms ease-out forwards; }
@keyframes cwmn-ripple {
  from { transform: scale(.2); opacity: .9; }
  to { transform: scale(1.5); opacity: 0; }
}
@media (prefers-reduced-motion: reduce) {
  .c { transition: none; }
  .r i { animation: none; opacity: .6; }
}
@media print { .c, .r { display: none; } }
`;
const ARROW = 'M1 1v16.5l4.3-4.2 2.9 6.5 2.9-1.3-2.9-6.4h6.1z';
const SVG_NS = 'http://www.w3.org/2000/svg';
const UNSET = {};

let host = null;
let root = null;
let listening = false;
let queued = false;
let origin = null; // where the overlay's top-left corner was, in document coordinates
const cursors = new Map(); // String(id) → {id, name, color, asked, x, y, el, label, fresh}
const ripples = new Set(); // {x, y, el, timer}

/** Handle a worker message: ``{op: 'cursors', cursors}`` or ``{op: 'ripple', x, y, color}``.
 * ``attachShadow`` is the page's original one (the stub keeps it before patching it). */
export function handle(message, attachShadow) {
  if (!message) return;
  if (message.op === 'cursors') {
    setCursors(Array.isArray(message.cursors) ? message.cursors : [], attachShadow);
  } else if (message.op === 'ripple') {
    addRipple(message, attachShadow);
  }
}

/** Remove every pointer and ripple, and the overlay. */
export function clear() {
  for (const c of cursors.values()) c.el.remove();
  cursors.clear();
  for (const r of ripples) { clearTimeout(r.timer); r.el.remove(); }
  ripples.clear();
  detach();
}

/** What is drawn, for tests and debugging (the shadow root stays closed). ``left``/``top``
 * are where the pointer's tip is drawn, in viewport px. */
export function debugState() {
  if (queued) render();
  const attached = !!host && host.parentNode === dom.documentElement(document);
  const list = [];
  for (const c of cursors.values()) {
    const r = c.el.getBoundingClientRect();
    list.push({
      id: c.id, name: c.name, color: c.color, left: r.left, top: r.top,
      visible: attached && r.left >= 0 && r.top >= 0 && r.left < innerWidth && r.top < innerHeight,
    });
  }
  return { attached, cursors: list, ripples: ripples.size };
}

function setCursors(list, attachShadow) {
  const seen = new Set();
  for (const item of list) {
    if (!item || !Number.isFinite(item.x) || !Number.isFinite(item.y)) continue;
    const key = String(item.id);
    if (seen.has(key)) continue;
    seen.add(key);
    let c = cursors.get(key);
    if (!c) {
      ensureOverlay(attachShadow);
      c = makeCursor(item.id);
      cursors.set(key, c);
    }
    c.x = item.x;
    c.y = item.y;
    const name = item.name == null ? '' : String(item.name);
    if (name !== c.name) { c.name = name; c.label.textContent = name; }
    if (item.color !== c.asked) {
      c.asked = item.color;
      c.color = validColor(item.color);
      c.el.style.setProperty('--c', c.color);
    }
  }
  for (const [key, c] of cursors) {
    if (!seen.has(key)) { c.el.remove(); cursors.delete(key); }
  }
  update(attachShadow);
}

function addRipple(message, attachShadow) {
  if (!Number.isFinite(message.x) || !Number.isFinite(message.y)) return;
  ensureOverlay(attachShadow);
  const el = dom.createElement(document, 'div');
  el.className = 'r';
  el.style.setProperty('--c', validColor(message.color));
  el.appendChild(dom.createElement(document, 'i'));
  const r = { x: message.x, y: message.y, el, timer: 0 };
  r.timer = setTimeout(() => {
    el.remove();
    ripples.delete(r);
    if (!cursors.size && !ripples.size) detach();
  }, RIPPLE_MS + 50);
  ripples.add(r);
  root.appendChild(el);
  update(attachShadow); // placed before the next paint
}

function makeCursor(id) {
  const el = dom.createElement(document, 'div');
  el.className = 'c';
  const svg = dom.createElementNS(document, SVG_NS, 'svg');
  svg.setAttribute('width', '18');
  svg.setAttribute('height', '22');
  svg.setAttribute('viewBox', '0 0 18 22');
  const path = dom.createElementNS(document, SVG_NS, 'path');
  path.setAttribute('d', ARROW);
  path.setAttribute('fill', 'var(--c)');
  path.setAttribute('stroke', '#fff');
  path.setAttribute('stroke-width', '1.5');
  path.setAttribute('stroke-linejoin', 'round');
  svg.appendChild(path);
  const label = dom.createElement(document, 'b');
  el.append(svg, label);
  root.appendChild(el);
  return { id, name: '', color: '', asked: UNSET, x: 0, y: 0, el, label, fresh: true };
}

function validColor(color) {
  const text = typeof color === 'string' ? color : '';
  return text && CSS.supports('color', text) ? text : DEFAULT_GUEST_COLOR;
}

// -- the overlay ------------------------------------------------------------------------
function ensureOverlay(attachShadow) {
  if (!host) {
    host = dom.createElement(document, 'cwmn-overlay');
    host.setAttribute(ATTR, '');
    host.setAttribute('aria-hidden', 'true');
    host.style.cssText = HOST_CSS;
    const attach = attachShadow || Element.prototype.attachShadow;
    root = attach ? attach.call(host, { mode: 'closed' }) : host;
    // A constructed sheet is not an inline <style>: a page CSP without 'unsafe-inline' allows it.
    const constructable = typeof CSSStyleSheet.prototype.replaceSync === 'function';
    if (root !== host && 'adoptedStyleSheets' in root && constructable) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(SHEET);
      root.adoptedStyleSheets = [sheet];
    } else {
      const style = dom.createElement(document, 'style');
      style.textContent = SHEET;
      root.appendChild(style);
    }
  }
  const html = dom.documentElement(document);
  // The page may have removed it (a single-page app replacing <html>'s children).
  if (html && host.parentNode !== html) { html.appendChild(host); origin = null; }
  if (!listening) {
    listening = true;
    dom.addEventListener(window, 'scroll', schedule, { passive: true });
    dom.addEventListener(window, 'resize', schedule, { passive: true });
  }
}

function detach() {
  if (host) host.remove();
  origin = null;
  if (listening) {
    listening = false;
    dom.removeEventListener(window, 'scroll', schedule);
    dom.removeEventListener(window, 'resize', schedule);
  }
}

function update(attachShadow) {
  if (!cursors.size && !ripples.size) { detach(); return; }
  ensureOverlay(attachShadow);
  schedule();
}

function schedule() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { if (queued) render(); });
}

function currentOrigin() {
  // Normally (0, 0) in the viewport; not when <html> has a transform or filter (then a fixed
  // element is positioned against <html>, and scrolls with it).
  if (!host || !host.isConnected) return [scrollX, scrollY];
  const r = host.getBoundingClientRect();
  return [scrollX + r.left, scrollY + r.top];
}

/** Put every pointer and ripple where it belongs in the viewport. */
function render() {
  queued = false;
  if (!host) return;
  const now = currentOrigin();
  // Scrolled (or resized, zoomed): everything jumps with the page; only moves animate.
  const jump = !origin || now[0] !== origin[0] || now[1] !== origin[1];
  origin = now;
  for (const c of cursors.values()) {
    place(c, now, jump || c.fresh);
    c.fresh = false;
  }
  for (const r of ripples) place(r, now, true);
}

function place(item, at, instant) {
  const style = item.el.style;
  style.transition = instant ? 'none' : '';
  style.transform = 'translate(' + (item.x - at[0]) + 'px,' + (item.y - at[1]) + 'px)';
}
