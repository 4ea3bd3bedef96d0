// cwmn_web: what the visitor is always shown (docs/control/indicator.md). The worker sends
// `{op: 'badge', sharing, replay, guests, privacy, controller, badge, masked, rules}` on every
// change; this module shows
// - the sharing badge (iff sharing && badge): a small pill, bottom-right (draggable to another
//   corner), "Sharing this page · N guests" with Pause/Resume (CwmnAPI.privacy.setEnabled)
//   and Stop (CwmnAPI.session.endSession); while a guest controls the page, "<name> is
//   controlling", a Take back button (CwmnAPI.control.revoke) and a frame around the viewport;
// - the masked overlay (iff masked, in a session or not): a box over each element the guests
//   cannot see (the capture's rules: ./capture/privacy.mjs), kept in place on scroll, resize
//   and DOM changes, at most once per animation frame.
// Both are drawn in one element, <cwmn-badge data-cwmn-overlay>, appended to <html> (capture
// never mirrors it), its content in a closed shadow root made with the page's original
// attachShadow, its host styled inline and !important (the page's CSS does not hide it by
// accident). A site restyles it on purpose with custom properties set on :root
// (--cwmn-badge-bg, -fg, -accent, -bottom, -right, -font) and ::part(badge|text|pause|stop|
// take-back|frame|box); it replaces it with CwmnAPI.indicator.setEnabled(false) and its own
// UI. Its buttons act on the visitor's own (trusted) clicks and keys only: a guest in control
// cannot press Stop, Pause or Take back.
import { dom } from './capture/dom.mjs';
import { Privacy, isOverlay } from './capture/privacy.mjs';
import { DEFAULT_GUEST_COLOR, OVERLAY_ATTR } from './dist/constants.mjs';

/** At most this many boxes in the masked overlay (those in or near the viewport first). */
const MAX_BOXES = 500;
/** Boxes are made for elements this far (px) outside the viewport too: a scroll shows them
 * placed before the next frame catches up. */
