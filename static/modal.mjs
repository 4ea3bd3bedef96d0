// cwmn_web: the shell of CWMN's own dialogs on the host's page (consent.mjs: an invitation to
// host; control.mjs: a guest asks for control). An element capture never mirrors
// (data-cwmn-overlay) holding a closed shadow root (the page's CSS cannot restyle it, nor it
// the page), a backdrop and a labelled modal dialog; Tab stays inside, Escape cancels, focus
// goes back where it was.
import { dom } from './capture/dom.mjs';
import { OVERLAY_ATTR } from './dist/constants.mjs';

const HOST_CSS = [
  'all:initial', 'display:block', 'position:fixed', 'top:0', 'left:0', 'right:0', 'bottom:0',
  'margin:0', 'padding:0', 'border:0', 'z-index:2147483647', 'visibility:visible',
  'opacity:1', 'pointer-events:auto',
].map((d) => d + '!important').join(';');

/** What every dialog looks like (each module's sheet adds its own parts after it). */
const BASE_SHEET = `
.backdrop { position: fixed; inset: 0; display: flex; align-items: center;
  justify-content: center; padding: 16px; box-sizing: border-box;
  background: rgba(15, 18, 26, .45); }
.dialog { box-sizing: border-box; width: 100%; max-width: 28em; padding: 22px 24px 18px;
  border-radius: 10px; background: #fff; color: #1f2328; text-align: left; direction: ltr;
  box-shadow: 0 12px 40px rgba(0, 0, 0, .3); font: 15px/1.5 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; }
h2 { margin: 0 0 8px; font-size: 18px; line-height: 1.3; font-weight: 650; }
.actions { display: flex; justify-content: flex-end; gap: 8px; flex-wrap: wrap;
  margin-top: 16px; }
button { font: inherit; font-weight: 600; padding: 8px 16px; border-radius: 6px;
  cursor: pointer; border: 1px solid #b9bfcc; background: #fff; color: #1f2328; }
button.yes { background: #2457d6; border-color: #2457d6; color: #fff; }
button:focus-visible, button:focus { outline: 3px solid #9db8ff; outline-offset: 2px; }
@media (prefers-color-scheme: dark) {
  .dialog { background: #1e2128; color: #e8eaee; }
  button { background: #2a2e37; color: #e8eaee; border-color: #4a5060; }
}
`;

/** A new element of this document: ``tag``, with a class and a text. */
export function el(tag, className, text) {
  const node = dom.createElement(document, tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A dialog not yet in the page: ``<tag>`` with ``sheet`` in its closed shadow root; the
 * dialog is labelled by ``#<name>-title`` and described by ``#<name>-text``, which the caller
 * adds to it; ``sheet`` comes after the dialogs' shared look. ``attachShadow`` is the page's original one (the stub keeps it). */
export function modal(tag, sheet, name, attachShadow) {
  const host = dom.createElement(document, tag);
  host.setAttribute(OVERLAY_ATTR, '');
  host.style.cssText = HOST_CSS; // CSSOM, not a style attribute: allowed by a strict page CSP
  const root = (attachShadow || Element.prototype.attachShadow).call(host, { mode: 'closed' });
  // A constructed sheet is not an inline <style>: a page CSP without 'unsafe-inline' allows it.
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    const constructed = new CSSStyleSheet();
    constructed.replaceSync(BASE_SHEET + sheet);
    root.adoptedStyleSheets = [constructed];
  } else {
    root.append(el('style', '', BASE_SHEET + sheet));
  }
  const backdrop = el('div', 'backdrop');
  const dialog = el('div', 'dialog');
  dialog.setAttribute('role', 'dialog');
  dialog.setAttribute('aria-modal', 'true');
  dialog.setAttribute('aria-labelledby', name + '-title');
  dialog.setAttribute('aria-describedby', name + '-text');
  backdrop.append(dialog);
  root.append(backdrop);
  return { host, root, dialog };
}

/** Keep the keyboard in the dialog: Tab and Shift+Tab cycle through ``order``, Escape calls
 * ``cancel``. */
export function trapKeys(dialog, root, order, cancel) {
  dialog.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      cancel();
    } else if (event.key === 'Tab') {
      event.preventDefault();
      const at = order.indexOf(/** @type {any} */ (root.activeElement));
      const step = event.shiftKey ? order.length - 1 : 1;
      order[(Math.max(at, 0) + step) % order.length].focus();
    }
  });
}

/** Give the focus back to ``before`` (where it was when the dialog opened), if it still can. */
export function refocus(before) {
  if (before && typeof before.focus === 'function') {
    try { before.focus({ preventScroll: true }); } catch (e) { /* it went away */ }
  }
}
