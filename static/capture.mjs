// cwmn_web host capture: reads the page's DOM on the main thread and hands *raw records*
// (docs/MIRROR.md) to Python in the worker. It never reads private content: masked text and
// masked form values are sent as their length only. Snapshots are time-sliced (a slice stops
// after SLICE_MS) so the page never blocks for long; changes are flushed once per frame.
const SLICE_MS = 8;
const ELEMENT = 1, TEXT = 3, COMMENT = 8, SHADOW = 11;
const HTML_NS = 'http://www.w3.org/1999/xhtml';
const VALUE_TAGS = { INPUT: 1, TEXTAREA: 1, SELECT: 1 };
const MAX_CANVAS_PIXELS = 2e6;
// Our own overlay (guests' pointers, static/cursors.mjs) is never mirrored.
const OVERLAY = 'data-cwmn-overlay';
const isOverlay = (node) => node.nodeType === ELEMENT && node.hasAttribute(OVERLAY);

const ids = new WeakMap();
let nextId = 1;
let session = null;

function idOf(node) {
  let id = ids.get(node);
  if (!id) { id = nextId++; ids.set(node, id); }
  return id;
}

const yieldToBrowser = () => new Promise((resolve) => {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => resolve();
  ch.port2.postMessage(0);
});

class Capture {
  constructor(config, send, shadowRoots) {
    this.send = send;
    this.shadowRoots = shadowRoots || new WeakMap();
    this.mask = (config.mask || []).join(',') || null;
    this.block = (config.block || []).join(',') || null;
    this.records = [];
    this.dirtySheets = new Set();
    this.snapshotting = false;
    this.flushQueued = false;
    this.stopped = false;
    this.canvases = new Map();
    this.observer = new MutationObserver((records) => {
      for (const r of records) this.records.push(r);
      this.queueFlush();
    });
    this.listeners = [];
    this.frames = new WeakSet();
    this.reloaded = new Set();
    this.focusId = 0;
    this.readScroll = true;
    this.pendingAttrs = [];
    this.latest = new Map();
  }

  // -- what is private ------------------------------------------------------------------
  masked(el) {
    return !!(el && this.mask && el.closest && el.closest(this.mask));
  }
  blocked(el) {
    return !!(this.block && el.matches && el.matches(this.block));
  }
  secretValue(el) {
    return el.type === 'password' || el.type === 'hidden' || this.masked(el);
  }