const MARGIN = 200;
const SECRET_FIELDS = 'input, textarea, select';
const HOST_CSS = [
  'all:initial', 'display:block', 'position:fixed', 'top:0', 'left:0', 'right:0', 'bottom:0',
  'margin:0', 'padding:0', 'border:0', 'pointer-events:none', 'z-index:2147483647',
  'overflow:hidden', 'contain:strict', 'visibility:visible', 'opacity:1',
  'transform:none', 'filter:none', 'clip-path:none',
].map((d) => d + '!important').join(';');
const SHEET = `
.frame, .boxes, .badge { direction: ltr; }
.frame { position: absolute; inset: 0; box-sizing: border-box; pointer-events: none;
  border: 4px solid var(--c, var(--cwmn-badge-accent, #e5484d));
  box-shadow: inset 0 0 0 1px rgba(255, 255, 255, .6); display: none; }
.frame.on { display: block; }
.boxes { position: absolute; inset: 0; pointer-events: none; }
.box { position: absolute; left: 0; top: 0; box-sizing: border-box; pointer-events: none;
  border: 2px dashed #b45309; background: repeating-linear-gradient(135deg,
  rgba(217, 119, 6, .22) 0 6px, rgba(217, 119, 6, .08) 6px 12px); }
.box.blocked { border: 2px solid #4b5563; background: rgba(55, 65, 81, .5); }
/* The label sits on the box's top-right corner, outside: the field's value stays readable. */
.box span { position: absolute; right: -2px; bottom: 100%; padding: 0 4px; white-space: nowrap;
  border-radius: 3px 3px 0 0;
  font: 600 11px/15px var(--cwmn-badge-font, system-ui, -apple-system, "Segoe UI", Roboto,
  sans-serif); letter-spacing: normal; background: #b45309; color: #fff; }
.box.blocked span { background: #374151; }
.box.inside span { bottom: auto; top: 0; right: 0; border-radius: 0 0 0 3px; }
.badge { position: absolute; right: var(--cwmn-badge-right, 16px);
  bottom: var(--cwmn-badge-bottom, 16px); display: flex; align-items: center; gap: 8px;
  box-sizing: border-box; max-width: calc(100% - 16px); min-height: 36px;
  padding: 4px 4px 4px 12px; border-radius: 18px; pointer-events: auto;
  background: var(--cwmn-badge-bg, #1f2328); color: var(--cwmn-badge-fg, #fff);
  border: 1px solid rgba(255, 255, 255, .18); box-shadow: 0 4px 16px rgba(0, 0, 0, .3);
  font: 500 13px/18px var(--cwmn-badge-font, system-ui, -apple-system, "Segoe UI", Roboto,
  sans-serif); letter-spacing: normal; text-align: left; cursor: grab; user-select: none;
  -webkit-user-select: none; touch-action: none; }
.badge[hidden] { display: none; }
.badge.top { top: var(--cwmn-badge-bottom, 16px); bottom: auto; }
.badge.left { left: var(--cwmn-badge-right, 16px); right: auto; }
.badge.dragging { cursor: grabbing; }
.dot { flex: none; width: 10px; height: 10px; border-radius: 50%;
  background: var(--cwmn-badge-accent, #e5484d); animation: cwmn-live 2s ease-in-out infinite; }
.paused .dot { background: #9ca3af; animation: none; }
.status { display: flex; flex-direction: column; min-width: 0; }
.text, .ctl { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ctl { font-weight: 650; }
.ctl:empty { display: none; }
button { flex: none; font: inherit; font-weight: 600; line-height: 18px; margin: 0;
  padding: 4px 12px; border-radius: 14px; cursor: pointer; color: inherit;
  background: transparent; border: 1px solid rgba(128, 128, 128, .7); }
button:hover { background: rgba(128, 128, 128, .25); }
button[hidden] { display: none; }
button.stop { background: var(--cwmn-badge-accent, #e5484d); border-color: transparent;
  color: #fff; }
button:focus-visible { outline: 3px solid #9db8ff; outline-offset: 2px; }
@keyframes cwmn-live { 50% { opacity: .35; } }
@media (prefers-reduced-motion: reduce) { .dot { animation: none; } }
@media (prefers-color-scheme: dark) {
  .badge { background: var(--cwmn-badge-bg, #f6f8fa); color: var(--cwmn-badge-fg, #1f2328);
    border-color: rgba(0, 0, 0, .2); }
}
@media print { .frame, .boxes, .badge { display: none; } }
`;

let host = null;
let root = null;
let shadowAttach = null;
let api = null;
let view = null; // the last message
let queued = false;
let watching = ''; // '', 'html' (the badge: stay in <html>) or 'all' (+ the masked overlay)
let observer = null;
let corner = ''; // '', 'top', 'left' or 'top left': where the visitor dragged the badge
let parts = null; // the badge's elements
let frame = null;
let boxes = null;
const shown = []; // [{el, kind, box}] the masked overlay's boxes, reused between renders

/** The stub's entry point: ``{op: 'badge', ...}``. ``api`` is ``window.CwmnAPI``. */
export function handle(message, attachShadow, pageApi) {
  if (!message || message.op !== 'badge') return;
  view = message;
  if (pageApi) api = pageApi;
  if (attachShadow) shadowAttach = attachShadow;
  const badge = !!(message.sharing && message.badge);
  if (!badge && !message.masked) { clear(); return; }
  ensureHost();
  showBadge(badge, message);
  if (!message.masked) hideBoxes();
  watch(message.masked ? 'all' : 'html');
  schedule();
}

/** Remove everything this module shows, and its listeners. */
export function clear() {
  view = null;
  hideBoxes();
  watch('');
  if (parts) parts.badge.hidden = true;
  if (frame) frame.className = 'frame';
  if (host) host.remove();
}

/** What is shown, for tests and debugging (the shadow root stays closed): the badge's texts,
 * buttons and box in viewport px, the frame, and the masked overlay's boxes. */
