// cwmn_web capture, what is private (docs/MIRROR.md, "Masking"): masked text and masked form
// values are sent as their length only; a blocked element as an empty box of its size; our
// own overlay (guests' pointers, the consent dialog) never.
import { NODE, OVERLAY_ATTR } from '../dist/constants.mjs';
import { dom } from './dom.mjs';

/** Form elements whose value is state the viewer shows. */
export const VALUE_TAGS = { INPUT: 1, TEXTAREA: 1, SELECT: 1 };

/** Autocomplete tokens of fields whose values never leave, whatever the site's rules:
    payment cards (`cc-number`, `cc-csc`, `cc-exp`, ...), one-time codes, and passwords
    (`current-password`, `new-password`: a "show password" toggle makes a password field
    type=text, its value as secret as before). Remote control refuses them too. */
export const SECRET_AUTOCOMPLETE =
  /(?:^|\s)(?:cc-[a-z-]+|one-time-code|current-password|new-password)(?=\s|$)/i;

/** One of our own elements (never mirrored). */
export const isOverlay = (node) => dom.nodeType(node) === NODE.ELEMENT && dom.hasAttribute(node, OVERLAY_ATTR);

/** The page's masking rules: CSS selectors to mask and to block. */
export class Privacy {
  constructor(config) {
    this.mask = (config.mask || []).join(',') || null;
    this.block = (config.block || []).join(',') || null;
  }
  masked(el) {
    return !!(el && this.mask && dom.nodeType(el) === NODE.ELEMENT && dom.closest(el, this.mask));
  }
  blocked(el) {
    return !!(this.block && dom.nodeType(el) === NODE.ELEMENT && dom.matches(el, this.block));
  }
  secretValue(el) {
    return el.type === 'password' || el.type === 'hidden' ||
      SECRET_AUTOCOMPLETE.test(dom.getAttribute(el, 'autocomplete') || '') ||
      this.masked(el);
  }
}
