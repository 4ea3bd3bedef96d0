/* cwmn_web viewer, the mirror builder (rrweb's "rebuild"): builds one document from node
   records (docs/MIRROR.md) and keeps it up to date; knows no stage. Records come sanitized
   (cwmn_web/viewer/sanitize.py); odd ones never stop a build. The built document is the
   host's, names and all: it is only ever reached through `dom` below. A classic script after
   dist/constants.js: defines window.CwmnMirror. */
(function () {
  'use strict';

  const { ELEMENT, TEXT, COMMENT, SHADOW } = CWMN_CONSTANTS.NODE;
  const DOCTYPE = Node.DOCUMENT_TYPE_NODE;
  const HTML_NS = CWMN_CONSTANTS.HTML_NS;
  /** @type {Record<string, string>} */
  const ATTR_NS = CWMN_CONSTANTS.ATTR_NAMESPACES;
  const PSEUDO = CWMN_CONSTANTS.PSEUDO, PSEUDO_PREFIX = CWMN_CONSTANTS.PSEUDO_PREFIX;

  /* -- dom: the DOM members the viewer uses on the host's document and its nodes ---------
     Named elements of the host's page shadow members: <img name=createElement> (also form,
     embed, object, iframe names) replaces document.createElement, <input name=appendChild>
     a form's appendChild, <div id=addEventListener> its window's. So every member used on
     the built document, on its nodes and on its window is taken here from the prototypes,
     when this script loads (before any host content exists), and called with the node as
     `this`: `dom.createElement(doc, 'p')`, never `doc.createElement('p')`. Members of the
     window object itself (getComputedStyle, scrollTo, CSSStyleSheet…) are own properties of
     every window, which its named elements never shadow. tests/unit/test_viewer_clobbering.py
     checks no viewer script reaches these members directly. */
  const call = Function.prototype.call;
  /** `fn` as a function taking its `this` first. */
  const uncurry = (fn) => call.bind(fn);
  const descriptor = (proto, name) => Object.getOwnPropertyDescriptor(proto, name) || {};
  const getter = (proto, name) => uncurry(descriptor(proto, name).get);
  const setter = (proto, name) => uncurry(descriptor(proto, name).set);
  const [D, N, E, T] = [Document.prototype, Node.prototype, Element.prototype,
    EventTarget.prototype];
  /** The inline style getter of each namespace's elements (ElementCSSInlineStyle). */
  const STYLE = new Map([[HTML_NS, getter(HTMLElement.prototype, 'style')],
    ['http://www.w3.org/2000/svg', getter(SVGElement.prototype, 'style')]]);
  if (typeof MathMLElement === 'function') {
    STYLE.set('http://www.w3.org/1998/Math/MathML', getter(MathMLElement.prototype, 'style'));
  }
  const dom = Object.freeze({
    createElement: uncurry(D.createElement),
    createElementNS: uncurry(D.createElementNS),
    createTextNode: uncurry(D.createTextNode),
    createComment: uncurry(D.createComment),
    querySelectorAll: uncurry(D.querySelectorAll),
    defaultView: getter(D, 'defaultView'),
    url: getter(D, 'URL'),
    images: getter(D, 'images'),
    fonts: descriptor(D, 'fonts').get ? getter(D, 'fonts') : () => null,
    setAdoptedStyleSheets: descriptor(D, 'adoptedStyleSheets').set
      ? setter(D, 'adoptedStyleSheets') : () => {},
    setRootAdoptedStyleSheets: descriptor(ShadowRoot.prototype, 'adoptedStyleSheets').set
      ? setter(ShadowRoot.prototype, 'adoptedStyleSheets') : () => {},
    documentElement: getter(D, 'documentElement'),
    matches: uncurry(E.matches),
    animate: uncurry(E.animate),
    showModal: uncurry(HTMLDialogElement.prototype.showModal),
    close: uncurry(HTMLDialogElement.prototype.close),
    showPopover: uncurry(HTMLElement.prototype.showPopover || (() => {})),
    hidePopover: uncurry(HTMLElement.prototype.hidePopover || (() => {})),
    nodeType: getter(N, 'nodeType'),
    isConnected: getter(N, 'isConnected'),
    localName: getter(E, 'localName'),
    getAttribute: uncurry(E.getAttribute),
    getBoundingClientRect: uncurry(E.getBoundingClientRect),
    ownerDocument: getter(N, 'ownerDocument'),
    parentNode: getter(N, 'parentNode'),
    childNodes: getter(N, 'childNodes'),
    firstChild: getter(N, 'firstChild'),
    nextSibling: getter(N, 'nextSibling'),
    appendChild: uncurry(N.appendChild),
    insertBefore: uncurry(N.insertBefore),
    removeChild: uncurry(N.removeChild),
    setTextContent: setter(N, 'textContent'),
    namespaceURI: getter(E, 'namespaceURI'),
    setAttribute: uncurry(E.setAttribute),
    setAttributeNS: uncurry(E.setAttributeNS),
    removeAttribute: uncurry(E.removeAttribute),
    attachShadow: uncurry(E.attachShadow),
    shadowRoot: getter(E, 'shadowRoot'),
    setScrollLeft: setter(E, 'scrollLeft'),
    setScrollTop: setter(E, 'scrollTop'),
    addEventListener: uncurry(T.addEventListener),
    /** An element's inline style (a CSSStyleDeclaration, never shadowed), or null. */
    style(el) {
      const get = STYLE.get(dom.namespaceURI(el));
      return get ? get(el) : null;
    },
    /** Take `node` out of its parent, if it has one. */
    detach(node) {
      const parent = dom.parentNode(node);
      if (parent) dom.removeChild(parent, node);
    },
  });

  /** fn(), or null if it throws: hostile or odd records must never stop a build. */
  function attempt(fn) {
    try { return fn(); } catch (e) { return null; }
  }
  function runAll(actions) {
    for (const action of actions) attempt(action);
  }

  /** A blocked element: an empty grey box of the host's size ("W×H"). */
  function block(el, value) {
    const [w, h] = value.split(/[x\u00d7]/).map(Number);
    const s = dom.style(el);
    if (!s) return;
    s.setProperty('width', w + 'px', 'important');
    s.setProperty('height', h + 'px', 'important');
    s.setProperty('box-sizing', 'border-box', 'important');
    s.setProperty('overflow', 'hidden', 'important');
    s.setProperty('background', 'repeating-linear-gradient(45deg, #d4d4d8 0 8px, #e4e4e7 8px 16px)',
      'important');
    const display = dom.defaultView(dom.ownerDocument(el)).getComputedStyle(el).display;
    if (display === 'inline') s.setProperty('display', 'inline-block', 'important');
  }

  /* -- pictures: canvases and videos (docs/fidelity/pictures.md) ----------------------
     A document without scripting shows a canvas's fallback content, never its bitmap: the
     canvas stays a canvas (the page's CSS still matches it) and shows its picture as CSS
     `content`, which makes it a replaced element of the picture's natural size, like the
     host's canvas. The picture is the PNG itself when it has the canvas's size (width and
     height attributes, 300×150 by default), else an SVG of that size holding it (a picture
     scaled down to the pixel cap, or none yet: a transparent box, never 0×0). A video shows
     its frame as its poster (it never plays here: no autoplay). */
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const OWN_CSS = 'video::-webkit-media-controls { display: none !important; }';
  const MAX_SIDE = 100000;

  /** An element's size attribute as the HTML parser reads a non-negative integer. */
  function sizeAttr(el, name, fallback) {
    const match = /^[\t\n\f\r ]*(\d+)/.exec(dom.getAttribute(el, name) || '');
    return match ? Math.min(Number(match[1]), MAX_SIDE) : fallback;
  }

  /** The pixel size in a PNG data: URL's header, or null. */
  function pngSize(png) {
    const b64 = png.slice(png.indexOf(',') + 1, png.indexOf(',') + 33);
    const bytes = attempt(() => atob(b64));
    if (!bytes || bytes.length < 24) return null;
    const int = (at) => ((bytes.charCodeAt(at) << 24) | (bytes.charCodeAt(at + 1) << 16) |
      (bytes.charCodeAt(at + 2) << 8) | bytes.charCodeAt(at + 3)) >>> 0;
    return [int(16), int(20)];
  }

  /** What the sanitizer lets through as a picture (checked again: it goes in CSS and SVG). */
  const PNG = /^data:image\/png;base64,[A-Za-z0-9+/=]*$/;

  /** Show `png` (or nothing yet) in a canvas, at the canvas's own size. */
  function showCanvas(canvas, value) {
    const w = sizeAttr(canvas, 'width', 300), h = sizeAttr(canvas, 'height', 150);
    const png = value && PNG.test(value) ? value : null;
    const size = png ? pngSize(png) : null;
    let url = png;
    if (!size || size[0] !== w || size[1] !== h) {
      const image = png ? '<image href="' + png + '" width="' + w + '" height="' + h +
        '" preserveAspectRatio="none"/>' : '';
      url = 'data:image/svg+xml,' + encodeURIComponent('<svg xmlns="' + SVG_NS + '" width="' +
        w + '" height="' + h + '">' + image + '</svg>');
    }
    const s = dom.style(canvas);
    if (s) s.setProperty('content', 'url("' + url + '")', 'important');
  }

  /** Put `el` where the host's is in the top layer: 'modal' (showModal()), 'popover' (an
      open popover) or neither (''). The frame's sandbox stops its own scripts, not these calls. */
  function topLayer(el, state) {
    const is = (/** @type {string} */ selector) => attempt(() => dom.matches(el, selector)) === true;
    if (state !== 'modal' && is(':modal')) attempt(() => dom.close(el));
    if (state !== 'popover' && is(':popover-open')) attempt(() => dom.hidePopover(el));
    if (state === 'modal' && !is(':modal')) {
      attempt(() => {
        dom.removeAttribute(el, 'open'); // showModal() refuses a dialog already open
        dom.showModal(el);
      });
    }
    if (state === 'popover' && !is(':popover-open')) attempt(() => dom.showPopover(el));
  }

  /** The animations the viewer started on each element (replaced by the next cwmn:anim). */
  const animations = new WeakMap();

  /** Replay the host's script animations on `el` (JSON, sanitized: keyframes, timing,
      current time, rate, paused), each from where the host's was. */
  function animate(el, json) {
    for (const running of animations.get(el) || []) attempt(() => running.cancel());
    const made = [];
    for (const { k, t, c, r, p } of attempt(() => JSON.parse(json)) || []) {
      const timing = { ...t, iterations: t.iterations === null ? Infinity : t.iterations };
      const running = attempt(() => dom.animate(el, k, timing));
      if (!running) continue;
      attempt(() => {
        running.playbackRate = r;
        if (c !== null) running.currentTime = c;
        if (p) running.pause();
      });
      made.push(running);
    }
    animations.set(el, made);
  }

  /** Builds one document from node records and keeps it up to date; knows no stage. */
  class Mirror {
    constructor(doc) {
      this.doc = doc;
      this.nodes = new Map(); // id → Node (a ShadowRoot for a shadow record)
      this.ids = new WeakMap(); // Node → id
      /** canvas or video → {png, poster}: its latest picture and the host's own poster. */
      this.pictures = new WeakMap();
      /** video → its play state ("playing,T" / "paused,T"), for the stage's badges. */
      this.media = new Map();
    }

    apply(kind, data) {
      if (kind === 'snapshot') this.snapshot(data);
      else if (kind === 'mutations') this.mutations(data);
      else if (kind === 'scroll') this.scroll(data);
      else if (kind === 'focus') this.focus(data);
    }

    /** Outline the host's focused element (id 0: nothing has focus). */
    focus({ id }) {
      const previous = this.focused;
      if (previous) attempt(() => dom.style(previous).removeProperty('outline'));
      const el = this.nodes.get(id);
      this.focused = el && dom.nodeType(el) === ELEMENT ? el : null;
      if (this.focused) {
        const focused = this.focused;
        attempt(() => dom.style(focused).setProperty('outline', '2px solid #4c8bf5', 'important'));
      }
    }

    snapshot(data) {
      const doc = this.doc, after = [], top = [];
      this.nodes.clear();
      this.media.clear();
      // Built detached, then swapped in at once: one layout, not one per node.
      for (const record of data.nodes || []) this.add(record, after, top);
      for (const child of Array.from(dom.childNodes(doc))) {
        if (dom.nodeType(child) !== DOCTYPE) dom.removeChild(doc, child);
      }
      for (const node of top) attempt(() => dom.appendChild(doc, node));
      this.adopt(data.adopted || []);
      runAll(after);
      const [x, y] = data.scroll || [0, 0];
      this.scroll({ id: 0, x, y });
    }

    mutations(data) {
      const after = [];
      for (const id of data.removes || []) {
        const node = this.nodes.get(id);
        if (node) this.forget(node, true);
      }
      for (const record of data.adds || []) this.add(record, after, null);
      for (const [parentId, children] of data.order || []) this.reorder(parentId, children);
      for (const [id, name, value] of data.attrs || []) {
        const el = this.nodes.get(id);
        if (el && dom.nodeType(el) === ELEMENT) this.attr(el, name, value, after);
      }
      for (const [id, text] of data.texts || []) {
        const node = this.nodes.get(id);
        if (node && dom.nodeType(node) === TEXT) node.data = text; // a Text: never shadowed
      }
      runAll(after);
    }

    scroll({ id, x, y }) {
      if (id === 0) {
        const win = dom.defaultView(this.doc);
        if (win) attempt(() => win.scrollTo({ left: x, top: y, behavior: 'instant' }));
        return;
      }
      const el = this.nodes.get(id);
      if (el && dom.nodeType(el) === ELEMENT) {
        dom.setScrollLeft(el, x);
        dom.setScrollTop(el, y);
      }
    }

    /** Create the node of one record under its parent (appended: `order` places it). */
    add(record, after, top) {
      const [id, parentId, type] = record;
      const parent = parentId === 0 ? this.doc : this.nodes.get(parentId);
      if (!parent) return;
      const old = this.nodes.get(id);
      if (old) this.forget(old, true); // the host moved it: it comes again, whole
      let node = null;
      if (type === ELEMENT) node = this.element(record[3], record[4] || [], after);
      else if (type === TEXT) node = dom.createTextNode(this.doc, String(record[3]));
      else if (type === COMMENT) node = dom.createComment(this.doc, '');
      else if (type === SHADOW && dom.nodeType(parent) === ELEMENT) {
        node = attempt(() => dom.shadowRoot(parent) || dom.attachShadow(parent, { mode: 'open' }));
      }
      if (!node) return;
      this.nodes.set(id, node);
      this.ids.set(node, id);
      if (type === SHADOW) return;
      if (parent === this.doc && top) top.push(node);
      else attempt(() => dom.appendChild(parent, node));
    }

    element(tag, attrs, after) {
      let ns = HTML_NS;
      for (let i = 0; i < attrs.length; i += 2) if (attrs[i] === PSEUDO.NS) ns = attrs[i + 1];
      const doc = this.doc;
      const el = attempt(() => (ns === HTML_NS ? dom.createElement(doc, tag)
        : dom.createElementNS(doc, ns, tag)));
      if (!el) return null;
      if (ns === HTML_NS && (tag === 'canvas' || tag === 'video')) {
        this.pictures.set(el, { png: null, poster: null });
        if (tag === 'canvas') after.push(() => this.repaint(el));
      }
      for (let i = 0; i < attrs.length; i += 2) this.attr(el, attrs[i], attrs[i + 1], after);
      return el;
    }

    /** Set (or, for null, remove) one attribute; pseudo-attributes are handled here. */
    attr(el, name, value, after) {
      if (name.startsWith(PSEUDO_PREFIX)) {
        this.pseudo(el, name, value, after);
        return;
      }
      if (name.toLowerCase() === 'autoplay') return; // media never plays in the viewer
      const picture = this.pictures.get(el);
      if (picture && this.pictureAttr(el, picture, name, value, after)) return;
      const prefix = name === 'xmlns' ? 'xmlns' : name.split(':', 1)[0];
      attempt(() => {
        if (value === null) dom.removeAttribute(el, name);
        else if (ATTR_NS[prefix] && dom.namespaceURI(el) !== HTML_NS) {
          dom.setAttributeNS(el, ATTR_NS[prefix], name, value);
        } else dom.setAttribute(el, name, value);
      });
    }

    pseudo(el, name, value, after) {
      if (value === null) return;
      if (name === PSEUDO.VALUE) after.push(() => { el.value = value; });
      else if (name === PSEUDO.CHECKED) after.push(() => { el.checked = value === '1'; });
      else if (name === PSEUDO.CSS) {
        after.push(() => {
          for (const child of Array.from(dom.childNodes(el))) this.forget(child, false);
          dom.setTextContent(el, value);
        });
      } else if (name === PSEUDO.SCROLL) {
        const [x, y] = value.split(',').map(Number);
        after.push(() => { dom.setScrollLeft(el, x); dom.setScrollTop(el, y); });
      } else if (name === PSEUDO.BLOCK) after.push(() => block(el, value));
      else if (name === PSEUDO.TOP) after.push(() => topLayer(el, value));
      else if (name === PSEUDO.ANIM) after.push(() => animate(el, value));
      else if (name === PSEUDO.ADOPTED) {
        // On <html>: the document's sheets; on a shadow host: its root's.
        after.push(() => {
          const root = el === dom.documentElement(this.doc) ? this.doc : dom.shadowRoot(el);
          if (root) this.adopt(value ? [value] : [], root);
        });
      } else if (name === PSEUDO.CANVAS || name === PSEUDO.MEDIA) {
        const picture = this.pictures.get(el);
        if (!picture) return;
        if (name === PSEUDO.MEDIA) {
          if (dom.localName(el) === 'video') this.media.set(el, value);
          return;
        }
        picture.png = value;
        after.push(() => this.repaint(el));
      }
    }

    /** A canvas's or video's own attribute: true when handled here. A video's poster is
        its latest frame when there is one; a canvas's picture is shown again after its
        style or size changed. */
    pictureAttr(el, picture, name, value, after) {
      const lower = name.toLowerCase();
      if (lower === 'poster') {
        picture.poster = value;
        after.push(() => this.repaint(el));
        return true;
      }
      if (lower === 'style' || lower === 'width' || lower === 'height') {
        after.push(() => this.repaint(el));
      }
      return false;
    }

    /** Show a canvas's or video's latest picture. */
    repaint(el) {
      const picture = this.pictures.get(el);
      if (!picture) return;
      if (dom.localName(el) === 'canvas') showCanvas(el, picture.png);
      else {
        const poster = (picture.png && PNG.test(picture.png) && picture.png) || picture.poster;
        if (poster === null) dom.removeAttribute(el, 'poster');
        else dom.setAttribute(el, 'poster', poster);
      }
    }

    /** Put `children` (ids) last in `parentId`, in that order; unknown ids are skipped. */
    reorder(parentId, children) {
      const parent = parentId === 0 ? this.doc : this.nodes.get(parentId);
      if (!parent) return;
      let next = null;
      for (let i = children.length - 1; i >= 0; i--) {
        const node = this.nodes.get(children[i]);
        if (!node || dom.nodeType(node) === SHADOW) continue;
        if (dom.parentNode(node) !== parent || dom.nextSibling(node) !== next) {
          if (attempt(() => dom.insertBefore(parent, node, next)) === null) continue;
        }
        next = node;
      }
    }

    /** Forget the ids of `node` and everything under it; `detach` takes it out of the page. */
    forget(node, detach) {
      const stack = [node];
      while (stack.length) {
        const n = stack.pop();
        const id = this.ids.get(n);
        if (id !== undefined && this.nodes.get(id) === n) this.nodes.delete(id);
        this.media.delete(n);
        for (let c = dom.firstChild(n); c; c = dom.nextSibling(c)) stack.push(c);
        const shadow = dom.nodeType(n) === ELEMENT ? dom.shadowRoot(n) : null;
        if (shadow) stack.push(shadow);
      }
      if (detach && dom.nodeType(node) !== SHADOW) dom.detach(node);
    }

    /** The adopted stylesheets (constructed in the iframe's own realm) of the document,
        with the viewer's own (no media controls: Chromium shows them on every video of a
        document without scripting; the host's page has its own), or of `root` (a shadow
        root). */
    adopt(sheets, root) {
      const win = dom.defaultView(this.doc);
      const shadow = root && root !== this.doc;
      attempt(() => {
        const made = (shadow ? sheets : [...sheets, OWN_CSS]).map((css) => {
          const sheet = new win.CSSStyleSheet();
          sheet.replaceSync(css);
          return sheet;
        });
        if (root && root !== this.doc) dom.setRootAdoptedStyleSheets(root, made);
        else dom.setAdoptedStyleSheets(this.doc, made);
      });
    }
  }

  Mirror.attempt = attempt;
  Mirror.dom = dom;
  window.CwmnMirror = Mirror;
})();
