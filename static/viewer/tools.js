/* cwmn_web viewer, the guest's tools (extensions, docs/control/viewer.md): a toolbar to ask
   for control of the host's page and to draw (pen, laser); while this guest controls, its
   clicks, double clicks, wheel, keys and pastes over the stage go to the worker as control
   inputs in the host's document coordinates; strokes (its own and other guests') are drawn
   in an SVG layer over the page, placed like the cursors, and fade. The worker's session
   (cwmn_web/viewer/session.py) decides what goes out; this only reads the guest's hands and
   draws. Nothing here touches the host's document. A classic script after viewer/stage.js:
   defines CwmnViewer.Tools, which `CwmnViewer.connect` (join.js) attaches to a live viewer. */
(function () {
  'use strict';

  const CwmnViewer = window.CwmnViewer;
  const attempt = CwmnViewer.Mirror.attempt;
  const SVG = 'http://www.w3.org/2000/svg';
  /** A pen stroke stays this long after it ends, fading over its last FADE_MS. */
  const PEN_MS = 3000;
  const FADE_MS = 1000;
  /** Each point of a laser trail lasts this long. */
  const LASER_MS = 1000;
  /** A stroke that never ended (its guest left mid-stroke) ends after this long quiet. */
  const STALE_MS = 10000;
  const SWEEP_MS = 50;
  const NOTICE_MS = 5000;
  /** At most this many live strokes per guest (its oldest goes for a new one, as on the
      host's page: cursors.mjs), this many in all, and this many points per stroke are drawn
      (a flood is cut short, and one guest's never hides the others' drawing). */
  const MAX_GUEST_STROKES = 20;
  const MAX_STROKES = 200;
  const MAX_POINTS = 4000;
  /** This guest's long stroke goes on as a new one after this many points (the server holds
      at most 4096 numbers per stroke: server/live/pace.py). */
  const SPLIT_POINTS = 1800;
  /** Keys sent by name (KeyboardEvent.key); any other single character is typed text. */
  const NAMED_KEYS = new Set(['Enter', 'Backspace', 'Delete', 'Tab', 'ArrowUp', 'ArrowDown',
    'ArrowLeft', 'ArrowRight', 'Home', 'End', 'Escape']);
  /** Host CSS px per wheel line (WheelEvent.deltaMode 1). */
  const LINE_PX = 16;
  /** Where the guest's keys are its own (typing a name, pressing a tool button). */
  const OWN_INPUT = '.cwmn-toolbar, form, input, textarea, select, button, [contenteditable]';
  const TEXT = {
    request: 'Request control',
    waiting: 'Waiting for the visitor\u2026',
    stop: 'Stop controlling',
    refused: 'The visitor\u2019s page does not allow remote control',
    muted: 'The host muted you',
    withdraw: 'Withdraw your request',
    you: 'You control the page',
    other: 'controls the page',
    pen: 'Draw',
    laser: 'Laser',
  };

  function finite(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

  function button(text, className) {
    const el = document.createElement('button');
    el.type = 'button';
    el.className = className;
    el.textContent = text;
    return el;
  }

  /** Shift 1, Ctrl 2, Alt 4, Meta 8 (ControlInput.mods). */
  function mods(event) {
    return (event.shiftKey ? 1 : 0) | (event.ctrlKey ? 2 : 0) | (event.altKey ? 4 : 0) |
      (event.metaKey ? 8 : 0);
  }

  /** The toolbar, the guest's hands while it controls, and the drawing layer of one viewer. */
  class Tools {
    constructor(viewer) {
      this.viewer = viewer;
      /** As the worker last said (`control` ops). */
      this.control = { controller: '', name: '', you: false, allowed: true, pending: false };
      /** @type {'pen' | 'laser' | null} the drawing tool on, if any */
      this.tool = null;
      /** @type {Map<string, {guest: string, tool: string, color: string, points: number[][], done: number | null,
          last: number, el: SVGElement, line: SVGPolylineElement, dirty: boolean}>} */
      this.strokes = new Map(); // "guestId/stroke" ("/id" for this guest's own) → stroke
      /** @type {{id: string, pointer: number, x: number, y: number, points: number} | null} */
      this.drawing = null; // this guest's stroke in progress
      this.count = 0;
      this.prefix = Math.random().toString(36).slice(2, 7);
      this.sweeping = false;
      this.noticeTimer = 0;

      this.bar = document.createElement('div');
      this.bar.className = 'cwmn-toolbar';
      this.bar.setAttribute('role', 'toolbar');
      this.bar.setAttribute('aria-label', 'Guest tools');
      this.controlButton = button(TEXT.request, 'cwmn-tool cwmn-tool-control');
      this.penButton = button(TEXT.pen, 'cwmn-tool cwmn-tool-pen');
      this.laserButton = button(TEXT.laser, 'cwmn-tool cwmn-tool-laser');
      this.note = document.createElement('span');
      this.note.className = 'cwmn-control-note';
      this.note.hidden = true;
      this.bar.append(this.controlButton, this.penButton, this.laserButton, this.note);
      this.notice = document.createElement('div');
      this.notice.className = 'cwmn-notice';
      this.notice.setAttribute('role', 'status');
      this.notice.setAttribute('aria-live', 'polite');
      this.notice.hidden = true;
      this.layer = /** @type {SVGSVGElement} */ (document.createElementNS(SVG, 'svg'));
      this.layer.setAttribute('class', 'cwmn-drawing');
      this.layer.setAttribute('aria-hidden', 'true');
      this.group = document.createElementNS(SVG, 'g');
      this.layer.append(this.group);
      viewer.screen.insertBefore(this.layer, viewer.shield);
      viewer.stage.append(this.bar, this.notice);

      this.controlButton.addEventListener('click', () => this.toggleControl());
      this.penButton.addEventListener('click', () => this.setTool(this.tool === 'pen' ? null : 'pen'));
      this.laserButton.addEventListener('click',
        () => this.setTool(this.tool === 'laser' ? null : 'laser'));
      const shield = viewer.shield;
      shield.addEventListener('pointerdown', (e) => this.strokeStart(e));
      shield.addEventListener('pointermove', (e) => this.strokeMove(e));
      shield.addEventListener('pointerup', (e) => this.strokeEnd(e));
      shield.addEventListener('pointercancel', (e) => this.strokeEnd(e));
      shield.addEventListener('click', (e) => this.click(e));
      shield.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
      document.addEventListener('keydown', (e) => this.key(e));
      document.addEventListener('paste', (e) => this.paste(e));
      this.render();
    }

    /** One message for the worker (dropped there unless the session allows it). */
    send(message) {
      const onInput = this.viewer.onInput;
      if (onInput) attempt(() => onInput(message));
    }

    /** The session is over, or this guest may not act (muted). */
    get idle() {
      const s = this.viewer.state;
      return !!(s.ended || s.removed || s.error);
    }

    /** Route one op of the worker: `control`, `notice`, `draw`. */
    handle(message) {
      if (message.op === 'control') {
        this.control = {
          controller: String(message.controller || ''), name: String(message.name || ''),
          you: !!message.you, allowed: message.allowed !== false, pending: !!message.pending,
        };
        this.render();
      } else if (message.op === 'notice') {
        this.say(String(message.message || ''));
      } else if (message.op === 'draw') {
        this.add(String(message.guestId || ''), String(message.stroke || ''),
          message.tool === 'laser' ? 'laser' : 'pen', message.color, message.points, !!message.done);
      }
    }

    /** Show the buttons and notes as the control state, muting and the tool say. */
    render() {
      const c = this.control, viewer = this.viewer;
      const off = viewer.muted || this.idle;
      if (off && this.tool) this.setTool(null);
      const b = this.controlButton;
      b.textContent = c.you ? TEXT.stop : c.pending ? TEXT.waiting : TEXT.request;
      b.setAttribute('aria-pressed', String(c.you || c.pending));
      b.disabled = off || (!c.allowed && !c.you);
      b.title = viewer.muted ? TEXT.muted : !c.allowed ? TEXT.refused : c.pending ? TEXT.withdraw : '';
      b.hidden = !c.allowed && !c.you; // the page refuses control: no button, a note says so
      this.penButton.disabled = this.laserButton.disabled = off;
      this.penButton.title = this.laserButton.title = viewer.muted ? TEXT.muted : '';
      this.penButton.setAttribute('aria-pressed', String(this.tool === 'pen'));
      this.laserButton.setAttribute('aria-pressed', String(this.tool === 'laser'));
      const other = c.controller && !c.you ? (c.name || 'Another guest') + ' ' + TEXT.other : '';
      this.note.textContent = c.you ? TEXT.you : other || (c.allowed ? '' : TEXT.refused);
      this.note.hidden = !this.note.textContent;
      viewer.stage.dataset.control = c.you ? 'you' : c.controller ? 'other' : '';
      viewer.stage.style.setProperty('--cwmn-self-color', viewer.color);
      if (this.tool) viewer.stage.dataset.tool = this.tool;
      else delete viewer.stage.dataset.tool;
      this.bar.hidden = !!this.idle;
    }

    toggleControl() {
      const c = this.control;
      this.send({ op: c.you || c.pending ? 'release control' : 'request control' });
    }

    setTool(tool) {
      if (this.drawing) this.finish(this.drawing.x, this.drawing.y);
      this.tool = tool;
      this.render();
    }

    /** Tell the guest something briefly (a polite live region). */
    say(text) {
      if (!text) return;
      this.notice.textContent = text;
      this.notice.hidden = false;
      clearTimeout(this.noticeTimer);
      this.noticeTimer = setTimeout(() => { this.notice.hidden = true; }, NOTICE_MS);
    }

    /** The event's point in host document coordinates, or null. */
    point(event) {
      const [x, y] = this.viewer.toDocument(event.clientX, event.clientY);
      return finite(x) && finite(y) ? [x, y] : null;
    }

    // -- the guest's hands while it controls ----------------------------------------------
    /** A click, and after the second of a double click a `dblclick` (from the click's
        count: Firefox fires no `dblclick` on the shield for a synthesized double click). */
    click(event) {
      if (this.tool || !this.control.you || this.idle) return;
      const at = this.point(event);
      if (!at) return;
      this.send({ op: 'control', input: { kind: 'click', x: at[0], y: at[1] } });
      if (event.detail === 2) this.send({ op: 'control', input: { kind: 'dblclick', x: at[0], y: at[1] } });
      // Keys go to the stage from now on, not to a button pressed before.
      const active = document.activeElement;
      if (active instanceof HTMLElement && this.bar.contains(active)) active.blur();
    }

    wheel(event) {
      if (this.tool || !this.control.you || this.idle) return;
      const at = this.point(event);
      if (!at) return;
      event.preventDefault();
      const scale = this.viewer.scale || 1;
      // Pixels of this page → the host's (the stage is scaled); lines and pages as the host's.
      const unit = event.deltaMode === 1 ? LINE_PX : event.deltaMode === 2 ? this.viewer.size[1] : 0;
      const [dx, dy] = unit ? [event.deltaX * unit, event.deltaY * unit]
        : [event.deltaX / scale, event.deltaY / scale];
      if (!finite(dx) || !finite(dy) || (!dx && !dy)) return;
      this.send({ op: 'control', input: { kind: 'scroll', x: at[0], y: at[1], dx, dy } });
    }

    /** Whether a key or paste on this page is meant for the host's page. */
    forHost(event) {
      if (!this.control.you || this.idle || event.defaultPrevented) return false;
      const target = event.target;
      return !(target instanceof Element && target.closest(OWN_INPUT));
    }

    key(event) {
      if (event.isComposing || !this.forHost(event)) return;
      const key = event.key;
      if (NAMED_KEYS.has(key)) {
        event.preventDefault();
        this.send({ op: 'control', input: { kind: 'key', key, mods: mods(event) } });
      } else if ([...key].length === 1 && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this.send({ op: 'control', input: { kind: 'text', text: key } });
      }
    }

    paste(event) {
      if (!this.forHost(event)) return;
      const text = event.clipboardData ? event.clipboardData.getData('text/plain') : '';
      event.preventDefault();
      if (text) this.send({ op: 'control', input: { kind: 'text', text } });
    }

    // -- drawing --------------------------------------------------------------------------
    strokeStart(event) {
      if (!this.tool || this.viewer.muted || this.idle || event.button !== 0) return;
      const at = this.point(event);
      if (!at) return;
      event.preventDefault();
      if (this.drawing) this.finish(this.drawing.x, this.drawing.y);
      attempt(() => this.viewer.shield.setPointerCapture(event.pointerId));
      this.begin(event.pointerId, at);
    }

    begin(pointer, at) {
      const id = this.prefix + (++this.count).toString(36);
      this.drawing = { id, pointer, x: at[0], y: at[1], points: 0 };
      this.out(at, false);
    }

    strokeMove(event) {
      const d = this.drawing;
      if (!d || event.pointerId !== d.pointer) return;
      const at = this.point(event);
      // Less than a CSS px of the host's page apart: nothing new to draw.
      if (!at || Math.hypot(at[0] - d.x, at[1] - d.y) < 1) return;
      [d.x, d.y] = at;
      if (d.points >= SPLIT_POINTS) { // long: end it here and go on as a new stroke
        this.finish(at[0], at[1]);
        this.begin(d.pointer, at);
      } else {
        this.out(at, false);
      }
    }

    strokeEnd(event) {
      const d = this.drawing;
      if (!d || event.pointerId !== d.pointer) return;
      const at = this.point(event) || [d.x, d.y];
      this.finish(at[0], at[1]);
    }

    finish(x, y) {
      this.out([x, y], true);
      this.drawing = null;
    }

    /** A point of this guest's stroke: drawn here at once, and sent. */
    out(at, done) {
      const d = this.drawing;
      if (!d || !this.tool) return;
      const tool = this.tool;
      d.points += 1;
      this.add('', d.id, tool, this.viewer.color, at, done);
      this.send({ op: 'draw', stroke: d.id, tool, points: at, done });
    }

    /** More points (flat x, y pairs, host document coordinates) of stroke ``id`` of
        ``guest`` ('' for this guest's own). */
    add(guest, id, tool, color, points, done) {
      if (!Array.isArray(points) || points.length % 2 || !points.every(finite)) return;
      const now = performance.now();
      const key = guest + '/' + id;
      let stroke = this.strokes.get(key);
      if (!stroke) {
        const own = [...this.strokes].filter(([, s]) => s.guest === guest);
        for (const [old, s] of own.slice(0, Math.max(0, own.length - MAX_GUEST_STROKES + 1))) {
          s.el.remove();
          this.strokes.delete(old);
        }
        if (this.strokes.size >= MAX_STROKES) return;
        const el = document.createElementNS(SVG, 'g');
        el.setAttribute('class', 'cwmn-stroke cwmn-stroke-' + tool);
        el.dataset.key = key;
        const line = /** @type {SVGPolylineElement} */ (document.createElementNS(SVG, 'polyline'));
        el.append(line);
        el.style.setProperty('--cwmn-color', CwmnViewer.color(color));
        this.group.append(el);
        stroke = { guest, tool, color, points: [], done: null, last: now, el, line, dirty: true };
        this.strokes.set(key, stroke);
      }
      for (let i = 0; i + 1 < points.length && stroke.points.length < MAX_POINTS; i += 2) {
        stroke.points.push([points[i], points[i + 1], now]);
      }
      stroke.last = now;
      if (done && stroke.done === null) stroke.done = now;
      stroke.dirty = true;
      this.sweep();
    }

    /** Draw what changed, fade and drop what is old; again in SWEEP_MS while strokes last. */
    sweep() {
      const now = performance.now();
      for (const [key, s] of this.strokes) {
        if (s.done === null && now - s.last > STALE_MS) s.done = now;
        if (s.tool === 'laser') {
          const kept = s.points.filter((p) => now - p[2] < LASER_MS);
          if (kept.length !== s.points.length) { s.points = kept; s.dirty = true; }
        }
        // A laser trail whose points all faded is gone (more points start it again).
        const gone = s.tool === 'laser' ? !s.points.length
          : s.done !== null && now - s.done >= PEN_MS;
        if (gone) {
          s.el.remove();
          this.strokes.delete(key);
          continue;
        }
        if (s.tool === 'pen' && s.done !== null) {
          s.el.style.opacity = String(Math.min(1, (s.done + PEN_MS - now) / FADE_MS));
        }
        if (s.dirty) {
          s.line.setAttribute('points', s.points.map((p) => p[0] + ',' + p[1]).join(' '));
          s.dirty = false;
        }
      }
      this.place();
      if (this.strokes.size && !this.sweeping) {
        this.sweeping = true;
        setTimeout(() => { this.sweeping = false; this.sweep(); }, SWEEP_MS);
      }
    }

    /** Keep the layer on the page: scaled like the stage, scrolled like the host's page. */
    place() {
      const [sx, sy] = this.viewer.scrolled();
      const scale = this.viewer.scale;
      this.group.setAttribute('transform', 'scale(' + scale + ') translate(' + -sx + ' ' + -sy + ')');
    }

    /** What is drawn now (for tests and the docs' screenshots). */
    debugState() {
      return [...this.strokes].map(([key, s]) => ({
        key, tool: s.tool, points: s.points.length, done: s.done !== null,
        opacity: Number(s.el.style.opacity || 1),
      }));
    }
  }

  CwmnViewer.Tools = Tools;
})();
