// A site that asks in its own words: a 'host invite' listener (so CWMN shows no dialog).
CwmnAPI.on('init', function () {
  CwmnAPI.on('host invite', function (invite) {
    window.receivedInvite = invite;
    document.getElementById('who').textContent = invite.inviterName + ' would like to see this page';
    document.getElementById('ask').hidden = false;
  });
});
document.addEventListener('DOMContentLoaded', function () {
  function answer(promise) {
    document.getElementById('ask').hidden = true;
    promise.then(function (value) { window.answered = { ok: true, value: value }; },
      function (e) { window.answered = { ok: false, code: e.code }; });
  }
  document.getElementById('share').addEventListener('click', function () {
    var code = /** @type {HTMLInputElement} */ (document.getElementById('code')).value;
    answer(CwmnAPI.session.acceptHostInvite({ code: code }));
  });
  document.getElementById('later').addEventListener('click', function () {
    answer(CwmnAPI.session.declineHostInvite());
  });
});