export function debugState() {
  if (queued) render();
  const attached = !!host && host.parentNode === dom.documentElement(document);
  const out = { attached, badge: null, frame: null, boxes: [] };
  if (!attached) return out;
  if (!parts.badge.hidden) {
    const style = getComputedStyle(parts.badge);
    out.badge = {
      text: parts.text.textContent,
      controller: parts.ctl.textContent,
      role: parts.status.getAttribute('role'),
      live: parts.status.getAttribute('aria-live'),
      rect: rect(parts.badge),
      background: style.backgroundColor,
      color: style.color,
      corner,
      buttons: [parts.take, parts.pause, parts.stop]
        .filter((b) => !b.hidden)
        .map((b) => ({
          label: b.textContent, name: b.getAttribute('aria-label'), part: b.getAttribute('part'),
          focused: root.activeElement === b, background: getComputedStyle(b).backgroundColor,
          ...rect(b),
        })),
    };
  }
  if (frame.classList.contains('on')) {
    const style = getComputedStyle(frame);
    out.frame = { color: style.borderTopColor, border: style.borderTopWidth, ...rect(frame) };
  }
  out.boxes = shown.filter((s) => s.box.isConnected).map((s) => ({
    kind: s.kind, label: s.box.textContent, id: s.el.id || '', ...rect(s.box),
  }));
  return out;
}

function rect(el) {
  const r = el.getBoundingClientRect();
  return { left: r.left, top: r.top, width: r.width, height: r.height };
}

