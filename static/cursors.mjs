// cwmn_web guests' pointers on the host's page. The worker sends the full list of guests'
// pointers ({op: 'cursors'}), their clicks ({op: 'ripple'}) and their drawing ({op: 'draw'},
// {op: 'draw clear'}; docs/control/drawing.md) in DOCUMENT coordinates (CSS px, like
// pageX/pageY); they are drawn in one overlay element, <cwmn-overlay
// data-cwmn-overlay>, appended to <html>: position fixed over the viewport, pointer-events
// none, its content in a closed shadow root, so the page's CSS cannot restyle it and it
// cannot restyle the page, and it never changes the page's layout or scroll size. Capture
// (capture.mjs) never mirrors it. The overlay is only in the page while it draws something.
import { dom } from './capture/dom.mjs';
import { DEFAULT_GUEST_COLOR, OVERLAY_ATTR as ATTR } from './dist/constants.mjs';

const MOVE_MS = 80;
const RIPPLE_MS = 600;
/** A pen stroke stays this long after its last point (or its end), its last PEN_FADE_MS
 * fading out; a laser's points fade out over LASER_MS each. */
const PEN_MS = 3000;
const PEN_FADE_MS = 600;
const LASER_MS = 1000;
/** Bounds against a flood of drawing: live strokes per guest (the oldest goes first) and
 * points per stroke (its oldest points go first). */
const MAX_STROKES = 20;
const MAX_POINTS = 2000;
/** Coordinates beyond this (px, either way) are not a page's: such points are dropped. */
const MAX_COORD = 1e7;
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
.d { position: absolute; left: 0; top: 0; width: 100%; height: 100%; overflow: hidden;
  pointer-events: none; }