  // -- records --------------------------------------------------------------------------
  shadowOf(el) {
    return el.shadowRoot || this.shadowRoots.get(el) || null;
  }
  elementRecord(el, parentId) {
    const id = idOf(el);
    const attrs = [];
    if (this.blocked(el)) {
      const r = el.getBoundingClientRect();
      attrs.push('cwmn:block', Math.round(r.width) + '×' + Math.round(r.height));
      for (const name of ['id', 'class', 'style']) {
        if (el.hasAttribute(name)) attrs.push(name, el.getAttribute(name));
      }
      return [[id, parentId, ELEMENT, tagName(el), attrs], false];
    }
    if (el.tagName === 'IFRAME' && this.frameDocument(el)) return this.frameRecord(el, id, parentId);
    const secret = VALUE_TAGS[el.tagName] && this.secretValue(el);
    for (const a of el.attributes) {
      if (secret && a.name === 'value') continue;
      attrs.push(a.name, a.value);
    }
    if (el.namespaceURI !== HTML_NS && el.namespaceURI) attrs.push('cwmn:ns', el.namespaceURI);
    if (VALUE_TAGS[el.tagName]) this.formState(el, secret, attrs);
    if (el.tagName === 'STYLE') {
      const css = this.cssomText(el);
      if (css !== null) attrs.push('cwmn:css', css);
    }
    if (el.tagName === 'CANVAS') {
      const png = this.canvasImage(el);
      if (png) attrs.push('cwmn:canvas', png);
    }
    // Reading scroll offsets forces a layout: done in snapshots only; a subtree added later
    // reports its scrolling through scroll events.
    if (this.readScroll && (el.scrollTop || el.scrollLeft)) {
      attrs.push('cwmn:scroll', el.scrollLeft + ',' + el.scrollTop);
    }
    return [[id, parentId, ELEMENT, tagName(el), attrs], true];
  }
  frameDocument(iframe) {
    try {
      const doc = iframe.contentDocument;
      return doc && doc.documentElement ? doc : null;
    } catch (e) {
      return null; // cross-origin: shown as an empty box by the viewer
    }
  }
  frameRecord(iframe, id, parentId) {
    // A same-origin frame becomes a box of the frame's size holding the frame's document
    // in a shadow root (docs/MIRROR.md): styles stay scoped, and nothing runs.
    const r = iframe.getBoundingClientRect(), cs = getComputedStyle(iframe);
    const style = 'display:' + (cs.display === 'inline' ? 'inline-block' : cs.display) +
      ';width:' + r.width + 'px;height:' + r.height + 'px;overflow:hidden;box-sizing:border-box;' +
      'border:' + cs.border + ';vertical-align:' + cs.verticalAlign;
    const attrs = ['style', style, 'cwmn:frame', '1'];
    for (const name of ['id', 'class', 'title']) {
      if (iframe.hasAttribute(name)) attrs.push(name, iframe.getAttribute(name));
    }
    this.watchFrame(iframe);
    return [[id, parentId, ELEMENT, 'div', attrs], true];
  }
  watchFrame(iframe) {
    if (this.frames.has(iframe)) return;
    this.frames.add(iframe);
    const reload = () => { this.reloaded.add(iframe); this.queueFlush(); };
    iframe.addEventListener('load', reload);
    this.listeners.push([iframe, 'load', reload, undefined]);
  }
  formState(el, secret, attrs) {
    if (el.type === 'checkbox' || el.type === 'radio') {
      attrs.push('cwmn:checked', el.checked ? '1' : '');
    } else if (el.type !== 'file') {
      if (secret) attrs.push('cwmn:masked', String(el.value.length));
      else attrs.push('cwmn:value', el.value);
    }
  }
  cssomText(styleEl) {
    // A <style> filled through the CSSOM (insertRule) has rules but no text.
    const sheet = styleEl.sheet;
    if (!sheet || (styleEl.textContent.trim() && !this.dirtySheets.has(sheet))) return null;
    try {
      return Array.from(sheet.cssRules, (r) => r.cssText).join('\n');
    } catch (e) {
      return null;
    }
  }
  canvasImage(canvas) {
    if (!canvas.width || !canvas.height || canvas.width * canvas.height > MAX_CANVAS_PIXELS) return null;
    try {
      const png = canvas.toDataURL('image/png');
      this.canvases.set(canvas, png);
      return png;
    } catch (e) {
      return null; // tainted by cross-origin images
    }
  }
  textRecord(node, parentId) {
    const parent = node.parentNode;
    if (parent && parent.nodeType === ELEMENT && this.masked(parent)) {
      return [idOf(node), parentId, TEXT, null, node.data.length];
    }
    return [idOf(node), parentId, TEXT, node.data];
  }

  /** Serialize the subtree at ``root`` in pre-order; ``sliced`` yields every SLICE_MS. */
  async serialize(root, parentId, out, sliced) {
    const stack = [[root, parentId]];
    let sliceStart = performance.now(), sliceEnd = sliceStart + SLICE_MS;
    while (stack.length) {
      if (sliced && performance.now() > sliceEnd) {
        stats.snapshotBusyMs += performance.now() - sliceStart;
        await yieldToBrowser();
        if (this.stopped) return;
        sliceStart = performance.now();
        sliceEnd = sliceStart + SLICE_MS;
      }
      const [node, pid] = stack.pop();
      try {
        this.visit(node, pid, stack, out);
      } catch (e) {
        // One node the page made odd must not stop the mirror: skip it, say so once.
        if (!this.warned) { this.warned = true; console.warn('CWMN: a node could not be read', e); }
      }
    }
    if (sliced) stats.snapshotBusyMs += performance.now() - sliceStart;
  }

