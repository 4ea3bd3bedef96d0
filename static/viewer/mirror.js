/* cwmn_web viewer, the mirror builder (rrweb's "rebuild"): builds one document from node
   records (docs/MIRROR.md) and keeps it up to date; knows no stage. Records come sanitized
   (cwmn_web/viewer/sanitize.py); odd ones never stop a build. A classic script after
   dist/constants.js: defines window.CwmnMirror. */
(function () {
  'use strict';

  const { ELEMENT, TEXT, COMMENT, SHADOW } = CWMN_CONSTANTS.NODE;
  const DOCTYPE = Node.DOCUMENT_TYPE_NODE;
  const HTML_NS = CWMN_CONSTANTS.HTML_NS;
  /** @type {Record<string, string>} */
  const ATTR_NS = CWMN_CONSTANTS.ATTR_NAMESPACES;
  const PSEUDO = CWMN_CONSTANTS.PSEUDO, PSEUDO_PREFIX = CWMN_CONSTANTS.PSEUDO_PREFIX;

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
    const s = el.style;
    s.setProperty('width', w + 'px', 'important');
    s.setProperty('height', h + 'px', 'important');
    s.setProperty('box-sizing', 'border-box', 'important');
    s.setProperty('overflow', 'hidden', 'important');
    s.setProperty('background', 'repeating-linear-gradient(45deg, #d4d4d8 0 8px, #e4e4e7 8px 16px)',
      'important');
    const display = el.ownerDocument.defaultView.getComputedStyle(el).display;
    if (display === 'inline') s.setProperty('display', 'inline-block', 'important');
  }

  /** Show a canvas's picture (a data:image/png) in the canvas itself. */
  function paint(canvas, png) {
    const img = new Image();
    img.onload = () => attempt(() => {
      const ctx = canvas.getContext('2d');
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    });
    img.src = png;
  }

  /** Builds one document from node records and keeps it up to date; knows no stage. */
  class Mirror {
    constructor(doc) {
      this.doc = doc;
      this.nodes = new Map(); // id → Node (a ShadowRoot for a shadow record)
      this.ids = new WeakMap(); // Node → id
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
      if (previous) attempt(() => previous.style.removeProperty('outline'));
      const el = this.nodes.get(id);
      this.focused = el && el.nodeType === ELEMENT ? el : null;
      if (this.focused) {
        attempt(() => this.focused.style.setProperty('outline', '2px solid #4c8bf5', 'important'));
      }
    }

    snapshot(data) {
      const doc = this.doc, after = [], top = [];
      this.nodes.clear();
      // Built detached, then swapped in at once: one layout, not one per node.
      for (const record of data.nodes || []) this.add(record, after, top);
      for (const child of Array.from(doc.childNodes)) {
        if (child.nodeType !== DOCTYPE) child.remove();
      }
      for (const node of top) attempt(() => doc.appendChild(node));
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
        if (el && el.nodeType === ELEMENT) this.attr(el, name, value, after);
      }
      for (const [id, text] of data.texts || []) {
        const node = this.nodes.get(id);
        if (node && node.nodeType === TEXT) node.data = text;
      }
      runAll(after);
    }

    scroll({ id, x, y }) {
      if (id === 0) {
        const win = this.doc.defaultView;
        if (win) attempt(() => win.scrollTo({ left: x, top: y, behavior: 'instant' }));
        return;
      }
      const el = this.nodes.get(id);
      if (el && el.nodeType === ELEMENT) {
        el.scrollLeft = x;
        el.scrollTop = y;
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
      else if (type === TEXT) node = this.doc.createTextNode(String(record[3]));
      else if (type === COMMENT) node = this.doc.createComment('');
      else if (type === SHADOW && parent.nodeType === ELEMENT) {
        node = attempt(() => parent.shadowRoot || parent.attachShadow({ mode: 'open' }));
      }
      if (!node) return;
      this.nodes.set(id, node);
      this.ids.set(node, id);
      if (type === SHADOW) return;
      if (parent === this.doc && top) top.push(node);
      else attempt(() => parent.appendChild(node));
    }

    element(tag, attrs, after) {
      let ns = HTML_NS;
      for (let i = 0; i < attrs.length; i += 2) if (attrs[i] === PSEUDO.NS) ns = attrs[i + 1];
      const doc = this.doc;
      const el = attempt(() => (ns === HTML_NS ? doc.createElement(tag) : doc.createElementNS(ns, tag)));
      if (!el) return null;
      for (let i = 0; i < attrs.length; i += 2) this.attr(el, attrs[i], attrs[i + 1], after);
      return el;
    }

    /** Set (or, for null, remove) one attribute; pseudo-attributes are handled here. */
    attr(el, name, value, after) {
      if (name.startsWith(PSEUDO_PREFIX)) {
        this.pseudo(el, name, value, after);
        return;
      }
      const prefix = name === 'xmlns' ? 'xmlns' : name.split(':', 1)[0];
      attempt(() => {
        if (value === null) el.removeAttribute(name);
        else if (ATTR_NS[prefix] && el.namespaceURI !== HTML_NS) el.setAttributeNS(ATTR_NS[prefix], name, value);
        else el.setAttribute(name, value);
      });
    }

    pseudo(el, name, value, after) {
      if (value === null) return;
      if (name === PSEUDO.VALUE) after.push(() => { el.value = value; });
      else if (name === PSEUDO.CHECKED) after.push(() => { el.checked = value === '1'; });
      else if (name === PSEUDO.CSS) {
        after.push(() => {
          for (const child of Array.from(el.childNodes)) this.forget(child, false);
          el.textContent = value;
        });
      } else if (name === PSEUDO.SCROLL) {
        const [x, y] = value.split(',').map(Number);
        after.push(() => { el.scrollLeft = x; el.scrollTop = y; });
      } else if (name === PSEUDO.BLOCK) after.push(() => block(el, value));
      else if (name === PSEUDO.CANVAS) after.push(() => paint(el, value));
    }

    /** Put `children` (ids) last in `parentId`, in that order; unknown ids are skipped. */
    reorder(parentId, children) {
      const parent = parentId === 0 ? this.doc : this.nodes.get(parentId);
      if (!parent) return;
      let next = null;
      for (let i = children.length - 1; i >= 0; i--) {
        const node = this.nodes.get(children[i]);
        if (!node || node.nodeType === SHADOW) continue;
        if (node.parentNode !== parent || node.nextSibling !== next) {
          if (attempt(() => parent.insertBefore(node, next)) === null) continue;
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
        for (let c = n.firstChild; c; c = c.nextSibling) stack.push(c);
        if (n.shadowRoot) stack.push(n.shadowRoot);
      }
      if (detach && node.nodeType !== SHADOW) node.remove();
    }

    /** The document's adopted stylesheets (constructed in the iframe's own realm). */
    adopt(sheets) {
      const win = this.doc.defaultView;
      attempt(() => {
        this.doc.adoptedStyleSheets = sheets.map((css) => {
          const sheet = new win.CSSStyleSheet();
          sheet.replaceSync(css);
          return sheet;
        });
      });
    }
  }

  Mirror.attempt = attempt;
  window.CwmnMirror = Mirror;
})();
