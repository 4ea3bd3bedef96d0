/* cwmn_web embed stub: defines window.CwmnAPI at once; Python (Pyodide, in a Web Worker)
   owns the state machine, the event bus and every call. build.py fills in the tables. */
(function () {
  'use strict';
  if (window.CwmnAPI && /** @type {any} */ (window.CwmnAPI).__cwmn) return; // embedded twice: keep the first
  var T = __CWMN_TABLES__, BUILD = '__CWMN_BUILD__', KEY = __CWMN_RESUME_KEY__;
  var IDLE_TIMEOUT = 2000, IDLE_FALLBACK = 50, LOAD_CAP = 10000, // ms
    EARLY_MAX = 2000; // early frames queued before Python is ready; past it, none
  // Closed shadow roots are invisible later: remember them as the page creates them.
  var shadows = new WeakMap(), attach = Element.prototype.attachShadow;
  if (attach) {
    Element.prototype.attachShadow = function (init) {
      var root = attach.call(this, init);
      shadows.set(this, root);
      return root;
    };
  }
  // WebGL keeps its drawing buffer, to be mirrored (docs/fidelity/pictures.md).
  var gc = HTMLCanvasElement.prototype.getContext;
  // @ts-expect-error: one function for every context type
  HTMLCanvasElement.prototype.getContext = function (t, a) {
    return gc.call(this, t, Object.assign({}, a, /gl/.test(t) && { preserveDrawingBuffer: !0 }));
  };
  // Invite to host (docs/LIVE.md): the token leaves the address bar.
  var hi = /&?cwmn-host-invite=([\w-]+)/.exec(location.hash);
  if (hi) try { history.replaceState(history.state, '', location.hash.replace(hi[0], '')
    .replace(/^#$/, '') || location.pathname + location.search); } catch (e) { /* kept */ }
  var script = /** @type {HTMLScriptElement | null} */ (document.currentScript), ds = (script && script.dataset) || {};
  var server = (ds.server || (script && script.src ? new URL(script.src, location.href).origin
    : location.origin)).replace(/\/+$/, '');
  var view = { state: 'init', initFired: false, compatible: null, muteAll: false, guests: [],
    domainInfo: { domain: location.hostname, authorized: null }, sessionInfo: null,
    publicLinkEnabled: true, privacyEnabled: false, indicator: true };
  var cbs = new Map(), calls = new Map(), seq = 0, worker = null, ready = false;
  var outbox = [], local = false, failure = null, timings = { stub: performance.now() };
  /** The asset store's counters (browser/asset_uploads.py), once an asset was handled. */
  var assetCounters = {};
  var assets = server + '/assets/' + BUILD + '/', capture = null, mods = {}, early = null;
  var resume = null, started = false, starter = null, queued = 0;
  try { resume = JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { /* none */ }
  if (typeof Object(resume).token !== 'string') resume = null;
  var mode = ds.start || 'idle';
  if (mode !== 'idle' && mode !== 'eager') {
    console.warn('CWMN: data-start="' + mode + '" is not "idle" or "eager"; using "idle"');
    mode = 'idle';
  }

  function err(code, message) {
    /** @type {any} */
    var e = new Error(message); e.name = 'CwmnError'; e.code = code; return e;
  }
  function copy(v) { return v && JSON.parse(JSON.stringify(v)); }
  function post(m) { if (ready) worker.postMessage(JSON.stringify(m)); else outbox.push(m); }
  function stop(c) { if (c) c.then(function (m) { m.stop(); }).catch(function () { /* none */ }); }
  function uniq(list) { return list.filter(function (v, i) { return list.indexOf(v) === i; }); }
  function invoke(fn, args) {
    try { fn.apply(null, args); } catch (e) { console.error('CwmnAPI: an event callback threw', e); }
  }
  function deliver(ids, args) {
    ids.forEach(function (id) {
      var s = cbs.get(id);
      if (!s) return;
      if (s.once) cbs.delete(id);
      invoke(s.fn, args || []);
    });
  }
  // Without Python (no WebAssembly, or the SDK failed to load) the stub fires events itself.
  function localEmit(name, state) {
    if (state) view.state = state;
    if (name === 'init') view.initFired = true;
    var ids = [];
    cbs.forEach(function (s, id) { if (s.ev === name) ids.push(id); });
    deliver(ids);
  }
  function checkState(path) {
    var ok = T.st.filter(function (s, i) { return T.fn[path][1] >> i & 1; });
    if (ok.indexOf(view.state) < 0) {
      throw err('invalid_state', 'CwmnAPI.' + path + '() is not valid in state "' + view.state +
        '"; it is valid in: "' + ok.join('", "') + '"');
    }
  }
  function subscribe(name, fn, once) {
    if (T.ev.indexOf(name) < 0) {
      throw err('invalid_params', 'unknown event ' + JSON.stringify(name) + "; known events: '" +
        T.ev.join("', '") + "'");
    }
    if (typeof fn !== 'function') {
      throw err('invalid_params', 'the callback for \'' + name + '\' must be a function, got ' +
        (fn === null ? 'null' : typeof fn));
    }
    if (!view.initFired && name !== 'init') {
      throw err('invalid_state', "cannot subscribe to '" + name +
        "' before 'init' has fired; subscribe inside your CwmnAPI.on('init', ...) callback");
    }
    var id = ++seq;
    cbs.set(id, { ev: name, fn: fn, once: once });
    if (local) {
      if (name === 'init' && view.initFired) setTimeout(function () { deliver([id]); }, 0);
    } else {
      post({ op: 'on', event: name, id: id, once: once });
    }
    return id;
  }
  function unsubscribe(id) {
    if (cbs.delete(id) && !local) post({ op: 'off', id: id });
  }

  /** @type {any} */
  var api = {
    __cwmn: true,
    on: function (name, fn) { subscribe(name, fn, false); },
    once: function (name, fn) {
      var id = subscribe(name, fn, true);
      return function () { unsubscribe(id); };
    },
    off: function (name, fn) {
      cbs.forEach(function (s, id) { if (s.ev === name && s.fn === fn) unsubscribe(id); });
    },
    _debug: function () {
      return { server: server, build: BUILD, timings: timings, failure: failure, assets: assetCounters };
    }
  };
  Object.keys(T.fn).forEach(function (path) {
    var parts = path.split('.'), name = parts.pop(), ns = api;
    if (parts.length) ns = api[parts[0]] = api[parts[0]] || {};
    var key = T.fn[path][2];
    ns[name] = T.fn[path][0] ? function () {
      checkState(path);
      return copy(view[key]);
    } : function () {
      var args = [].slice.call(arguments);
      return new Promise(function (resolve, reject) {
        if (failure) return reject(err('network', failure));
        var body;
        try { body = copy(args); } catch (e) {
          return reject(err('invalid_params',
            'CwmnAPI.' + path + '(): arguments must be plain data (' + e.message + ')'));
        }
        if (local) { try { checkState(path); } catch (e) { return reject(e); } }
        if (starter) starter('call'); // the page wants Python now
        var id = ++seq;
        calls.set(id, { resolve: resolve, reject: reject });
        post({ op: 'call', id: id, path: path, args: body });
      });
    };
  });
  window.CwmnAPI = api;

  var features = {};
  T.feat.forEach(function (f) {
    try { features[f] = window[f] != null; } catch (e) { features[f] = false; }
  });
  view.compatible = T.feat.every(function (f) { return features[f]; });

  function whenDomReady(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn);
    else setTimeout(fn, 0);
  }
  function fail(message) {
    if (failure) return;
    failure = 'CWMN could not load from ' + server + ': ' + message;
    console.error(failure);
    local = true;
    stop(capture);
    capture = null;
    outbox.length = 0;
    calls.forEach(function (c) { c.reject(err('network', failure)); });
    calls.clear();
    whenDomReady(function () {
      if (!view.initFired) localEmit('init');
      localEmit('init failed');
    });
  }
  function onWorker(event) {
    var m = JSON.parse(event.data);
    if (m.op === 'ready') {
      timings.python = performance.now();
      whenDomReady(function () {
        ready = true;
        var entry = null;
        try { entry = JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { /* none */ }
        worker.postMessage(JSON.stringify({ op: 'boot', config: { server: server,
          pageUrl: location.href, features: features, resume: entry, hostInvite: hi && hi[1],
          mask: own.mask, block: own.block, earlyCapture: early, hostToken: ds.hostToken,
          hostTokenUrl: ds.hostTokenUrl } }));
        outbox.splice(0).forEach(post);
      });
    } else if (m.op === 'emit') {
      view = m.view;
      timings[m.event] = timings[m.event] || performance.now();
      deliver(m.ids, m.args);
    } else if (m.op === 'view') {
      view = m.view;
    } else if (m.op === 'result') {
      var c = calls.get(m.id);
      if (!c) return;
      calls.delete(m.id);
      if (m.ok) c.resolve(m.value); else c.reject(err(m.error.code, m.error.message));
    } else if (m.op === 'store') {
      try {
        if (m.value) sessionStorage.setItem(KEY, JSON.stringify(m.value));
        else sessionStorage.removeItem(KEY);
      } catch (e) { /* storage disabled: no resume across pages */ }
    } else if (m.op === 'capture') {
      stop(capture);
      capture = m.start ? startCapture(m.config, false) : null;
    } else if (m.mod) { // cursors, consent dialog, recorder: static/<mod>.mjs
      (mods[m.mod] = mods[m.mod] || import(assets + m.mod + '.mjs'))
        .then(function (c) { c.handle(m, attach, api, post); })
        .catch(function (e) { console.error('CWMN: ' + m.mod + ' failed', e); });
    } else if (m.op === 'echo') {
      post(m);
    } else if (m.op === 'assets') {
      assetCounters = m;
    } else if (m.op === 'marks') {
      Object.keys(m.marks).forEach(function (k) { timings[k] = m.marks[k] - performance.timeOrigin; });
    } else if (m.op === 'fatal') {
      fail(m.message);
    }
  }

  // Capture (static/capture.mjs), started by Python or, on the next page of a session, early.
  // The early capture's frames wait for the worker; past EARLY_MAX they are dropped, the
  // capture stops and Python, told nothing was captured early, starts capture afresh.
  var failures = 0;
  function startCapture(config, isEarly) {
    // Firefox keeps a failed import for the page's life: a retry needs another URL.
    var loading = import(assets + 'capture.mjs' + (failures ? '?retry=' + failures : ''));
    loading.then(function (c) {
      return c.start(config, function (kind, data) {
        if (isEarly && loading !== capture) return; // stopped or replaced
        var frame = { op: 'mirror', kind: kind, data: data, t: Date.now() };
        if (isEarly && !ready && ++queued > EARLY_MAX) {
          stop(capture);
          capture = early = null;
          outbox = outbox.filter(function (o) { return !o.early; });
          return;
        }
        if (isEarly) frame.early = true;
        post(frame);
      }, shadows);
    }).catch(function (e) {
      failures++;
      console.error('CWMN: page capture failed', e);
      if (isEarly && loading === capture) post({ op: 'capture failed', early: true });
    });
    return loading;
  }
  if (!features.WebAssembly || !features.Worker) {
    // Python cannot run here: the stub itself reports the incompatible browser.
    local = true;
    whenDomReady(function () {
      localEmit('init');
      localEmit('incompatible', 'incompatible browser');
      localEmit('init failed');
    });
    return;
  }
  var own = { mask: ds.maskSelectors ? [ds.maskSelectors] : [],
    block: ds.blockSelectors ? [ds.blockSelectors] : [] };
  // The next page of a shared session (docs/DESIGN.md, "Page changes"): capture at once with
  // every masking rule the previous page knew (the site's) plus this tag's own, and queue the
  // frames for Python, which sends them once the session is back. Never with privacy on.
  var rules = resume && !resume.replay && !resume.privacy && resume.capture;
  if (rules && Array.isArray(rules.mask) && Array.isArray(rules.block)) {
    whenDomReady(function () {
      if (local || capture) return;
      early = { mask: uniq(rules.mask.concat(own.mask)),
        block: uniq(rules.block.concat(own.block)) };
      capture = startCapture(early, true);
    });
  }

  // When Python starts (docs/DESIGN.md, "When Python starts"): after the page's load event
  // when the browser is idle, unless the visitor needs it now.
  function startPython(reason) {
    if (started) return;
    started = true;
    starter = null;
    timings.start = performance.now();
    timings.startReason = reason;
    try {
      var src = 'import ' + JSON.stringify(assets + 'worker.mjs') + ';';
      var url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
      // Python in the page's own Pyodide: browser/page.py
      var ch = ds.python === 'page' && new MessageChannel();
      worker = ch ? ch.port1 : new Worker(url, { type: 'module', name: 'cwmn' });
      if (ch) api._port = ch.port2;
      worker.onmessage = onWorker;
      /** @type {Worker} */ (worker).onerror = function (e) { fail((e && e.message) || 'the worker failed to start'); };
    } catch (e) {
      fail(e.message);
    }
  }
  function whenIdle() {
    if (started) return;
    if (window.requestIdleCallback) {
      requestIdleCallback(function () { startPython('idle'); }, { timeout: IDLE_TIMEOUT });
    } else {
      setTimeout(function () { startPython('idle'); }, IDLE_FALLBACK);
    }
  }
  var now = ds.python === 'page' ? 'page' : resume ? 'resume' : hi ? 'host-invite'
    : mode === 'eager' ? 'eager' : null;
  if (now) {
    startPython(now);
  } else {
    starter = startPython;
    if (document.readyState === 'complete') whenIdle();
    else {
      window.addEventListener('load', whenIdle);
      // A load event that is late or never comes (a hung image or frame) waits no longer.
      whenDomReady(function () {
        setTimeout(function () { startPython('late-load'); }, LOAD_CAP);
      });
    }
  }
})();
