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

/** A new element of this document: ``tag``, with a class and a text. */
export function el(tag, className, text) {
  const node = dom.createElement(document, tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A dialog not yet in the page: ``<tag>`` with ``sheet`` in its closed shadow root; the
 * dialog is labelled by ``#<name>-title`` and described by ``#<name>-text``, which the caller
 * adds to it. ``attachShadow`` is the page's original one (the stub keeps it). */
export function modal(tag, sheet, name, attachShadow) {
  const host = dom.createElement(document, tag);
  host.setAttribute(OVERLAY_ATTR, '');
  host.style.cssText = HOST_CSS; // CSSOM, not a style attribute: allowed by a strict page CSP
  const root = (attachShadow || Element.prototype.attachShadow).call(host, { mode: 'closed' });
  // A constructed sheet is not an inline <style>: a page CSP without 'unsafe-inline' allows it.
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    const constructed = new CSSStyleSheet();
    constructed.replaceSync(sheet);
    root.adoptedStyleSheets = [constructed];
  } else {
    root.append(el('style', '', sheet));
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