  /** Record one node and push its children (light DOM, shadow root, frame document). */
  visit(node, pid, stack, out) {
    if (node.nodeType === TEXT) {
      out.push(this.textRecord(node, pid));
      return;
    }
    if (node.nodeType === COMMENT) {
      out.push([idOf(node), pid, COMMENT, '']);
      return;
    }
    if (node.nodeType !== ELEMENT || node.hasAttribute(OVERLAY)) return;
    const [record, descend] = this.elementRecord(node, pid);
    out.push(record);
    // A script's source is of no use to guests (nothing runs in the viewer): not sent.
    if (!descend || node.tagName === 'SCRIPT') return;
    const id = record[0];
    const doc = node.tagName === 'IFRAME' && this.frameDocument(node);
    if (doc) {
      const sid = idOf(doc);
      this.observe(doc);
      out.push([sid, id, SHADOW, 'shadow', doc.baseURI]);
      pushChildren(stack, [doc.documentElement], sid);
      return;
    }
    // Pushed before the shadow root's children, so those are read first (records stay
    // in pre-order: the shadow root right after its host).
    pushChildren(stack, node.childNodes, id);
    const shadow = this.shadowOf(node);
    if (shadow) {
      const sid = idOf(shadow);
      this.observe(shadow);
      out.push([sid, id, SHADOW, 'shadow']);
      pushChildren(stack, shadow.childNodes, sid);
    }
  }

  // -- lifecycle ------------------------------------------------------------------------
  observe(target) {
    this.observer.observe(target, {
      childList: true, attributes: true, characterData: true, subtree: true,
    });
  }
  async snapshot() {
    this.snapshotting = true;
    this.records = [];
    const nodes = [];
    const t0 = performance.now();
    stats.snapshotBusyMs = 0;
    await this.serialize(document.documentElement, 0, nodes, true);
    if (this.stopped) return;
    const adopted = [];
    for (const sheet of document.adoptedStyleSheets || []) {
      try { adopted.push(Array.from(sheet.cssRules, (r) => r.cssText).join('\n')); } catch (e) { /* */ }
    }
    stats.snapshotMs = performance.now() - t0;
    this.send('snapshot', {
      nodes, url: location.href, base: document.baseURI, title: document.title,
      viewport: [innerWidth, innerHeight], scroll: [scrollX, scrollY], adopted,
      ms: performance.now() - t0,
    });
    this.snapshotting = false;
    this.queueFlush();
  }
  start() {
    this.observe(document);
    const on = (target, type, fn, opts) => {
      target.addEventListener(type, fn, opts);
      this.listeners.push([target, type, fn, opts]);
    };
    on(document, 'input', (e) => this.onInput(e.target), true);
    on(document, 'change', (e) => this.onInput(e.target), true);
    on(document, 'scroll', (e) => this.onScroll(e.target), { capture: true, passive: true });
    on(window, 'resize', () => this.throttled('viewport', { w: innerWidth, h: innerHeight }), { passive: true });
    on(document, 'focusin', (e) => this.onFocus(e.target), true);
    on(document, 'focusout', () => setTimeout(() => this.pollFocus(), 0), true);
    // Focus moved while the window has no system focus fires no event: poll it as well.
    this.focusTimer = setInterval(() => this.pollFocus(), 250);
    on(document, 'mousemove', (e) => this.throttled('pointer', { x: e.pageX, y: e.pageY }),
      { capture: true, passive: true });
    this.canvasTimer = setInterval(() => this.pollCanvases(), 1000);
    return this.snapshot();
  }
  stop() {
    this.stopped = true;
    this.observer.disconnect();
    for (const [t, type, fn, opts] of this.listeners) t.removeEventListener(type, fn, opts);
    clearInterval(this.canvasTimer);
    clearInterval(this.focusTimer);
  }

