// cwmn_web: the default consent dialog for an invitation to host (docs/LIVE.md, "Invite to
// host"), shown when the page has no 'host invite' listener of its own; the answer calls
// CwmnAPI.session.acceptHostInvite({code}) or CwmnAPI.session.declineHostInvite(). The visitor
// types the code the invitation's email gave (the link alone hosts nothing); a wrong code
// asks again, saying so.
// Its content is in a closed shadow root (the page's CSS cannot restyle it, nor it the
// page), on an element capture never mirrors (data-cwmn-overlay). Accessible: a labelled
// modal dialog, focus on the code, Tab kept inside, Enter = "Share my screen", Escape =
// "Not now", focus given back to where it was.
import { dom } from './capture/dom.mjs';
import { el, modal, refocus, trapKeys } from './modal.mjs';

const SHEET = `
p { margin: 0 0 12px; }
blockquote { margin: 0 0 12px; padding: 6px 12px; border-left: 3px solid #c8ccd6;
  color: #444; white-space: pre-line; overflow-wrap: anywhere; max-height: 10em;
  overflow: auto; }
blockquote:empty { display: none; }
label { display: block; margin: 0 0 4px; font-weight: 600; }
input { font: inherit; font-size: 20px; letter-spacing: .2em; width: 8em; padding: 6px 8px;
  border: 1px solid #b9bfcc; border-radius: 6px; box-sizing: border-box; }
input:focus { outline: 3px solid #9db8ff; outline-offset: 1px; }
.error { color: #b3261e; margin: 6px 0 0; }
.error:empty { display: none; }
@media (prefers-color-scheme: dark) {
  input { background: #2a2e37; color: #e8eaee; border-color: #4a5060; }
  .error { color: #ff8a80; }
  blockquote { color: #c9cdd6; border-color: #4a5060; }
}
`;

let current = null; // {host, root, dialog, title, text, quote, code, error, buttons, promise}


/** The stub's entry point: ask, then answer through ``api`` (``window.CwmnAPI``). */
/** The stub's entry point: `{op: 'consent', invite}`. */
export function handle(message, attachShadow, api) {
  return show(message.invite, attachShadow, api);
}

export async function show(invite, attachShadow, api) {
  let error = '';
  for (;;) {
    const answer = await ask(invite, attachShadow, error);
    try {
      if (answer.yes) await api.session.acceptHostInvite({ code: answer.code });
      else await api.session.declineHostInvite();
      return;
    } catch (e) {
      if (answer.yes && e && e.code === 'invite_code_invalid') {
        error = e.message; // a wrong or missing code: ask again
        continue;
      }
      console.error('CWMN: invitation to host', e);
      return;
    }
  }
}

/** Ask the visitor whether to host the session ``invite`` ({inviterName, hostEmail,
 * message, …}) asks for, and for the code its email gave; resolves ``{yes: true, code}``
 * ("Share my screen", Enter) or ``{yes: false, code: ''}`` ("Not now", Escape). ``error``:
 * why the last code was refused. One dialog at a time: asking again while it is open gives
 * the same answer. */
export function ask(invite, attachShadow, error = '') {
  if (current) return current.promise;
  const info = invite || {};
  const who = String(info.inviterName || '').trim() || 'Someone';
  const { host, root, dialog } = modal('cwmn-consent', SHEET, 'cwmn-consent', attachShadow);
  const title = el('h2', '', 'Share your screen with ' + who + '?');
  title.id = 'cwmn-consent-title';
  const text = el('p', '', who + ' invites you to share this page with them. They will see ' +
    'this page and your pointer, but not passwords or masked fields.');
  text.id = 'cwmn-consent-text';
  const quote = el('blockquote', '', String(info.message || '').trim());
  const sentTo = String(info.hostEmail || '').trim();
  const label = el('label', '', 'Code from the invitation email' +
    (sentTo ? ' sent to ' + sentTo : ''));
  label.htmlFor = 'cwmn-consent-code';
  const code = /** @type {HTMLInputElement} */ (el('input'));
  code.id = 'cwmn-consent-code';
  code.type = 'text';
  code.inputMode = 'numeric';
  code.autocomplete = 'one-time-code';
  code.maxLength = 9;
  code.spellcheck = false;
  const problem = el('p', 'error', String(error || ''));
  problem.setAttribute('role', 'alert');
  code.setAttribute('aria-describedby', 'cwmn-consent-error');
  problem.id = 'cwmn-consent-error';
  const no = el('button', 'no', 'Not now');
  const yes = el('button', 'yes', 'Share my screen');
  no.type = yes.type = 'button';
  const actions = el('div', 'actions');
  actions.append(no, yes);
  dialog.append(title, text, quote, label, code, problem, actions);

  const before = /** @type {HTMLElement | null} */ (dom.activeElement(document));
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  const done = (answer) => {
    if (current === null || current.promise !== promise) return;
    current = null;
    host.remove();
    refocus(before);
    resolve(answer);
  };
  const agree = () => done({ yes: true, code: code.value.trim() });
  const refuse = () => done({ yes: false, code: '' });
  yes.addEventListener('click', agree);
  no.addEventListener('click', refuse);
  trapKeys(dialog, root, [code, no, yes], refuse); // the code and the two buttons
  dialog.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && root.activeElement === code) {
      event.preventDefault();
      agree();
    }
  });
  current = {
    host, root, dialog, title, text, quote, code, error: problem, buttons: [no, yes], promise,
  };
  dom.documentElement(document).append(host);
  code.focus({ preventScroll: true });
  return promise;
}

/** What is shown, for tests and debugging (the shadow root stays closed): texts, roles, and
 * each button's centre in viewport px and whether it has focus. */
export function debugState() {
  if (!current || !current.host.isConnected) return { open: false };
  const { root, dialog, title, text, quote, code, error, buttons } = current;
  const box = code.getBoundingClientRect();
  return {
    open: true,
    role: dialog.getAttribute('role'),
    modal: dialog.getAttribute('aria-modal') === 'true',
    label: root.getElementById(dialog.getAttribute('aria-labelledby')).textContent,
    description: root.getElementById(dialog.getAttribute('aria-describedby')).textContent,
    title: title.textContent,
    text: text.textContent,
    message: quote.textContent,
    code: {
      label: root.querySelector('label').textContent,
      value: code.value,
      focused: root.activeElement === code,
      x: box.left + box.width / 2,
      y: box.top + box.height / 2,
    },
    error: error.textContent,
    buttons: buttons.map((b) => {
      const r = b.getBoundingClientRect();
      return {
        label: b.textContent,
        x: r.left + r.width / 2,
        y: r.top + r.height / 2,
        focused: root.activeElement === b,
      };
    }),
  };
}