function make(tag, className, text) {
  const node = dom.createElement(document, tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- the host element -------------------------------------------------------------------
function ensureHost() {
  if (!host) {
    host = make('cwmn-badge');
    host.setAttribute(OVERLAY_ATTR, '');
    host.style.cssText = HOST_CSS; // CSSOM, not a style attribute: allowed by a strict CSP
    const attach = shadowAttach || Element.prototype.attachShadow;
    root = attach.call(host, { mode: 'closed' });
    // A constructed sheet is not an inline <style>: a page CSP without 'unsafe-inline' allows it.
    if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(SHEET);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(make('style', '', SHEET));
    }
    boxes = make('div', 'boxes');
    boxes.setAttribute('aria-hidden', 'true');
    frame = make('div', 'frame');
    frame.setAttribute('part', 'frame');
    frame.setAttribute('aria-hidden', 'true');
    parts = makeBadge();
    root.append(boxes, frame, parts.badge);
  }
  attach();
}

function attach() {
  const html = dom.documentElement(document);
  // The page may have removed it (a single-page app replacing what <html> holds).
  if (html && host.parentNode !== html) html.appendChild(host);
}

// -- the badge --------------------------------------------------------------------------
function makeBadge() {
  const badge = make('div', 'badge');
  badge.setAttribute('part', 'badge');
  badge.setAttribute('role', 'region');
  badge.setAttribute('aria-label', 'Screen sharing');
  badge.hidden = true;
  const dot = make('span', 'dot');
  dot.setAttribute('aria-hidden', 'true');
  const status = make('span', 'status');
  status.setAttribute('role', 'status');
  status.setAttribute('aria-live', 'polite');
  const text = make('span', 'text');
  text.setAttribute('part', 'text');
  const ctl = make('span', 'ctl');
  ctl.setAttribute('part', 'controller');
  status.append(text, ctl);
  const take = button('Take back', 'take-back', 'Take back control of this page',
    () => api.control.revoke());
  const pause = button('Pause', 'pause', '',
    () => api.privacy.setEnabled(!(view && view.privacy)));
  const stop = button('Stop', 'stop', 'Stop sharing this page',
    () => api.session.endSession());
  badge.append(dot, status, take, pause, stop);
  badge.addEventListener('pointerdown', drag);
  return { badge, status, text, ctl, take, pause, stop };
}

function button(label, part, name, act) {
  const b = /** @type {HTMLButtonElement} */ (make('button', part, label));
  b.type = 'button';
  b.setAttribute('part', part);
  if (name) b.setAttribute('aria-label', name);
  b.addEventListener('click', (event) => {
    // Only the visitor's own click or key: not a script's, nor a guest's in control.
    if (!event.isTrusted || !api) return;
    Promise.resolve().then(act).catch((e) => console.error('CWMN: ' + label, e));
  });
  return b;
}

function showBadge(on, m) {
  const { badge, text, ctl, take, pause, stop } = parts;
  badge.hidden = !on;
  const who = m.controller && on ? m.controller : null;
  frame.className = who ? 'frame on' : 'frame';
  frame.style.setProperty('--c', who ? color(who.color) : '');
  if (!on) return;
  const count = Array.isArray(m.guests) ? m.guests.length : Math.max(0, Number(m.guests) || 0);
  let words;
  if (m.privacy) words = m.replay ? 'Recording paused' : 'Sharing paused';
  else if (m.replay) words = 'Recording this page' + (count ? ' · ' + guests(count) : '');
  else words = 'Sharing this page · ' + (count ? guests(count) : 'waiting for guests');
  // Only changes are written: the live region announces each one once.
  if (text.textContent !== words) text.textContent = words;
  const line = who ? (String(who.name || '').trim() || 'A guest') + ' is controlling' : '';
  if (ctl.textContent !== line) ctl.textContent = line;
  badge.classList.toggle('paused', !!m.privacy);
  take.hidden = !who;
  pause.textContent = m.privacy ? 'Resume' : 'Pause';
  pause.setAttribute('aria-label', m.privacy ? 'Resume sharing' : 'Pause sharing');
  stop.setAttribute('aria-label', m.replay ? 'Stop recording this page' : 'Stop sharing this page');
}

const guests = (n) => n + (n === 1 ? ' guest' : ' guests');

function color(value) {
  const text = typeof value === 'string' ? value : '';
  return text && CSS.supports('color', text) ? text : DEFAULT_GUEST_COLOR;
}

/** Dragging the badge (not by a button) moves it to the corner nearest where it is let go. */
function drag(event) {
  const badge = parts.badge;
  if (event.button !== 0 || event.target !== badge && !badge.contains(event.target)) return;
  if (event.target instanceof HTMLButtonElement) return;
  const start = [event.clientX, event.clientY];
  try { badge.setPointerCapture(event.pointerId); } catch (e) { /* gone already */ }
  badge.classList.add('dragging');
  const move = (e) => {
    badge.style.transform = `translate(${e.clientX - start[0]}px, ${e.clientY - start[1]}px)`;
  };
  const end = (e) => {
    badge.removeEventListener('pointermove', move);
    badge.removeEventListener('pointerup', end);
    badge.removeEventListener('pointercancel', end);
    badge.classList.remove('dragging');
    const r = badge.getBoundingClientRect();
    badge.style.transform = '';
    if (e.type !== 'pointerup' || Math.hypot(e.clientX - start[0], e.clientY - start[1]) < 8) {
      return;
    }
    const area = host.getBoundingClientRect();
    const top = r.top + r.height / 2 < area.top + area.height / 2;
    const left = r.left + r.width / 2 < area.left + area.width / 2;
    corner = [top ? 'top' : '', left ? 'left' : ''].filter(Boolean).join(' ');
    badge.classList.toggle('top', top);
    badge.classList.toggle('left', left);
  };
  badge.addEventListener('pointermove', move);
  badge.addEventListener('pointerup', end);
  badge.addEventListener('pointercancel', end);
}

// -- keeping it in the page, and the masked overlay in place ------------------------------
function watch(what) {
  if (what === watching) return;
  if (observer) observer.disconnect();
  if (watching === 'all') {
    dom.removeEventListener(window, 'scroll', schedule, true);
    dom.removeEventListener(window, 'resize', schedule);
  }
  watching = what;
  const html = dom.documentElement(document);
  if (!what || !html) return;
  if (!observer) observer = new MutationObserver(changed);
  if (what === 'all') {
    observer.observe(html, { childList: true, subtree: true, attributes: true,
      characterData: true });
    // Capturing: an inner element's scroll (it does not bubble) moves boxes too.
    dom.addEventListener(window, 'scroll', schedule, { capture: true, passive: true });
    dom.addEventListener(window, 'resize', schedule, { passive: true });
  } else {
    observer.observe(html, { childList: true });
  }
}

function changed(records) {
  // Our own overlays' comings and goings move nothing the masked overlay covers.
  const html = dom.documentElement(document);
  for (const r of records) {
    if (r.target === html && r.type === 'childList' &&
        [...r.addedNodes, ...r.removedNodes].every(isOverlay)) continue;
    if (isOverlay(r.target)) continue;
    schedule();
    return;
  }
  if (host && host.parentNode !== html) schedule();
}

function schedule() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { if (queued) render(); });
}

