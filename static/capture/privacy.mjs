// cwmn_web capture, what is private (docs/MIRROR.md, "Masking"): masked text and masked form
// values are sent as their length only; a blocked element as an empty box of its size; our
// own overlay (guests' pointers, the consent dialog) never.
import { NODE, OVERLAY_ATTR } from '../dist/constants.mjs';

/** Form elements whose value is state the viewer shows. */
export const VALUE_TAGS = { INPUT: 1, TEXTAREA: 1, SELECT: 1 };

/** Autocomplete tokens of fields whose values never leave, whatever the site's rules:
    payment cards (`cc-number`, `cc-csc`, `cc-exp`, ...) and one-time codes. */
const SECRET_AUTOCOMPLETE = /(?:^|\s)(?:cc-[a-z-]+|one-time-code)(?=\s|$)/i;

/** One of our own elements (never mirrored). */
export const isOverlay = (node) => node.nodeType === NODE.ELEMENT && node.hasAttribute(OVERLAY_ATTR);

/** The page's masking rules: CSS selectors to mask and to block. */
export class Privacy {
  constructor(config) {
    this.mask = (config.mask || []).join(',') || null;
    this.block = (config.block || []).join(',') || null;
  }
  masked(el) {
    return !!(el && this.mask && el.closest && el.closest(this.mask));
  }
  blocked(el) {
    return !!(this.block && el.matches && el.matches(this.block));
  }
  secretValue(el) {
    return el.type === 'password' || el.type === 'hidden' ||
      SECRET_AUTOCOMPLETE.test((el.getAttribute && el.getAttribute('autocomplete')) || '') ||
      this.masked(el);
  }
}
