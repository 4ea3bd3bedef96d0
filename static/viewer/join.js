/* cwmn_web viewer, the join page (/join/TOKEN): starts the viewer worker
   (worker.mjs?entry=viewer) at once, asks the guest's name in a card over a corner, and wires
   the worker to the stage (`CwmnViewer.connect`, also used by pages that host a viewer of
   their own). A classic script after viewer/stage.js. */
(function () {
  'use strict';

  const CwmnViewer = window.CwmnViewer;
  const attempt = CwmnViewer.Mirror.attempt;
  /** Where this device remembers the name its guest last typed. This origin serves every
      site's sessions (and a shared computer many people): the name is only ever offered in
      the name card, never sent unasked. */
  const NAME_KEY = 'cwmn-guest-name';
  /** The server's name for a guest it knows by none. */
  const DEFAULT_NAME = 'Guest';

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
    // A live viewer has the guest's tools: control and drawing (viewer/tools.js).
    if (CwmnViewer.Tools && !viewer.tools) viewer.tools = new CwmnViewer.Tools(viewer);
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
    const form = /** @type {HTMLFormElement | null} */ (document.getElementById('cwmn-name'));
    if (!form) return;
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem('name'));
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
    const meta = /** @type {HTMLMetaElement | null} */ (document.querySelector('meta[name="cwmn-build"]'));
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

  CwmnViewer.connect = connect;
  boot();
})();