function render() {
  queued = false;
  if (!host || !view) return;
  attach();
  if (view.masked) placeBoxes();
}

function hideBoxes() {
  for (const s of shown) s.box.remove();
  shown.length = 0;
}

/** The elements the guests cannot see, each with how: 'blocked' (an empty box of its size),
 * 'masked' (its text as its length only) or 'secret' (a password, card or one-time-code
 * field, whatever the site's rules). Nested ones are left to the outermost. */
function privateElements(privacy) {
  const found = [];
  const all = (selector) => {
    try { return selector ? [...dom.querySelectorAll(document, selector)] : []; } catch (e) {
      return []; // a selector this browser does not know: capture does not apply it either
    }
  };
  const inside = (el, selector) => {
    const parent = dom.parentNode(el);
    return !!selector && !!parent && dom.nodeType(parent) === 1 && !!dom.closest(parent, selector);
  };
  const skip = (el) => isOverlay(el) || inside(el, privacy.block);
  for (const el of all(privacy.block)) if (!skip(el)) found.push([el, 'blocked']);
  for (const el of all(privacy.mask)) {
    if (!skip(el) && !inside(el, privacy.mask)) found.push([el, 'masked']);
  }
  for (const el of all(SECRET_FIELDS)) {
    if (!skip(el) && !privacy.masked(el) && privacy.secretValue(el)) found.push([el, 'secret']);
  }
  return found;
}

function placeBoxes() {
  const rules = (view && view.rules) || {};
  const privacy = new Privacy({
    mask: Array.isArray(rules.mask) ? rules.mask : [],
    block: Array.isArray(rules.block) ? rules.block : [],
  });
  const area = host.getBoundingClientRect(); // the viewport, normally at (0, 0)
  const placed = [];
  for (const [el, kind] of privateElements(privacy)) {
    const r = dom.getBoundingClientRect(el);
    if (r.width < 1 || r.height < 1) continue; // not rendered (hidden inputs, display: none)
    if (r.right < area.left - MARGIN || r.bottom < area.top - MARGIN ||
        r.left > area.right + MARGIN || r.top > area.bottom + MARGIN) continue;
    placed.push([el, kind, r]);
    if (placed.length >= MAX_BOXES) break;
  }
  for (let i = 0; i < placed.length; i++) {
    const [el, kind, r] = placed[i];
    let s = shown[i];
    if (!s) {
      const box = make('div', 'box');
      box.setAttribute('part', 'box');
      box.appendChild(make('span'));
      s = shown[i] = { el, kind: '', box };
    }
    s.el = el;
    if (s.kind !== kind) {
      s.kind = kind;
      s.box.className = kind === 'blocked' ? 'box blocked' : 'box';
      s.box.firstChild.textContent = kind === 'blocked' ? 'Blocked' : 'Hidden from guests';
    }
    s.box.classList.toggle('inside', r.top - area.top < 16); // no room above for its label
    const style = s.box.style;
    style.transform = `translate(${r.left - area.left}px, ${r.top - area.top}px)`;
    style.width = r.width + 'px';
    style.height = r.height + 'px';
    if (s.box.parentNode !== boxes) boxes.appendChild(s.box);
  }
  for (const s of shown.splice(placed.length)) s.box.remove();
}
