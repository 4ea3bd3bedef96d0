// cwmn_web capture, serialization (rrweb's "snapshot"): a subtree of the page → raw node
// records in pre-order (docs/MIRROR.md). Sliced, it yields to the browser every SLICE_MS so
// the page never blocks for long.
import { HTML_NS, NODE, PSEUDO } from '../dist/constants.mjs';
import { dom } from './dom.mjs';
import { idOf } from './ids.mjs';
import { MAX_CHARS, mediaState, pictureNow } from './pictures.mjs';
import { VALUE_TAGS, isOverlay } from './privacy.mjs';

const { ELEMENT, TEXT, COMMENT, SHADOW } = NODE;
const SLICE_MS = 8;

/** What the last snapshot and flush cost on the main thread (for benchmarks). */
export const stats = { snapshotMs: 0, snapshotBusyMs: 0, lastFlushMs: 0, flushes: 0 };

const yieldToBrowser = () => new Promise((resolve) => {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => resolve(undefined);
  ch.port2.postMessage(0);
});

/** Reads nodes into records. `hooks.observe(root)` watches a shadow root or frame document
    found on the way; `hooks.watchFrame(iframe)` its reloads; `hooks.picture(el, png, media)`
    keeps a canvas or video current (capture/pictures.mjs), `hooks.budget()` says how many
    characters of pictures a mutations flush may read at once. */
export class Serializer {
  constructor(privacy, shadowRoots, hooks) {
    this.privacy = privacy;
    this.shadowRoots = shadowRoots || new WeakMap();
    this.hooks = hooks;
    /** Sheets changed through the CSSOM: their text is not their rules any more. */
    this.dirtySheets = new Set();
    /** Read scroll offsets (snapshots only: reading them forces a layout). */
    this.readScroll = true;
    /** Characters of pictures the frame being made may still hold (small ones, read at
        once; the others follow from the encoder). */
    this.pictureChars = 0;
    this.stopped = false;
    this.warned = false;
    /** Element → its script animations, during a snapshot (animationsByTarget()). */
    this.animations = null;
  }