  // -- changes --------------------------------------------------------------------------
  onInput(el) {
    if (!el || !VALUE_TAGS[el.tagName] || !ids.has(el)) return;
    const attrs = [];
    this.formState(el, this.secretValue(el), attrs);
    this.pendingAttrs.push(...pairs(ids.get(el), attrs));
    this.queueFlush();
  }
  onFocus(el) {
    const id = el ? ids.get(el) : 0;
    if (id === undefined || id === this.focusId) return;
    this.focusId = id;
    this.throttled('focus', { id });
  }
  pollFocus() {
    const active = document.activeElement;
    this.onFocus(active && active !== document.body && active !== document.documentElement
      ? active : null);
  }
  onScroll(target) {
    const el = target === document ? null : target;
    const id = el ? ids.get(el) : 0;
    if (id === undefined) return;
    const x = el ? el.scrollLeft : scrollX, y = el ? el.scrollTop : scrollY;
    this.throttled('scroll:' + id, { id, x, y }, 'scroll');
  }
  throttled(key, data, kind) {
    this.latest.set(key, [kind || key, data]);
    this.queueFlush();
  }
  pollCanvases() {
    document.querySelectorAll('canvas').forEach((c) => {
      const id = ids.get(c);
      if (!id) return;
      const before = this.canvases.get(c);
      const png = this.canvasImage(c);
      if (png && png !== before) { this.pendingAttrs.push([id, 'cwmn:canvas', png]); this.queueFlush(); }
    });
  }
  sheetChanged(sheet) {
    const owner = sheet.ownerNode;
    this.dirtySheets.add(sheet);
    if (owner && ids.has(owner)) {
      this.pendingAttrs.push([ids.get(owner), 'cwmn:css', this.cssomText(owner)]);
      this.queueFlush();
    }
  }
  queueFlush() {
    if (this.flushQueued || this.stopped) return;
    this.flushQueued = true;
    const run = () => { this.flushQueued = false; this.flush(); };
    // rAF does not run in background tabs: a timer backs it up.
    const timer = setTimeout(run, 50);
    requestAnimationFrame(() => { clearTimeout(timer); run(); });
  }
  flush() {
    if (this.snapshotting || this.stopped) return;
    const t0 = performance.now();
    this.flushOnce();
    stats.flushes += 1;
    stats.lastFlushMs = performance.now() - t0;
  }
  flushOnce() {
    const records = this.records;
    this.records = [];
    if (records.length || this.reloaded.size) this.flushMutations(records);
    else if (this.pendingAttrs.length) this.send('mutations', { removes: [], adds: [], order: [], attrs: this.takeAttrs(), texts: [] });
    for (const [kind, data] of this.latest.values()) this.send(kind, data);
    this.latest.clear();
  }
  takeAttrs() {
    const out = this.pendingAttrs;
    this.pendingAttrs = [];
    return out;
  }
  flushMutations(records) {
    const added = new Set(), parents = new Set(), removes = [];
    const attrs = new Map(), texts = new Map();
    for (const r of records) {
      if (r.type === 'childList') {
        r.addedNodes.forEach((n) => added.add(n));
        if (r.addedNodes.length) parents.add(r.target);
        r.removedNodes.forEach((n) => { if (ids.has(n) && !n.isConnected) removes.push(ids.get(n)); });
      } else if (r.type === 'attributes') {
        if (!attrs.has(r.target)) attrs.set(r.target, new Set());
        attrs.get(r.target).add(r.attributeName);
      } else if (r.type === 'characterData' && r.target.nodeType === TEXT) {
        texts.set(r.target, true); // comments' content is never sent
      }
    }
    for (const iframe of this.reloaded) {
      if (iframe.isConnected && ids.has(iframe)) { added.add(iframe); parents.add(iframe.parentNode); }
    }
    this.reloaded.clear();
    const adds = [];
    const inAdded = (node) => {
      for (let p = node.parentNode; p; p = p.parentNode) if (added.has(p)) return true;
      return false;
    };
    for (const node of added) {
      if (!node.isConnected || inAdded(node) || node.parentNode.nodeName === 'SCRIPT') continue;
      if (isOverlay(node)) continue;
      if (!ids.has(node.parentNode) && node.parentNode !== document) continue;
      const pid = node.parentNode === document ? 0 : ids.get(node.parentNode);
      this.serializeNow(node, pid, adds);
    }
    const order = [];
    for (const parent of parents) {
      if (!parent.isConnected || !ids.has(parent) || inAdded(parent)) continue;
      const kids = [];
      parent.childNodes.forEach((c) => { const id = ids.get(c); if (id) kids.push(id); });
      order.push([ids.get(parent), kids]);
    }
    const attrOut = this.takeAttrs();
    for (const [el, names] of attrs) {
      if (!ids.has(el) || !el.isConnected || added.has(el) || inAdded(el)) continue;
      const id = ids.get(el);
      if (this.blocked(el) || isOverlay(el)) continue;
      const secret = VALUE_TAGS[el.tagName] && this.secretValue(el);
      for (const name of names) {
        if (secret && name === 'value') continue;
        attrOut.push([id, name, el.getAttribute(name)]);
      }
    }
    const textOut = [];
    for (const node of texts.keys()) {
      if (!ids.has(node) || !node.isConnected || inAdded(node)) continue;
      if (node.parentNode && node.parentNode.nodeName === 'SCRIPT') continue;
      const record = this.textRecord(node, 0);
      textOut.push(record.length === 5 ? [record[0], null, record[4]] : [record[0], record[3]]);
    }
    if (removes.length || adds.length || attrOut.length || textOut.length) {
      this.send('mutations', { removes, adds, order, attrs: attrOut, texts: textOut });
    }
  }
  serializeNow(node, parentId, out) {
    // Added subtrees are serialized at once (not sliced), so mutations stay in order: an
    // async function runs synchronously up to its first await, and unsliced it never awaits.
    this.readScroll = false;
    this.serialize(node, parentId, out, false);
    this.readScroll = true;
  }
}

