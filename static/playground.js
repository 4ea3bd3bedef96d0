// The playground: a button per CwmnAPI function, JSON inputs for its arguments, a live log.
(function () {
  'use strict';
  var FUNCTIONS = [
    ['getCurrentState', ''], ['isCompatible', ''], ['getDomainInfo', ''],
    ['session.start', '[{"hostName": "Host Name", "hostEmail": "host@example.com", "isReplay": false}]'],
    ['session.inviteToHost', '[{"hostName": "Demo", "hostEmail": "noreply@example.com", "inviteName": "Ann", "inviteEmail": "ann@example.com", "message": "Please show me", "url": "' + location.href + '"}]'],
    ['session.acceptHostInvite', '[{"code": ""}]'], ['session.declineHostInvite', ''],
    ['session.endSession', ''], ['session.getSessionInfo', ''],
    ['guest.inviteGuest', '[{"guestName": "Guest Name", "guestEmail": "guest@example.com", "message": "Join my session!"}]'],
    ['guest.getInviteLink', ''], ['guest.removeGuest', '[{"guestId": "g1"}]'],
    ['guest.muteGuest', '[{"guestId": "g1", "muted": true}]'], ['guest.muteAllGuests', '[true]'],
    ['guest.getMuteAllGuests', ''], ['guest.getGuestList', ''], ['guest.getJoinCode', ''],
    ['publicLink.setEnabled', '[true]'], ['publicLink.getEnabled', ''], ['publicLink.generate', ''],
    ['privacy.setEnabled', '[true]'], ['privacy.getEnabled', ''],
    ['replay.muteAudio', '[true]'], ['replay.sendVideo', '[{"toEmails": ["you@example.com"]}]'],
    ['replay.getVideoURL', ''], ['replay.abandonVideo', ''], ['replay.getRenderingProgress', ''],
    ['replay.dismissError', ''],
    // Extensions (docs/CONTROL.md).
    ['control.grant', '[{"guestId": "g1"}]'], ['control.decline', '[{"guestId": "g1"}]'],
    ['control.revoke', ''], ['control.setAllowed', '[false]'], ['control.getAllowed', ''],
    ['control.getController', ''], ['indicator.setEnabled', '[true]'],
    ['indicator.getEnabled', ''], ['indicator.showMasked', '[true]']
  ];
  /** @type {Array<import('./dist/cwmn.d.ts').CwmnEventName>} */
  var EVENTS = ['init', 'reinit', 'init failed', 'incompatible', 'unauthorized', 'ready no session',
    'session pending', 'in session', 'session failed', 'expired', 'end session', 'connection issue',
    'connection issue resolved', 'guest connected', 'guest disconnected', 'roomdata update', 'click',
    'waiting for replay', 'replay progress', 'replay complete', 'replay error',
    'replay timeout warning', 'replay timeout', 'control change'];
  // Not 'host invite' nor 'control request': without a listener, CWMN asks the visitor in its
  // own dialog (docs/LIVE.md, "Invite to host"; docs/CONTROL.md).
  var log = document.getElementById('log'), stateEl = document.getElementById('state');

  function show(v) {
    var code = v instanceof Error && /** @type {{ code?: string }} */ (v).code;
    if (v instanceof Error) return (code ? '[' + code + '] ' : '') + v.message;
    try { return JSON.stringify(v); } catch (e) { return String(v); }
  }
  function write(kind, text) {
    var li = document.createElement('li');
    li.className = kind;
    li.textContent = new Date().toISOString().slice(11, 23) + ' ' + text;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    stateEl.textContent = CwmnAPI.getCurrentState();
  }
  function lookup(path) {
    /** @type {any} */
    var fn = CwmnAPI;
    var parts = path.split('.'), owner = CwmnAPI;
    parts.forEach(function (p) { owner = fn; fn = fn[p]; });
    return fn.bind(owner);
  }
  function run(path, input) {
    var args;
    try { args = input && input.value.trim() ? JSON.parse(input.value) : []; } catch (e) {
      return write('error', path + ': arguments are not JSON: ' + e.message);
    }
    try {
      var result = lookup(path).apply(null, args);
      if (result && typeof result.then === 'function') {
        write('call', path + '(' + show(args).slice(1, -1) + ') …');
        result.then(function (v) { write('ok', path + ' → ' + show(v)); },
          function (e) { write('error', path + ' ✗ ' + show(e)); });
      } else {
        write('ok', path + '() → ' + show(result));
      }
    } catch (e) { write('error', path + ' threw ' + show(e)); }
  }
  var box = document.getElementById('functions');
  FUNCTIONS.forEach(function (f) {
    var div = document.createElement('div'), button = document.createElement('button'), input = null;
    div.className = 'fn';
    button.type = 'button';
    button.textContent = f[0];
    button.dataset.fn = f[0];
    div.appendChild(button);
    if (f[1]) {
      input = document.createElement('textarea');
      input.rows = 2;
      input.value = f[1];
      input.setAttribute('aria-label', f[0] + ' arguments (JSON array)');
      div.appendChild(input);
    }
    button.addEventListener('click', function () { run(f[0], input); });
    box.appendChild(div);
  });
  document.getElementById('clear').addEventListener('click', function () { log.textContent = ''; });
  CwmnAPI.on('init', function () {
    write('event', 'event: init');
    EVENTS.forEach(function (name) {
      if (name === 'init') return;
      CwmnAPI.on(name, function () {
        write('event', 'event: ' + name + (arguments.length ? ' ' + show([].slice.call(arguments)) : ''));
      });
    });
    // A rendered replay plays right here (the URL streams with ranges, so it seeks).
    var video = /** @type {HTMLVideoElement} */ (document.getElementById('video'));
    CwmnAPI.on('replay complete', function () {
      CwmnAPI.replay.getVideoURL().then(function (url) { video.src = url; video.hidden = false; });
    });
    CwmnAPI.on('reinit', function () { video.hidden = true; video.removeAttribute('src'); });
  });
})();
