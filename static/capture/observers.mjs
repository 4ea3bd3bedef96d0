// cwmn_web capture, observers (rrweb's observers): the page's events, timers and patched
// setters that tell the mutation buffer what changed besides the DOM: form state, scrolling,
// focus, the viewport, the pointer, canvases, CSSOM rules, frame reloads.
import { PSEUDO } from '../dist/constants.mjs';
import { dom } from './dom.mjs';
import { isKnown, knownId } from './ids.mjs';
import { VALUE_TAGS } from './privacy.mjs';
import { POLL_MS } from './pictures.mjs';
import { adoptedText, formState, frameDocument, topLayer } from './serialize.mjs';

const FOCUS_POLL_MS = 250;

/** The observers of one capture, feeding `buffer`. */
export class Observers {
  constructor(buffer, serializer, privacy, pictures) {
    this.buffer = buffer;
    this.pictures = pictures;
    this.serializer = serializer;
    this.privacy = privacy;
    this.listeners = [];
    this.frames = new WeakSet();
    /** The document, shadow roots and frame documents read so far (their adopted sheets). */
    this.roots = new Set();
    /** A same-origin frame's document → its <iframe>. */
    this.frameOf = new WeakMap();
    this.focusId = 0;
    this.focusTimer = 0;
    this.canvasTimer = 0;
  }

  on(target, type, fn, opts) {
    dom.addEventListener(target, type, fn, opts);
    this.listeners.push([target, type, fn, opts]);
  }
  start() {
    const on = this.on.bind(this), buffer = this.buffer;
    on(document, 'input', (e) => this.onInput(e.target), true);
    on(document, 'change', (e) => this.onInput(e.target), true);
    on(document, 'scroll', (e) => this.onScroll(e.target), { capture: true, passive: true });
    on(window, 'resize', () => buffer.throttled('viewport', { w: innerWidth, h: innerHeight }), { passive: true });
    on(document, 'focusin', (e) => this.onFocus(e.target), true);
    on(document, 'focusout', () => setTimeout(() => this.pollFocus(), 0), true);
    // Focus moved while the window has no system focus fires no event: poll it as well.
    this.focusTimer = setInterval(() => this.pollFocus(), FOCUS_POLL_MS);
    on(document, 'mousemove', (e) => buffer.throttled('pointer', { x: e.pageX, y: e.pageY }),
      { capture: true, passive: true });
    // Canvases and videos: polled (a canvas changes without any event), and a video at once
    // when it plays, pauses or seeks (media events do not bubble: caught while capturing).
    this.canvasTimer = setInterval(() => this.pictures.poll(), POLL_MS);
    for (const type of ['play', 'pause', 'seeked', 'ended', 'loadeddata']) {
      on(document, type, (e) => this.pictures.update(e.target), true);
    }
  }
  stop() {
    for (const [t, type, fn, opts] of this.listeners) dom.removeEventListener(t, type, fn, opts);
    clearInterval(this.canvasTimer);
    this.pictures.stop();
    clearInterval(this.focusTimer);
  }

