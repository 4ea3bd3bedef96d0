// cwmn_web capture, the mutation buffer (rrweb's MutationBuffer): DOM mutation records, form
// and canvas changes and the latest pointer, scroll, focus and viewport gather here and go
// out once per frame as one `mutations` frame and the latest of each other kind.
import { NODE, PSEUDO } from '../dist/constants.mjs';
import { dom } from './dom.mjs';
import { isKnown, knownId } from './ids.mjs';
import { VALUE_TAGS, isOverlay } from './privacy.mjs';
import { MAX_CHARS } from './pictures.mjs';
import { animationsOf, animationsText, stats, topLayer } from './serialize.mjs';

/** The buffer of one capture; `send(kind, data)` receives the frames. */
export class MutationBuffer {
  constructor(serializer, privacy, send) {
    this.serializer = serializer;
    this.privacy = privacy;
    this.send = send;
    this.records = [];
    /** [id, name, value] changes not from mutation records (form state, canvas, CSSOM). */
    this.pendingAttrs = [];
    /** key → [kind, data]: only the latest of each goes out. */
    this.latest = new Map();
    /** Same-origin frames that loaded a new document: serialized again, whole. */
    this.reloaded = new Set();
    /** Elements whose script animations changed (Element.animate, cancel()). */
    this.animated = new Set();
    this.flushQueued = false;
    /** A snapshot is being taken: nothing goes out before it. */
    this.snapshotting = false;
    this.stopped = false;
  }

  /** Mutation records from the observer. */
  push(records) {
    for (const r of records) this.records.push(r);
    this.queueFlush();
  }
  /** Attribute changes ([id, name, value]) to send with the next flush. */
  pushAttrs(changes) {
    this.pendingAttrs.push(...changes);
    this.queueFlush();
  }
  /** Keep only the latest `data` under `key` (sent as `kind`, else as `key`). */
  throttled(key, data, kind) {
    this.latest.set(key, [kind || key, data]);
    this.queueFlush();
  }
  animationsChanged(el) {
    this.animated.add(el);
    this.queueFlush();
  }
  frameReloaded(iframe) {
    this.reloaded.add(iframe);
    this.queueFlush();
  }
  /** Records gathered before a snapshot are in it: dropped. */
  clearRecords() {
    this.records = [];
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
    // After the adds: an element animated as it was added has its id now.
    for (const el of this.animated) {
      if (isKnown(el) && dom.isConnected(el) && !this.privacy.blocked(el)) {
        this.pendingAttrs.push([knownId(el), PSEUDO.ANIM, animationsText(animationsOf(el))]);
      }
    }
    this.animated.clear();
    if (this.pendingAttrs.length) this.send('mutations', { removes: [], adds: [], order: [], attrs: this.takeAttrs(), texts: [] });
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
        r.removedNodes.forEach((n) => { if (isKnown(n) && !dom.isConnected(n)) removes.push(knownId(n)); });
      } else if (r.type === 'attributes') {
        if (!attrs.has(r.target)) attrs.set(r.target, new Set());
        attrs.get(r.target).add(r.attributeName);
      } else if (r.type === 'characterData' && dom.nodeType(r.target) === NODE.TEXT) {
        texts.set(r.target, true); // comments' content is never sent
      }
    }
    for (const iframe of this.reloaded) {
      if (iframe.isConnected && isKnown(iframe)) { added.add(iframe); parents.add(dom.parentNode(iframe)); }
    }
    this.reloaded.clear();
    const adds = [];
    // Pictures read at once in this frame: within the pictures' budget (capture/pictures.mjs).
    this.serializer.pictureChars = Math.min(MAX_CHARS, this.serializer.hooks.budget());
    const inAdded = (node) => {
      for (let p = dom.parentNode(node); p; p = dom.parentNode(p)) if (added.has(p)) return true;
      return false;
    };
    for (const node of added) {
      const parent = dom.parentNode(node);
      if (!dom.isConnected(node) || inAdded(node) || dom.nodeName(parent) === 'SCRIPT') continue;
      if (isOverlay(node)) continue;
      if (!isKnown(parent) && parent !== document) continue;
      const pid = parent === document ? 0 : knownId(parent);
      this.serializer.serializeNow(node, pid, adds);
    }
    const order = [];
    for (const parent of parents) {
      if (!dom.isConnected(parent) || !isKnown(parent) || inAdded(parent)) continue;
      const kids = [];
      dom.childNodes(parent).forEach((c) => { const id = knownId(c); if (id) kids.push(id); });
      order.push([knownId(parent), kids]);
    }
    const attrOut = this.takeAttrs();
    for (const [el, names] of attrs) {
      if (!isKnown(el) || !dom.isConnected(el) || added.has(el) || inAdded(el)) continue;
      const id = knownId(el);
      if (this.privacy.blocked(el) || isOverlay(el)) continue;
      const secret = VALUE_TAGS[dom.tagName(el)] && this.privacy.secretValue(el);
      for (const name of names) {
        if (secret && name === 'value') continue;
        attrOut.push([id, name, dom.getAttribute(el, name)]);
      }
      // Opening a dialog (show() or showModal()) sets `open`: say which it was.
      if (names.has('open') || names.has('popover')) attrOut.push([id, PSEUDO.TOP, topLayer(el)]);
    }
    const textOut = [];
    for (const node of texts.keys()) {
      if (!isKnown(node) || !dom.isConnected(node) || inAdded(node)) continue;
      const parent = dom.parentNode(node);
      if (parent && dom.nodeName(parent) === 'SCRIPT') continue;
      const record = this.serializer.textRecord(node, 0);
      textOut.push(record.length === 5 ? [record[0], null, record[4]] : [record[0], record[3]]);
    }
    if (removes.length || adds.length || attrOut.length || textOut.length) {
      this.send('mutations', { removes, adds, order, attrs: attrOut, texts: textOut });
    }
  }
}
