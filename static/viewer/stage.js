/* cwmn_web viewer, the stage: the host's page rebuilt (viewer/mirror.js) in a sandboxed
   iframe scaled to fit, the host's cursor and other guests' cursors and clicks over it, a
   transparent shield, the status line and the page-change note. The sandbox never allows
   scripts, forms, popups or top navigation, and the shield takes every pointer event; the
   worker has sanitized each frame already (cwmn_web/viewer/sanitize.py): either defence holds
   alone. The shield reports the guest's own pointer and clicks (host document coordinates) to
   `viewer.onInput`. No inline scripts, no framework. A classic script after viewer/mirror.js:
   defines window.CwmnViewer. */
(function () {
  'use strict';

  const Mirror = window.CwmnMirror;
  const attempt = Mirror.attempt;
  const dom = Mirror.dom; // the host's document is reached only through it (mirror.js)
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
  const MUTED = 'The host muted your pointer';
  const COLOR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
  const DEFAULT_COLOR = CWMN_CONSTANTS.DEFAULT_GUEST_COLOR;
  // The stylesheet's colour where none is set (viewer.css reads it; written only here).
  document.documentElement.style.setProperty('--cwmn-default-color', DEFAULT_COLOR);
  const RIPPLE_MS = 600;

  /** A colour the stylesheet may use (a plain hex colour), else the default. */
  function color(value) {
    return typeof value === 'string' && COLOR.test(value) ? value : DEFAULT_COLOR;
  }
  function finite(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

  /** Seconds as m:ss (h:mm:ss past an hour). */
  function clock(seconds) {
    const t = Math.floor(seconds), pad = (n) => String(n).padStart(2, '0');
    const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, sec = pad(t % 60);
    return h ? h + ':' + pad(m) + ':' + sec : m + ':' + sec;
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
      /** @type {Map<Element, HTMLElement>} the host's videos → their play-state badges */
      this.badges = new Map();
      /** @type {Map<HTMLElement, [number, number]>} click ripples → their document point */
      this.ripples = new Map();
      this.muted = false;
      this.color = DEFAULT_COLOR; // this guest's own colour (from `joined`)
      /** Set by `connect()`: receives {op: 'pointer', x, y, visible} and {op: 'click', x, y}. */
      this.onInput = null;
      /** Set by `connect()`: the guest chose a name (sent at once, or with the boot). */
      this.setName = null;
      /** Called with each `joined` message (the name the server knows the guest by). */
      this.onJoined = null;
      /** The guest's tools (viewer/tools.js), attached by `connect()` to a live viewer. */
      this.tools = null;
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
      if (!doc || dom.url(doc) !== 'about:srcdoc') {
        // Navigated away (only a hostile frame could): start over on a blank document.
        this.mirror = null;
        this.iframe.srcdoc = BLANK;
        return;
      }
      this.mirror = new Mirror(doc);
      // Listeners of this page run even though the sandbox disables the frame's own scripts.
      dom.addEventListener(dom.defaultView(doc), 'scroll', () => this.drawPointer(), { passive: true });
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
      for (const [ripple, [x, y]] of this.ripples) this.place(ripple, x, y);
      if (this.tools) this.tools.place();
      this.drawBadges();
    }

    /** A badge on each of the host's videos: playing or paused, and the time. The video
        itself never plays here; the badge sits in its top-left corner while it is in view. */
    drawBadges() {
      const media = this.mirror ? this.mirror.media : new Map();
      for (const [video, badge] of this.badges) {
        if (!media.has(video)) { badge.remove(); this.badges.delete(video); }
      }
      const [w, h] = this.size;
      for (const [video, state] of media) {
        let badge = this.badges.get(video);
        if (!badge) {
          badge = div('cwmn-media');
          badge.setAttribute('role', 'status');
          this.badges.set(video, badge);
          this.screen.insertBefore(badge, this.cursor);
        }
        const [playState, seconds] = String(state).split(',');
        const r = dom.isConnected(video) ? dom.getBoundingClientRect(video) : null;
        const shown = !!r && r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 &&
          r.left < w && r.top < h;
        badge.hidden = !shown;
        if (!r || !shown) continue;
        badge.dataset.state = playState;
        badge.textContent = (playState === 'playing' ? '\u25b6 Playing ' : '\u275a\u275a Paused ') +
          clock(Number(seconds) || 0);
        badge.style.transform = 'translate(' + (Math.max(0, r.left) + 6) * this.scale + 'px, ' +
          (Math.max(0, r.top) + 6) * this.scale + 'px)';
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
      this.ripples.set(el, [x, y]);
      el.style.setProperty('--cwmn-color', color(rgb));
      this.place(el, x, y);
      this.screen.insertBefore(el, this.shield);
      setTimeout(() => { el.remove(); this.ripples.delete(el); }, RIPPLE_MS + 50);
    }

    /** The guest's own pointer over the shield → `onInput` (and a ripple for a click). */
    input(event, op, visible) {
      const s = this.state;
      if (this.muted || s.removed || s.ended || s.error) return;
      if (op === 'click' && this.tools && this.tools.tool) return; // drawing, not clicking
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
        // A name the site's backend signed (a host token) is said to be verified.
        const mark = message.hostVerified && this.hostName ? ' (verified)' : '';
        this.hostName += mark;
        if (this.hostName) {
          this.container.setAttribute('aria-label', message.hostName + "'s screen" + mark);
        }
        this.stage.dataset.hostVerified = String(!!message.hostVerified);
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
      } else if (message.op === 'control' || message.op === 'notice' || message.op === 'draw') {
        if (this.tools) this.tools.handle(message);
        return;
      } else {
        return;
      }
      this.showStatus();
      if (this.tools && message.op !== 'frame') this.tools.render(); // muted, ended: follow
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

  CwmnViewer.Mirror = Mirror;
  CwmnViewer.color = color;
  CwmnViewer.MESSAGES = MESSAGES;
  window.CwmnViewer = CwmnViewer;
})();
