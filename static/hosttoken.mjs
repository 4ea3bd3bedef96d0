// cwmn_web: fetches the host token from the URL the site names (data-host-token-url; see
// docs/HOST_TOKENS.md): same origin, with the page's cookies, never cached. The answer is
// the token as text, or JSON {"token": "..."}; Python asks again when it nears expiry.
/** @param {any} m @param {any} _attach @param {any} _api @param {(m: any) => void} post */
export function handle(m, _attach, _api, post) {
  fetch(m.url, { credentials: 'same-origin', cache: 'no-store' })
    .then((r) => {
      if (!r.ok) throw new Error(`it answered HTTP ${r.status}`);
      return r.text();
    })
    .then((text) => {
      const body = text.trim();
      const token = body.startsWith('{') ? JSON.parse(body).token : body;
      if (typeof token !== 'string' || !token) throw new Error('it answered no token');
      post({ op: 'host token', token });
    })
    .catch((e) => post({ op: 'host token', error: String((e && e.message) || e) }));
}