function tagName(el) {
  return el.namespaceURI === HTML_NS ? el.tagName.toLowerCase() : el.tagName;
}
function pushChildren(stack, children, parentId) {
  for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], parentId]);
}
function pairs(id, flat) {
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push([id, flat[i], flat[i + 1]]);
  return out;
}

/** What the last snapshot and flush cost on the main thread (for benchmarks). */
export const stats = { snapshotMs: 0, snapshotBusyMs: 0, lastFlushMs: 0, flushes: 0 };

let patched = false;
function patchCssom() {
  // Rules added or removed through the CSSOM change no DOM: watch the sheet methods.
  if (patched) return;
  patched = true;
  const proto = CSSStyleSheet.prototype;
  for (const name of ['insertRule', 'deleteRule', 'replaceSync', 'addRule', 'removeRule']) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    proto[name] = function (...args) {
      const result = original.apply(this, args);
      if (session) session.sheetChanged(this);
      return result;
    };
  }
  // Values set by script fire no input event: watch the value/checked setters too.
  for (const [Ctor, prop] of [[HTMLInputElement, 'value'], [HTMLInputElement, 'checked'],
    [HTMLTextAreaElement, 'value'], [HTMLSelectElement, 'value']]) {
    const desc = Object.getOwnPropertyDescriptor(Ctor.prototype, prop);
    if (!desc || !desc.set) continue;
    Object.defineProperty(Ctor.prototype, prop, {
      ...desc,
      set(v) { desc.set.call(this, v); if (session) session.onInput(this); },
    });
  }
}

/** Start capturing; ``send(kind, data)`` receives raw frames. Returns when the snapshot is sent. */
export function start(config, send, shadowRoots) {
  stop();
  patchCssom();
  session = new Capture(config, send, shadowRoots);
  return session.start();
}

/** Stop capturing: nothing is read or sent any more. */
export function stop() {
  if (session) session.stop();
  session = null;
}