  shadowOf(el) {
    return dom.shadowRoot(el) || this.shadowRoots.get(el) || null;
  }
  elementRecord(el, parentId) {
    const id = idOf(el);
    const attrs = [];
    if (this.privacy.blocked(el)) {
      const r = dom.getBoundingClientRect(el);
      attrs.push(PSEUDO.BLOCK, Math.round(r.width) + '×' + Math.round(r.height));
      for (const name of ['id', 'class', 'style']) {
        if (dom.hasAttribute(el, name)) attrs.push(name, dom.getAttribute(el, name));
      }
      return [[id, parentId, ELEMENT, tagName(el), attrs], false];
    }
    const tag = dom.tagName(el), ns = dom.namespaceURI(el);
    if (tag === 'IFRAME') {
      if (frameDocument(el)) return this.frameRecord(el, id, parentId);
      // Not readable now (cross-origin, or between documents): read again when it loads.
      this.hooks.watchFrame(el);
    }
    const secret = VALUE_TAGS[tag] && this.privacy.secretValue(el);
    for (const a of dom.attributes(el)) {
      if (secret && a.name === 'value') continue;
      attrs.push(a.name, a.value);
    }
    if (ns !== HTML_NS && ns) attrs.push(PSEUDO.NS, ns);
    if (VALUE_TAGS[tag]) formState(el, secret, attrs);
    if (tag === 'STYLE') {
      const css = this.cssomText(el);
      if (css !== null) attrs.push(PSEUDO.CSS, css);
    }
    const moving = this.animations && this.animations.get(el);
    if (moving) attrs.push(PSEUDO.ANIM, animationsText(moving));
    const layer = topLayer(el);
    if (layer) attrs.push(PSEUDO.TOP, layer);
    const shadow = this.shadowOf(el);
    const adopted = shadow ? adoptedText(shadow) : '';
    if (adopted) attrs.push(PSEUDO.ADOPTED, adopted);
    if ((tag === 'CANVAS' || tag === 'VIDEO') && !this.privacy.masked(el)) this.picture(el, tag, attrs);
    // Reading scroll offsets forces a layout: done in snapshots only; a subtree added later
    // reports its scrolling through scroll events.
    const [top, left] = this.readScroll ? [dom.scrollTop(el), dom.scrollLeft(el)] : [0, 0];
    if (top || left) {
      attrs.push(PSEUDO.SCROLL, left + ',' + top);
    }
    return [[id, parentId, ELEMENT, tagName(el), attrs], true];
  }
  frameRecord(iframe, id, parentId) {
    // A same-origin frame becomes a box of the frame's size holding the frame's document
    // in a shadow root (docs/MIRROR.md): styles stay scoped, and nothing runs.
    const r = iframe.getBoundingClientRect(), cs = getComputedStyle(iframe);
    const style = 'display:' + (cs.display === 'inline' ? 'inline-block' : cs.display) +
      ';width:' + r.width + 'px;height:' + r.height + 'px;overflow:hidden;box-sizing:border-box;' +
      'border:' + cs.border + ';vertical-align:' + cs.verticalAlign +
      ';background-color:' + canvasColor(frameDocument(iframe));
    const attrs = ['style', style];
    for (const name of ['id', 'class', 'title']) {
      if (dom.hasAttribute(iframe, name)) attrs.push(name, dom.getAttribute(iframe, name));
    }
    // The frame document's adopted sheets become its shadow root's.
    const adopted = adoptedText(frameDocument(iframe));
    if (adopted) attrs.push(PSEUDO.ADOPTED, adopted);
    this.hooks.watchFrame(iframe);
    return [[id, parentId, ELEMENT, 'div', attrs], true];
  }
  cssomText(styleEl) {
    // A <style> filled through the CSSOM (insertRule) has rules but no text.
    const sheet = styleEl.sheet;
    if (!sheet || (dom.textContent(styleEl).trim() && !this.dirtySheets.has(sheet))) return null;
    try {
      return Array.from(sheet.cssRules, (r) => r.cssText).join('\n');
    } catch (e) {
      return null;
    }
  }
  /** A canvas's or video's picture when small (larger ones follow from the encoder), and
      a video's play state; the element is kept current from now on. */
  picture(el, tag, attrs) {
    let png = this.pictureChars > 0 ? pictureNow(el) : null;
    const media = tag === 'VIDEO' ? mediaState(el) : null;
    if (png && png.length > this.pictureChars) png = null;
    if (png) {
      this.pictureChars -= png.length;
      attrs.push(PSEUDO.CANVAS, png);
    }
    if (media) attrs.push(PSEUDO.MEDIA, media);
    this.hooks.picture(el, png, media);
  }
  textRecord(node, parentId) {
    const parent = dom.parentNode(node);
    if (parent && dom.nodeType(parent) === ELEMENT && this.privacy.masked(parent)) {
      return [idOf(node), parentId, TEXT, null, node.data.length];
    }
    return [idOf(node), parentId, TEXT, node.data];
  }

