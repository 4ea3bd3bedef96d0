/* cwmn_web viewer: rebuilds the host's page (docs/MIRROR.md) in a sandboxed iframe.
   The sandbox never allows scripts, forms, popups or top navigation, and a transparent shield
   takes every pointer event. The worker has sanitized each frame already
   (cwmn_web/viewer/sanitize.py); either defence holds alone. No inline scripts, no framework.
   The shield also reports the guest's own pointer and clicks (host document coordinates) to
   `viewer.onInput`; other guests' pointers and clicks are drawn over the page. */
(function () {
  'use strict';

  const ELEMENT = 1, TEXT = 3, COMMENT = 8, SHADOW = 11, DOCTYPE = 10;
  const HTML_NS = 'http://www.w3.org/1999/xhtml';
  const ATTR_NS = {
    xlink: 'http://www.w3.org/1999/xlink',
    xml: 'http://www.w3.org/XML/1998/namespace',
    xmlns: 'http://www.w3.org/2000/xmlns/',
  };
  const BLANK = '<!doctype html><html><head></head><body></body></html>';
  const MESSAGES = {
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    paused: 'The host paused sharing',
    hostDown: 'The host\u2019s connection dropped \u2014 waiting for them to come back',
    waiting: 'Waiting for the host to start sharing\u2026',
    ended: 'The session has ended',
    removed: 'The host removed you from this session.',
  };
  /** The quiet note while the host's next page loads (the last picture stays). */
  const NAVIGATING = 'Loading the next page\u2026';
  /** Where this device remembers the name its guest last typed. This origin serves every
      site's sessions (and a shared computer many people): the name is only ever offered in
      the name card, never sent unasked. */
  const NAME_KEY = 'cwmn-guest-name';
  /** The server's name for a guest it knows by none. */
  const DEFAULT_NAME = 'Guest';
  const MUTED = 'The host muted your pointer';
  const COLOR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
  const DEFAULT_COLOR = '#e5484d';
  const RIPPLE_MS = 600;

  /** A colour the stylesheet may use (a plain hex colour), else the default. */
  function color(value) {
    return typeof value === 'string' && COLOR.test(value) ? value : DEFAULT_COLOR;
  }
  function finite(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

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
      for (let i = 0; i < attrs.length; i += 2) if (attrs[i] === 'cwmn:ns') ns = attrs[i + 1];
      const doc = this.doc;
      const el = attempt(() => (ns === HTML_NS ? doc.createElement(tag) : doc.createElementNS(ns, tag)));
      if (!el) return null;
      for (let i = 0; i < attrs.length; i += 2) this.attr(el, attrs[i], attrs[i + 1], after);
      return el;
    }

    /** Set (or, for null, remove) one attribute; `cwmn:*` ones are handled here. */
    attr(el, name, value, after) {
      if (name.startsWith('cwmn:')) {
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
      if (name === 'cwmn:value') after.push(() => { el.value = value; });
      else if (name === 'cwmn:checked') after.push(() => { el.checked = value === '1'; });
      else if (name === 'cwmn:css') {
        after.push(() => {
          for (const child of Array.from(el.childNodes)) this.forget(child, false);
          el.textContent = value;
        });
      } else if (name === 'cwmn:scroll') {
        const [x, y] = value.split(',').map(Number);
        after.push(() => { el.scrollLeft = x; el.scrollTop = y; });
      } else if (name === 'cwmn:block') after.push(() => block(el, value));
      else if (name === 'cwmn:canvas') after.push(() => paint(el, value));
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

  function div(className) {
    const el = document.createElement('div');
    el.className = className;
    return el;
  }

  /** The stage: the sandboxed iframe scaled to fit, the host's cursor, a shield, status. */
  class CwmnViewer {
    /** `options.title`: show the host page's title as this page's title. */
    constructor(container, options) {
      this.container = container;
      this.options = options || {};
      this.stage = div('cwmn-stage');
      this.screen = div('cwmn-screen');
      this.iframe = document.createElement('iframe');
      this.iframe.className = 'cwmn-frame';
      // Same origin only so this page can build the document; never allow-scripts.
      this.iframe.setAttribute('sandbox', 'allow-same-origin');
      this.iframe.setAttribute('title', 'The host\u2019s page');
      this.iframe.setAttribute('tabindex', '-1');
      this.iframe.setAttribute('inert', ''); // no focus, no keyboard into the host's page
      this.iframe.srcdoc = BLANK; // a standards-mode document to build in
      this.cursor = div('cwmn-cursor');
      this.cursor.hidden = true;
      this.shield = div('cwmn-shield'); // takes every pointer event above the page
      this.status = div('cwmn-status');
      this.statusText = document.createElement('p');
      this.status.append(this.statusText);
      this.status.hidden = true;
      this.mutedBadge = div('cwmn-muted');
      this.mutedBadge.textContent = MUTED;
      this.mutedBadge.setAttribute('role', 'status');
      this.mutedBadge.hidden = true;
      this.note = div('cwmn-note'); // the host's page is changing: a quiet pill, no overlay
      this.note.textContent = NAVIGATING;
      this.note.setAttribute('role', 'status');
      this.note.hidden = true;
      this.screen.append(this.iframe, this.cursor, this.shield);
      this.stage.append(this.screen, this.mutedBadge, this.note, this.status);
      this.state = { connecting: false, reconnecting: false, paused: false, hostDown: false,
        navigating: false, waiting: false, ended: null, removed: false, error: null };
      this.size = [1024, 768];
      this.scale = 1;
      this.pointer = null;
      this.guests = new Map(); // guestId → {el, label, x, y}: other guests' cursors
      this.muted = false;
      this.color = DEFAULT_COLOR; // this guest's own colour (from `joined`)
      /** Set by `connect()`: receives {op: 'pointer', x, y, visible} and {op: 'click', x, y}. */
      this.onInput = null;
      /** Set by `connect()`: the guest chose a name (sent at once, or with the boot). */
      this.setName = null;
      /** Called with each `joined` message (the name the server knows the guest by). */
      this.onJoined = null;
      this.shield.addEventListener('pointermove', (e) => this.input(e, 'pointer', true));
      this.shield.addEventListener('pointerleave', (e) => this.input(e, 'pointer', false));
      this.shield.addEventListener('click', (e) => this.input(e, 'click'));
      this.title = '';
      this.hostName = '';
      this.mirror = null;
      this.queue = [];
      this.ready = new Promise((resolve) => { this.resolveReady = resolve; });
      this.iframe.addEventListener('load', () => this.loaded());
      container.append(this.stage);
      this.resizer = new ResizeObserver(() => this.fit());
      this.resizer.observe(this.stage);
      this.fit();
    }

    loaded() {
      const doc = attempt(() => this.iframe.contentDocument);
      if (!doc || doc.URL !== 'about:srcdoc') {
        // Navigated away (only a hostile frame could): start over on a blank document.
        this.mirror = null;
        this.iframe.srcdoc = BLANK;
        return;
      }
      this.mirror = new Mirror(doc);
      // Listeners of this page run even though the sandbox disables the frame's own scripts.
      doc.defaultView.addEventListener('scroll', () => this.drawPointer(), { passive: true });
      const queued = this.queue.splice(0);
      for (const [kind, data] of queued) this.apply(kind, data);
      this.resolveReady(this);
    }

    /** Apply one (sanitized) frame: snapshot, mutations, scroll, viewport or pointer. */
    apply(kind, data) {
      if (!this.mirror) {
        if (kind === 'snapshot') this.queue.length = 0;
        this.queue.push([kind, data]);
        return;
      }
      if (kind === 'snapshot') {
        this.fit(data.viewport); // size first, so the scroll offset fits the same page
        this.mirror.snapshot(data);
        this.title = data.title || '';
        if (this.options.title) document.title = this.title ? this.title + ' \u00b7 CWMN' : 'CWMN';
      } else if (kind === 'mutations' || kind === 'scroll' || kind === 'focus') {
        this.mirror.apply(kind, data);
      } else if (kind === 'viewport') {
        this.fit([data.w, data.h]);
        return;
      } else if (kind === 'pointer') {
        this.pointer = data;
      }
      this.drawPointer();
    }

    /** Size the iframe like the host's viewport, scaled down to fit the stage. */
    fit(size) {
      if (size) this.size = [Math.max(1, Number(size[0]) || 1), Math.max(1, Number(size[1]) || 1)];
      const [w, h] = this.size;
      const box = this.stage.getBoundingClientRect();
      const scale = box.width > 0 && box.height > 0 ? Math.min(1, box.width / w, box.height / h) : 1;
      this.scale = scale;
      Object.assign(this.iframe.style, {
        width: w + 'px', height: h + 'px', transform: 'scale(' + scale + ')',
      });
      Object.assign(this.screen.style, {
        width: w * scale + 'px',
        height: h * scale + 'px',
        left: Math.max(0, (box.width - w * scale) / 2) + 'px',
        top: Math.max(0, (box.height - h * scale) / 2) + 'px',
      });
      this.drawPointer();
    }

    /** The iframe's scroll offset (the host's, once a frame scrolled it). */
    scrolled() {
      const win = attempt(() => this.iframe.contentWindow);
      return [(win && win.scrollX) || 0, (win && win.scrollY) || 0];
    }

    /** Host document coordinates → a `translate()` on the screen. */
    place(el, x, y) {
      const [sx, sy] = this.scrolled();
      const [left, top] = [(x - sx) * this.scale, (y - sy) * this.scale];
      el.style.transform = 'translate(' + left + 'px, ' + top + 'px)';
    }

    /** A point of this page (clientX, clientY) → host document coordinates. */
    toDocument(clientX, clientY) {
      const box = this.screen.getBoundingClientRect();
      const [sx, sy] = this.scrolled();
      return [(clientX - box.left) / this.scale + sx, (clientY - box.top) / this.scale + sy];
    }

    /** Place every cursor and ripple (after a scroll, a new size or a new position). */
    drawPointer() {
      const p = this.pointer;
      if (p) {
        this.cursor.hidden = false;
        this.place(this.cursor, p.x, p.y);
      }
      for (const guest of this.guests.values()) this.place(guest.el, guest.x, guest.y);
      for (const ripple of this.screen.querySelectorAll('.cwmn-ripple')) {
        this.place(ripple, ripple.cwmnX, ripple.cwmnY);
      }
    }

    /** Another guest's pointer ({guestId, name, color, x, y, visible}). */
    guestPointer(message) {
      const id = String(message.guestId || '');
      if (!id || !finite(message.x) || !finite(message.y)) return;
      let guest = this.guests.get(id);
      if (!guest) {
        const el = div('cwmn-guest-cursor');
        el.dataset.guestId = id;
        const label = document.createElement('span');
        label.className = 'cwmn-guest-label';
        el.append(label);
        guest = { el, label };
        this.guests.set(id, guest);
        this.screen.insertBefore(el, this.shield);
      }
      guest.label.textContent = String(message.name || 'Guest');
      guest.el.style.setProperty('--cwmn-color', color(message.color));
      guest.x = message.x;
      guest.y = message.y;
      guest.el.hidden = message.visible === false;
      this.place(guest.el, guest.x, guest.y);
    }

    /** A click ripple at (x, y), document coordinates, fading out over ~600 ms. */
    ripple(x, y, rgb) {
      if (!finite(x) || !finite(y)) return;
      const el = div('cwmn-ripple');
      el.cwmnX = x;
      el.cwmnY = y;
      el.style.setProperty('--cwmn-color', color(rgb));
      this.place(el, x, y);
      this.screen.insertBefore(el, this.shield);
      setTimeout(() => el.remove(), RIPPLE_MS + 50);
    }

    /** The guest's own pointer over the shield → `onInput` (and a ripple for a click). */
    input(event, op, visible) {
      const s = this.state;
      if (this.muted || s.removed || s.ended || s.error) return;
      const [x, y] = this.toDocument(event.clientX, event.clientY);
      if (!finite(x) || !finite(y)) return;
      const message = op === 'click' ? { op, x, y } : { op, x, y, visible };
      if (op === 'click') this.ripple(x, y, this.color);
      if (this.onInput) attempt(() => this.onInput(message));
    }

    setMuted(muted) {
      this.muted = !!muted;
      this.mutedBadge.hidden = !this.muted;
    }

    /** Route one message from the worker (`frame`, `joined`, `status`, `fatal`, …). */
    handle(message) {
      const s = this.state;
      if (message.op === 'frame') {
        s.reconnecting = false;
        this.apply(message.kind, message.data);
      } else if (message.op === 'joined') {
        Object.assign(s, { connecting: false, reconnecting: false, paused: !!message.paused,
          hostDown: message.hostConnected === false, navigating: !!message.navigating,
          waiting: !!message.waiting });
        this.hostName = message.hostName || '';
        this.color = color(message.color);
        this.setMuted(message.muted);
        // Whoever pointed before a reconnect may have left: cursors come back as they move.
        for (const guest of this.guests.values()) guest.el.remove();
        this.guests.clear();
        if (this.onJoined) attempt(() => this.onJoined(message));
      } else if (message.op === 'pointer') {
        this.guestPointer(message);
        return;
      } else if (message.op === 'click') {
        this.ripple(message.x, message.y, message.color);
        return;
      } else if (message.op === 'status') {
        if ('muted' in message) this.setMuted(message.muted);
        if (message.removed) s.removed = true;
        if ('connecting' in message) s.connecting = !!message.connecting;
        if ('reconnecting' in message) s.reconnecting = !!message.reconnecting;
        if ('paused' in message) s.paused = !!message.paused;
        if ('hostConnected' in message) s.hostDown = !message.hostConnected;
        if ('navigating' in message) s.navigating = !!message.navigating;
        if (message.hostConnected) s.waiting = false; // the invited host started
        if ('ended' in message) s.ended = String(message.ended || 'ended');
        if (message.error) s.error = String(message.error.message || message.error.code);
      } else if (message.op === 'fatal') {
        s.error = 'The viewer could not start: ' + message.message;
      } else if (message.op === 'warning') {
        console.warn('CWMN viewer:', message.message);
        return;
      } else {
        return;
      }
      this.showStatus();
    }

    /** The status line to show, and its kind, or null when the page is live. */
    currentStatus() {
      const s = this.state;
      if (s.error) return [s.error, 'error'];
      if (s.removed) return [MESSAGES.removed, 'removed'];
      for (const kind of ['ended', 'reconnecting', 'connecting', 'paused', 'hostDown']) {
        if (!s[kind]) continue;
        if (kind === 'hostDown' && s.navigating) continue; // the page changes: see the note
        if (kind === 'hostDown' && s.waiting) { // invited to host: not started yet
          const name = this.hostName;
          return [name ? 'Waiting for ' + name + ' to start sharing\u2026' : MESSAGES.waiting,
            'waiting'];
        }
        return [MESSAGES[kind], kind];
      }
      return null;
    }

    showStatus() {
      const status = this.currentStatus();
      this.status.hidden = !status;
      this.statusText.textContent = status ? status[0] : '';
      this.status.dataset.kind = status ? status[1] : '';
      // The last picture stays in full view, with a note, until the next page arrives.
      this.note.hidden = !(this.state.navigating && !status);
    }

    destroy() {
      this.resizer.disconnect();
      this.stage.remove();
    }
  }

  /** Wire a viewer worker (worker.mjs?entry=viewer) to `viewer`: boot it with `config`
      ({server, token}) and `name` (a value or a Promise; '' lets the server name the guest)
      as soon as Python is ready. `viewer.setName(name)` sends a name chosen later. */
  function connect(viewer, worker, config, name) {
    let ready = false, chosen = null, booted = false;
    const boot = () => {
      if (!ready || chosen === null || booted) return;
      booted = true;
      worker.postMessage(JSON.stringify({ op: 'boot', config: Object.assign({}, config, { name: chosen }) }));
    };
    viewer.onInput = (message) => {
      if (booted) worker.postMessage(JSON.stringify(message));
    };
    viewer.setName = (value) => {
      const text = String(value);
      if (booted) worker.postMessage(JSON.stringify({ op: 'name', name: text }));
      else {
        chosen = text;
        boot();
      }
    };
    worker.onmessage = (event) => {
      const message = attempt(() => JSON.parse(event.data));
      if (!message) return;
      if (Array.isArray(message)) { // the session's ops of one turn: applied in one task
        for (const op of message) viewer.handle(op);
      } else if (message.op === 'ready') {
        ready = true;
        boot();
      } else {
        viewer.handle(message);
      }
    };
    worker.onerror = (event) => viewer.handle({ op: 'fatal',
      message: (event && event.message) || 'the worker failed to start' });
    viewer.handle({ op: 'status', connecting: true });
    Promise.resolve(name).then((value) => {
      if (chosen === null) chosen = String(value);
      boot();
    });
    return worker;
  }

  /** The name to join with: the link's (?name=, as given: the worker cleans names), else
      '' (the server's choice: the guest's name on this link, an invite's, else "Guest")
      and `ask` the guest. */
  function startName() {
    const given = new URLSearchParams(location.search).get('name');
    return given !== null ? { name: given, ask: false } : { name: '', ask: true };
  }

  /** Ask the guest's name in a small card over a corner: the page goes on behind it. */
  function askName(viewer) {
    const form = document.getElementById('cwmn-name');
    if (!form) return;
    const input = form.elements.name;
    let edited = false;
    const kept = String(attempt(() => localStorage.getItem(NAME_KEY)) || '').trim();
    input.value = kept || DEFAULT_NAME; // a suggestion: sent only if the guest submits it
    input.addEventListener('input', () => { edited = true; });
    viewer.onJoined = (message) => { // the server may know a better name (an invite's)
      if (edited || form.hidden || !message.name || message.name === input.value) return;
      if (kept && message.name === DEFAULT_NAME) return; // it knows none: keep the offer
      input.value = message.name;
      if (document.activeElement === input) input.select();
    };
    form.hidden = false;
    input.focus();
    input.select();
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      form.hidden = true;
      const name = input.value; // as typed: the worker cleans it as the server does
      attempt(() => (name.trim() ? localStorage.setItem(NAME_KEY, name.trim())
        : localStorage.removeItem(NAME_KEY)));
      viewer.setName(name);
    }, { once: true });
  }

  /** On /join/TOKEN: start the worker at once (Python takes a moment) and join as soon as
      it is ready; the name question, if any, never waits for it nor holds it up. */
  function boot() {
    const match = /^\/join\/([^/]+)\/?$/.exec(location.pathname);
    if (!match) return;
    const meta = document.querySelector('meta[name="cwmn-build"]');
    const viewer = new CwmnViewer(document.getElementById('cwmn-stage') || document.body,
      { title: true });
    const token = attempt(() => decodeURIComponent(match[1])) || match[1];
    let worker;
    try {
      const url = '/assets/' + (meta ? meta.content : '') + '/worker.mjs?entry=viewer';
      worker = new Worker(url, { type: 'module', name: 'cwmn-viewer' });
    } catch (e) {
      viewer.handle({ op: 'fatal', message: e.message });
      return;
    }
    const start = startName();
    connect(viewer, worker, { server: location.origin, token }, start.name);
    if (start.ask) askName(viewer);
    window.cwmnViewer = viewer;
  }

  CwmnViewer.Mirror = Mirror;
  CwmnViewer.connect = connect;
  CwmnViewer.MESSAGES = MESSAGES;
  window.CwmnViewer = CwmnViewer;
  boot();
})();