  /** A same-origin frame: its next document is serialized again when it loads. */
  watchFrame(iframe) {
    const doc = frameDocument(iframe);
    if (doc) this.frameOf.set(doc, iframe);
    if (this.frames.has(iframe)) return;
    this.frames.add(iframe);
    this.on(iframe, 'load', () => this.buffer.frameReloaded(iframe), undefined);
  }
  /** A root the capture reads: its popovers' toggles, its adopted sheets' changes. */
  watchRoot(root) {
    if (this.roots.has(root)) return;
    this.roots.add(root);
    this.on(root, 'toggle', (e) => this.onToggle(e.target), true);
  }
  /** A popover (or dialog) opened or closed: where it is in the top layer now. */
  onToggle(el) {
    if (!el || dom.nodeType(el) !== 1 || !isKnown(el)) return;
    this.buffer.pushAttrs([[knownId(el), PSEUDO.TOP, topLayer(el)]]);
  }
  /** `root`'s adopted stylesheets changed (assigned, or one of them edited). */
  adoptedChanged(root) {
    const el = dom.nodeType(root) === 11 ? dom.host(root)
      : root === document ? dom.documentElement(document) : this.frameOf.get(root);
    if (el && isKnown(el)) this.buffer.pushAttrs([[knownId(el), PSEUDO.ADOPTED, adoptedText(root)]]);
  }
  onInput(el) {
    if (!el || dom.nodeType(el) !== 1 || !VALUE_TAGS[dom.tagName(el)] || !isKnown(el)) return;
    const attrs = [];
    formState(el, this.privacy.secretValue(el), attrs);
    this.buffer.pushAttrs(pairs(knownId(el), attrs));
  }
  onFocus(el) {
    const id = el ? knownId(el) : 0;
    if (id === undefined || id === this.focusId) return;
    this.focusId = id;
    this.buffer.throttled('focus', { id });
  }
  pollFocus() {
    const active = dom.activeElement(document);
    this.onFocus(active && active !== dom.body(document) && active !== dom.documentElement(document)
      ? active : null);
  }
  onScroll(target) {
    const el = target === document ? null : target;
    const id = el ? knownId(el) : 0;
    if (id === undefined) return;
    const x = el ? dom.scrollLeft(el) : scrollX, y = el ? dom.scrollTop(el) : scrollY;
    this.buffer.throttled('scroll:' + id, { id, x, y }, 'scroll');
  }
  sheetChanged(sheet) {
    const owner = sheet.ownerNode;
    if (!owner) {
      // A constructed sheet: the roots that adopted it (forgetting the ones gone).
      for (const root of this.roots) {
        if (!dom.isConnected(root)) this.roots.delete(root);
        else if (adoptedSheets(root).includes(sheet)) this.adoptedChanged(root);
      }
      return;
    }
    this.serializer.dirtySheets.add(sheet);
    if (owner && isKnown(owner)) {
      this.buffer.pushAttrs([[knownId(owner), PSEUDO.CSS, this.serializer.cssomText(owner)]]);
    }
  }
}

function adoptedSheets(root) {
  return Array.from((dom.nodeType(root) === 11 ? dom.rootAdoptedStyleSheets(root)
    : dom.adoptedStyleSheets(root)) || []);
}

function pairs(id, flat) {
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push([id, flat[i], flat[i + 1]]);
  return out;
}

let patched = false;
/** Changes that fire no event nor mutation, told to `current()` (the running observers, or
    null): rules added or removed through the CSSOM, values set by script. Once per page. */
export function patchPage(current) {
  if (patched) return;
  patched = true;
  const proto = CSSStyleSheet.prototype;
  for (const name of ['insertRule', 'deleteRule', 'replaceSync', 'addRule', 'removeRule']) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    proto[name] = function (...args) {
      const result = original.apply(this, args);
      const observers = current();
      if (observers) observers.sheetChanged(this);
      return result;
    };
  }
  const replace = proto.replace;
  if (typeof replace === 'function') {
    proto.replace = function (...args) {
      const done = replace.apply(this, args);
      done.then(() => { const observers = current(); if (observers) observers.sheetChanged(this); },
        () => {});
      return done;
    };
  }
  // Adopted sheets assigned: the document's or a shadow root's.
  for (const Ctor of [Document, typeof ShadowRoot === 'function' ? ShadowRoot : null]) {
    const desc = Ctor && Object.getOwnPropertyDescriptor(Ctor.prototype, 'adoptedStyleSheets');
    if (!desc || !desc.set) continue;
    Object.defineProperty(Ctor.prototype, 'adoptedStyleSheets', {
      ...desc,
      set(v) {
        desc.set.call(this, v);
        const observers = current();
        if (observers && observers.roots.has(this)) observers.adoptedChanged(this);
      },
    });
  }
  // Script animations: the viewer replays them (their held end states are in no DOM).
  const animate = Element.prototype.animate;
  if (typeof animate === 'function') {
    Element.prototype.animate = function (keyframes, options) {
      const animation = animate.call(this, keyframes, options);
      const observers = current();
      if (observers) {
        observers.buffer.animationsChanged(this);
        dom.addEventListener(animation, 'cancel', () => {
          const now = current();
          if (now) now.buffer.animationsChanged(this);
        });
      }
      return animation;
    };
  }
  /** @type {Array<[{ prototype: object }, string]>} */
  const setters = [[HTMLInputElement, 'value'], [HTMLInputElement, 'checked'],
    [HTMLTextAreaElement, 'value'], [HTMLSelectElement, 'value']];
  for (const [Ctor, prop] of setters) {
    const desc = Object.getOwnPropertyDescriptor(Ctor.prototype, prop);
    if (!desc || !desc.set) continue;
    Object.defineProperty(Ctor.prototype, prop, {
      ...desc,
      set(v) {
        desc.set.call(this, v);
        const observers = current();
        if (observers) observers.onInput(this);
      },
    });
  }
}