  /** Serialize the subtree at ``root`` in pre-order; ``sliced`` yields every SLICE_MS. */
  async serialize(root, parentId, out, sliced) {
    if (sliced) this.pictureChars = MAX_CHARS; // a snapshot's (a flush's: capture/mutations.mjs)
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

  /** An added subtree, serialized at once (not sliced), so mutations stay in order: an
      async function runs synchronously up to its first await, and unsliced it never awaits. */
  serializeNow(node, parentId, out) {
    this.readScroll = false;
    this.serialize(node, parentId, out, false);
    this.readScroll = true;
  }

  /** Record one node and push its children (light DOM, shadow root, frame document). */
  visit(node, pid, stack, out) {
    const type = dom.nodeType(node);
    if (type === TEXT) {
      out.push(this.textRecord(node, pid));
      return;
    }
    if (type === COMMENT) {
      out.push([idOf(node), pid, COMMENT, '']);
      return;
    }
    if (type !== ELEMENT || isOverlay(node)) return;
    const [record, descend] = this.elementRecord(node, pid);
    out.push(record);
    // A script's source is of no use to guests (nothing runs in the viewer): not sent.
    const tag = dom.tagName(node);
    if (!descend || tag === 'SCRIPT') return;
    const id = record[0];
    const doc = tag === 'IFRAME' && frameDocument(node);
    if (doc) {
      const sid = idOf(doc);
      this.hooks.observe(doc);
      out.push([sid, id, SHADOW, 'shadow', dom.baseURI(doc)]);
      pushChildren(stack, [dom.documentElement(doc)], sid);
      return;
    }
    // Pushed before the shadow root's children, so those are read first (records stay
    // in pre-order: the shadow root right after its host).
    pushChildren(stack, dom.childNodes(node), id);
    const shadow = this.shadowOf(node);
    if (shadow) {
      const sid = idOf(shadow);
      this.hooks.observe(shadow);
      out.push([sid, id, SHADOW, 'shadow']);
      pushChildren(stack, dom.childNodes(shadow), sid);
    }
  }
}

/** A form element's state: checked, or its value (a masked one as its length). */
export function formState(el, secret, attrs) {
  if (el.type === 'checkbox' || el.type === 'radio') {
    attrs.push(PSEUDO.CHECKED, el.checked ? '1' : '');
  } else if (el.type !== 'file') {
    if (secret) attrs.push(PSEUDO.MASKED, String(el.value.length));
    else attrs.push(PSEUDO.VALUE, el.value);
  }
}

/** Where `el` is in the top layer: 'modal' (a dialog shown with showModal()), 'popover'
    (an open popover), else ''. The viewer shows it there (docs/MIRROR.md). */
export function topLayer(el) {
  try {
    if (dom.tagName(el) === 'DIALOG' && dom.matches(el, ':modal')) return 'modal';
    if (dom.hasAttribute(el, 'popover') && dom.matches(el, ':popover-open')) return 'popover';
  } catch (e) { /* a browser without :modal or popovers */ }
  return '';
}

/** Script animations (Web Animations, not the page's CSS ones: the viewer's CSS runs
    those itself) of the document, by target element. */
export function animationsByTarget() {
  const found = new Map();
  for (const a of dom.documentAnimations(document)) {
    const target = scripted(a) && a.effect.target;
    if (!target || a.effect.pseudoElement) continue;
    if (!found.has(target)) found.set(target, []);
    found.get(target).push(a);
  }
  return found;
}

/** `el`'s script animations that are running or holding their end. */
export function animationsOf(el) {
  return dom.getAnimations(el).filter((a) => scripted(a) && a.effect.target === el &&
    !a.effect.pseudoElement);
}

function scripted(a) {
  return !(typeof CSSAnimation === 'function' && a instanceof CSSAnimation) &&
    !(typeof CSSTransition === 'function' && a instanceof CSSTransition) &&
    a.effect && typeof a.effect.getKeyframes === 'function' && a.playState !== 'idle';
}

/** Animations as the viewer replays them: keyframes, timing, where they are, paused. */
export function animationsText(list) {
  return JSON.stringify(list.map((a) => {
    const t = a.effect.getTiming();
    return {
      k: a.effect.getKeyframes().map(({ computedOffset, ...frame }) => frame),
      t: { ...t, iterations: Number.isFinite(t.iterations) ? t.iterations : null },
      c: typeof a.currentTime === 'number' ? a.currentTime : null,
      r: a.playbackRate,
      p: a.playState === 'paused',
    };
  }));
}

/** The CSS of a document's or shadow root's adopted stylesheets, in order, as one text. */
export function adoptedText(root) {
  if (!root) return '';
  const sheets = dom.nodeType(root) === 9 ? dom.adoptedStyleSheets(root)
    : dom.rootAdoptedStyleSheets(root);
  const texts = [];
  for (const sheet of sheets || []) {
    try { texts.push(Array.from(sheet.cssRules, (r) => r.cssText).join('\n')); } catch (e) { /* */ }
  }
  return texts.join('\n');
}

/** A same-origin frame's document, or null (cross-origin: an empty box in the viewer). */
export function frameDocument(iframe) {
  try {
    const doc = iframe.contentDocument;
    return doc && dom.documentElement(doc) ? doc : null;
  } catch (e) {
    return null;
  }
}
/** The colour a frame document's canvas has: its root's background, else its body's (CSS
    propagates them to the canvas; in the viewer the frame's root is an element in a shadow
    root, whose background stops at its content, so the frame's box carries it). */
function canvasColor(doc) {
  const clear = (c) => !c || c === 'transparent' || c === 'rgba(0, 0, 0, 0)';
  const colorOf = (el) => (el ? getComputedStyle(el).backgroundColor : '');
  const root = colorOf(dom.documentElement(doc));
  if (!clear(root)) return root;
  const body = colorOf(dom.body(doc));
  return clear(body) ? 'transparent' : body;
}
function tagName(el) {
  const tag = dom.tagName(el);
  return dom.namespaceURI(el) === HTML_NS ? tag.toLowerCase() : tag;
}
function pushChildren(stack, children, parentId) {
  for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], parentId]);
}