.d polyline, .d line { fill: none; stroke-linecap: round; stroke-linejoin: round; }
.pen { stroke-width: 3.5; filter: drop-shadow(0 0 1px rgba(255, 255, 255, .9)); }
.laser line { stroke: #ff2d2d; stroke-width: 4; }
.laser { filter: drop-shadow(0 0 3px rgba(255, 45, 45, .9))
  drop-shadow(0 0 6px rgba(255, 80, 80, .6)); }
.laser circle { fill: #ff2d2d; stroke: #fff; stroke-width: 1.5; }
@media (prefers-reduced-motion: reduce) {
  .c { transition: none; }
  .r i { animation: none; opacity: .6; }
}
@media print { .c, .r, .d { display: none; } }
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
// String(guestId) → Map(String(stroke) → {guest, id, tool, color, points, last, done, el,
// line, times, segs, head}): a pen's <polyline> ``line``; a laser's ``times`` (when each
// point came), ``segs`` (the <line> that ends at each point, none for the first) and ``head``.
const drawings = new Map();
let layer = null; // the drawing's <svg>, its content in <g> moved with the page's scroll
let canvas = null;
let ticking = false;

/** Handle a worker message: ``{op: 'cursors', cursors}``, ``{op: 'ripple', x, y, color}``,
 * ``{op: 'draw', guestId, color, stroke, tool, points, done}`` or ``{op: 'draw clear',
 * guestId}``. ``attachShadow`` is the page's original one (the stub keeps it before patching
 * it). */
export function handle(message, attachShadow) {
  if (!message) return;
  if (message.op === 'cursors') {
    setCursors(Array.isArray(message.cursors) ? message.cursors : [], attachShadow);
  } else if (message.op === 'ripple') {
    addRipple(message, attachShadow);
  } else if (message.op === 'draw') {
    draw(message, attachShadow);
  } else if (message.op === 'draw clear') {
    clearDrawing(message.guestId);
    update(attachShadow);
  }
}

/** Remove every pointer, ripple and stroke, and the overlay. */
export function clear() {
  for (const c of cursors.values()) c.el.remove();
  cursors.clear();
  for (const r of ripples) { clearTimeout(r.timer); r.el.remove(); }
  ripples.clear();
  for (const guest of [...drawings.keys()]) clearDrawing(guest);
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
  const strokes = [];
  for (const drawing of drawings.values()) {
    for (const s of drawing.values()) {
      const r = s.el.getBoundingClientRect();
      strokes.push({
        guestId: s.guest, stroke: s.id, tool: s.tool, color: s.color, done: s.done,
        points: s.points.length / 2,
        segments: s.segs.filter(Boolean).length,
        opacity: Number(getComputedStyle(s.head || s.el).opacity),
        // Where it is drawn, in viewport px (its geometry; the stroke's width may be left out).
        box: { left: r.left, top: r.top, width: r.width, height: r.height },
      });
    }
  }
  return { attached, cursors: list, ripples: ripples.size, strokes };
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
    if (empty()) detach();
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

// -- drawing ----------------------------------------------------------------------------
function draw(message, attachShadow) {
  const guest = String(message.guestId);
  const key = String(message.stroke);
  let drawing = drawings.get(guest);
  let s = drawing && drawing.get(key);
  if (s && s.done) return; // ended: later points are not its
  const points = validPoints(message.points);
  if (!s) {
    if (!points.length) return; // a stroke that ends before it starts draws nothing
    ensureOverlay(attachShadow);
    if (!drawing) drawings.set(guest, drawing = new Map());
    while (drawing.size >= MAX_STROKES) removeStroke(drawing.values().next().value);
    const tool = message.tool === 'laser' ? 'laser' : 'pen';
    s = makeStroke(guest, key, tool, validColor(message.color));
    drawing.set(key, s);
  }
  addPoints(s, points);
  s.done = !!message.done;
  s.last = performance.now();
  update(attachShadow);
  if (!ticking) { ticking = true; requestAnimationFrame(tick); }
}

/** ``points`` ([x0, y0, x1, y1, ...]) without the pairs that are not finite numbers in a
 * page's range. */
function validPoints(points) {
  const out = [];
  if (!Array.isArray(points)) return out;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const x = points[i], y = points[i + 1];
    if (typeof x === 'number' && typeof y === 'number' && Math.abs(x) < MAX_COORD &&
        Math.abs(y) < MAX_COORD) out.push(x, y);
  }
  return out;
}

function makeStroke(guest, id, tool, color) {
  const el = dom.createElementNS(document, SVG_NS, 'g');
  el.setAttribute('class', tool);
  const s = { guest, id, tool, color, points: [], last: 0, done: false, el, line: null,
    times: [], segs: [], head: null };
  if (tool === 'pen') {
    s.line = dom.createElementNS(document, SVG_NS, 'polyline');
    s.line.setAttribute('stroke', color);
    el.appendChild(s.line);
  } else {
    s.head = dom.createElementNS(document, SVG_NS, 'circle');
    s.head.setAttribute('r', '5');
    el.appendChild(s.head);
  }
  canvas.appendChild(el);
  return s;
}

function addPoints(s, points) {
  if (!points.length) return;
  const now = performance.now();
  if (s.tool === 'pen') {
    s.points.push(...points);
    if (s.points.length > 2 * MAX_POINTS) s.points.splice(0, s.points.length - 2 * MAX_POINTS);
    // One point alone is drawn as a dot (a zero-length line with round caps).
    const shown = s.points.length === 2 ? [...s.points, ...s.points] : s.points;
    s.line.setAttribute('points', shown.join(' '));
    return;
  }
  for (let i = 0; i < points.length; i += 2) {
    const n = s.points.length;
    let seg = null; // from the last point to this one, fading with this one
    if (n) {
      seg = dom.createElementNS(document, SVG_NS, 'line');
      seg.setAttribute('x1', String(s.points[n - 2]));
      seg.setAttribute('y1', String(s.points[n - 1]));
      seg.setAttribute('x2', String(points[i]));
      seg.setAttribute('y2', String(points[i + 1]));
      s.el.insertBefore(seg, s.head);
    }
    s.segs.push(seg);
    s.points.push(points[i], points[i + 1]);
    s.times.push(now);
  }
  if (s.times.length > MAX_POINTS) dropLaserPoints(s, s.times.length - MAX_POINTS);
  s.head.setAttribute('cx', String(s.points[s.points.length - 2]));
  s.head.setAttribute('cy', String(s.points[s.points.length - 1]));
}

/** Forget a laser's ``count`` oldest points, and the segments that end or start at them. */
function dropLaserPoints(s, count) {
  for (const seg of s.segs.splice(0, count)) if (seg) seg.remove();
  s.points.splice(0, 2 * count);
  s.times.splice(0, count);
  if (s.segs[0]) { s.segs[0].remove(); s.segs[0] = null; }
}

/** Fade and remove what has had its time; again next frame while anything is drawn. */
function tick() {
  ticking = false;
  const now = performance.now();
  for (const drawing of [...drawings.values()]) {
    for (const s of [...drawing.values()]) {
      if (s.tool === 'pen') {
        const left = s.last + PEN_MS - now;
        if (left <= 0) removeStroke(s);
        else s.el.style.opacity = left < PEN_FADE_MS ? String(left / PEN_FADE_MS) : '';
        continue;
      }
      let gone = 0;
      while (gone < s.times.length && now - s.times[gone] >= LASER_MS) gone++;
      if (gone === s.times.length && (s.done || now - s.last >= LASER_MS)) {
        removeStroke(s);
        continue;
      }
      if (gone) dropLaserPoints(s, Math.min(gone, s.times.length - 1));
      for (let i = 0; i < s.times.length; i++) {
        const seg = s.segs[i];
        if (seg) seg.style.opacity = String(Math.max(0, 1 - (now - s.times[i]) / LASER_MS));
      }
      const age = now - s.times[s.times.length - 1];
      s.head.style.opacity = String(Math.max(0, 1 - age / LASER_MS));
    }
  }
  if (drawings.size) {
    if (!ticking) { ticking = true; requestAnimationFrame(tick); }
  } else if (empty()) {
    detach();
  }
}

function removeStroke(s) {
  s.el.remove();
  const drawing = drawings.get(s.guest);
  if (!drawing) return;
  drawing.delete(s.id);
  if (!drawing.size) drawings.delete(s.guest);
}

function clearDrawing(guestId) {
  const drawing = drawings.get(String(guestId));
  if (drawing) for (const s of [...drawing.values()]) removeStroke(s);
}

function strokeCount() {
  let n = 0;
  for (const drawing of drawings.values()) n += drawing.size;
  return n;
}

function empty() {
  return !cursors.size && !ripples.size && !strokeCount();
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
    // Drawn below the pointers: a guest's pointer shows over what it draws.
    layer = dom.createElementNS(document, SVG_NS, 'svg');
    layer.setAttribute('class', 'd');
    canvas = dom.createElementNS(document, SVG_NS, 'g');
    layer.appendChild(canvas);
    root.appendChild(layer);
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
  if (empty()) { detach(); return; }
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
  if (canvas) canvas.setAttribute('transform', 'translate(' + -now[0] + ',' + -now[1] + ')');
}

function place(item, at, instant) {
  const style = item.el.style;
  style.transition = instant ? 'none' : '';
  style.transform = 'translate(' + (item.x - at[0]) + 'px,' + (item.y - at[1]) + 'px)';
}
