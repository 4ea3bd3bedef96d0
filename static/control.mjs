// cwmn_web: remote control with consent (extension, docs/control/remote-control.md).
//
// {op: 'control', guestId, input, rules}: the controlling guest's input, in the host's
// document coordinates, applied as a real user's would be: the events a browser fires
// (pointer, mouse, keyboard, beforeinput/input, change, wheel), which the page's own handlers
// see, and the browser's default actions (focus and caret, activation of links, checkboxes
// and submit buttons, text insertion, caret moves, Tab, Enter). Events made by a script are
// never `isTrusted`; everything else about them is what a user's would be. Refused (nothing
// happens, and the guest hears why through post({op: 'control refused'})): masked or
// blocked elements (the capture's rules), password, hidden, payment-card and one-time-code
// fields (and fields whose autocomplete says password: a "show password" toggle), file
// fields (no file chooser opens for a guest), CWMN's own overlay (dialogs, badge), and
// whatever would leave the site (links and forms to another origin, javascript: URLs, new
// windows), also when a page handler or a label passes the click on: while an input is
// applied, capture listeners on the window cancel such a click or submission. In a refused
// field that has focus, only Tab and Shift+Tab work (the focus moves on; no key event goes
// into the field).
//
// {op: 'control ask', request}: the default consent dialog, when the site has no
// 'control request' listener of its own; its buttons call api.control.grant(guestId) or
// api.control.decline(guestId). request null closes it. Accessible as consent.mjs is: a
// labelled modal dialog in a closed shadow root, focus inside, Escape = "Don't allow".
import { dom } from './capture/dom.mjs';
import { Privacy, SECRET_AUTOCOMPLETE } from './capture/privacy.mjs';
import { OVERLAY_ATTR } from './dist/constants.mjs';
import { el, modal, refocus, trapKeys } from './modal.mjs';

// The page's document and forms are the page's: a named element shadows their members
// (<img name=elementFromPoint>, <input name=action>), so these come from the prototypes.
const uncurry = (fn) => Function.prototype.call.bind(fn);
const D = Document.prototype, E = Element.prototype, F = HTMLFormElement.prototype;
const XLINK = 'http://www.w3.org/1999/xlink';
const page = Object.freeze({
  getAttributeNS: uncurry(E.getAttributeNS),
  composedPath: uncurry(Event.prototype.composedPath),
  preventDefault: uncurry(Event.prototype.preventDefault),
  elementFromPoint: uncurry(D.elementFromPoint),
  execCommand: uncurry(D.execCommand),
  caretPositionFromPoint: D['caretPositionFromPoint'] ? uncurry(D['caretPositionFromPoint']) : null,
  caretRangeFromPoint: D['caretRangeFromPoint'] ? uncurry(D['caretRangeFromPoint']) : null,
  formAction: uncurry(Object.getOwnPropertyDescriptor(F, 'action').get),
  formElements: uncurry(Object.getOwnPropertyDescriptor(F, 'elements').get),
  formMethod: uncurry(Object.getOwnPropertyDescriptor(F, 'method').get),
  requestSubmit: uncurry(F.requestSubmit),
});

/** The stub's entry point. */
export function handle(message, attachShadow, api, post) {
  if (!message) return;
  if (message.op === 'control') {
    const why = apply(message.input || {}, message.rules || {});
    if (why) {
      post({ op: 'control refused', guestId: message.guestId, code: 'control_refused',
        message: 'CWMN did not apply this input: ' + why });
    }
  } else if (message.op === 'control ask') {
    if (message.request) ask(message.request, attachShadow, api);
    else close();
  }
}

// -- applying inputs ------------------------------------------------------------------------
const SHIFT = 1, CTRL = 2, ALT = 4, META = 8;
/** Input types whose value is text the selection API edits. */
const TEXT_TYPES = new Set(['text', 'search', 'url', 'tel', 'email', 'number', '']);
const SELECTABLE = new Set(['text', 'search', 'url', 'tel', '']);
const TABBABLE = 'a[href], area[href], button, input, select, textarea, iframe, summary, ' +
  '[tabindex], [contenteditable=""], [contenteditable="true"]';
/** Per edited field: its value when the edits began ('change' on blur if it differs). */
const edited = new WeakMap();

/** Apply one input; answers why it was refused, or '' once applied. */
export function apply(input, rules) {
  return guarded(() => applyOne(input, new Privacy(rules)));
}

function applyOne(input, privacy) {
  const mods = Number(input.mods) || 0;
  const kind = input.kind;
  if (kind === 'click' || kind === 'dblclick' || kind === 'scroll') {
    const cx = Number(input.x) - window.scrollX, cy = Number(input.y) - window.scrollY;
    if (!Number.isFinite(cx) || !Number.isFinite(cy)) return 'a point that is not a number';
    const target = elementAt(cx, cy);
    if (kind === 'scroll') return scroll(target, cx, cy, input, privacy);
    if (!target) return 'a point outside the visible page';
    const why = forbidden(target, privacy) || leaves(target);
    if (why) return why;
    click(target, cx, cy, mods, 1);
    if (kind === 'dblclick') {
      click(target, cx, cy, mods, 2);
      mouse(target, 'dblclick', cx, cy, mods, 2, 0);
      selectWord(target);
    }
    return '';
  }
  const focused = deepActive();
  if (focused) {
    const why = forbidden(focused, privacy);
    // Tab leaves a refused field (no key event goes into it); nothing else happens there.
    if (why && kind === 'key' && input.key === 'Tab' && !(mods & ~SHIFT) &&
        !closestDeep(focused, '[' + OVERLAY_ATTR + ']')) {
      return moveFocus(mods & SHIFT ? -1 : 1, privacy);
    }
    if (why) return why;
  }
  if (kind === 'text') return typeText(focused, String(input.text || ''));
  if (kind === 'key') return key(focused, String(input.key || ''), mods, privacy);
  return 'an unknown kind of input';
}

/** Run ``fn`` (one input, and whatever the page's handlers do with it) with nothing leaving
 * the site: capture listeners on the window cancel a click that would follow a link off the
 * site, submit a form there or open a file chooser, and a submission off the site (default
 * actions run after the dispatch, so a label passing its click on, or a page handler's
 * link.click() or requestSubmit(), is caught too); window.open is refused. Answers fn's
 * answer, else why something was cancelled. */
function guarded(fn) {
  let why = '';
  const cancel = (event, reason) => {
    if (!reason) return;
    page.preventDefault(event);
    why = why || reason;
  };
  const onClick = (event) => cancel(event, clickLeaves(page.composedPath(event)));
  const onSubmit = (event) => cancel(event, formLeaves(event.target, event.submitter || null));
  dom.addEventListener(window, 'click', onClick, true);
  dom.addEventListener(window, 'submit', onSubmit, true);
  try {
    return noPopups(fn) || why;
  } finally {
    dom.removeEventListener(window, 'click', onClick, true);
    dom.removeEventListener(window, 'submit', onSubmit, true);
  }
}

/** Why a click along ``path`` (its composed path, target first) would leave the site or
 * open a file chooser ('' if it does neither). */
function clickLeaves(path) {
  for (const node of path) {
    if (!(node instanceof Element)) continue;
    const input = /** @type {HTMLInputElement} */ (node);
    if (dom.tagName(node) === 'INPUT' && input.type === 'file') return FILE_FIELD;
    const why = activationLeaves(node);
    if (why) return why;
  }
  return '';
}

/** The element at a viewport point, inside open shadow roots too. */
function elementAt(cx, cy) {
  let el = page.elementFromPoint(document, cx, cy);
  while (el) {
    const root = dom.shadowRoot(el);
    const inner = root && root.elementFromPoint(cx, cy);
    if (!inner || inner === el) break;
    el = inner;
  }
  return el;
}

/** The focused element, inside open shadow roots too (null: the body). */
function deepActive() {
  let el = dom.activeElement(document);
  while (el && dom.shadowRoot(el) && dom.shadowRoot(el).activeElement) {
    el = dom.shadowRoot(el).activeElement;
  }
  return el === dom.body(document) || el === dom.documentElement(document) ? null : el;
}

/** ``el`` or its nearest ancestor (across shadow roots) matching ``selector``. */
function closestDeep(el, selector) {
  while (el) {
    const found = selector && dom.closest(el, selector);
    if (found) return found;
    const root = el.getRootNode();
    el = root instanceof ShadowRoot ? dom.host(root) : null;
  }
  return null;
}

/** Why the guest may not act on ``el`` ('' if it may). */
function forbidden(el, privacy) {
  if (closestDeep(el, '[' + OVERLAY_ATTR + ']')) return "CWMN's own controls (only the visitor uses them)";
  const label = closestDeep(el, 'label');
  const targets = label && label.control && label.control !== el ? [el, label.control] : [el];
  for (const t of targets) {
    if (privacy.mask && closestDeep(t, privacy.mask)) return 'a masked part of the page';
    if (privacy.block && closestDeep(t, privacy.block)) return 'a blocked part of the page';
    const tag = dom.tagName(t);
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') {
      if (t.type === 'password') return 'a password field';
      if (t.type === 'hidden') return 'a hidden field';
      if (t.type === 'file') return FILE_FIELD;
      if (SECRET_AUTOCOMPLETE.test(dom.getAttribute(t, 'autocomplete') || '')) {
        return 'a password, payment-card or one-time-code field';
      }
    }
  }
  return '';
}

const FILE_FIELD = 'a file field (a file chooser never opens for a guest)';

/** Why activating ``el`` (a click on it, or in it) would leave the site ('' if it stays):
 * the link or submit button it is in, or its label's control (a label passes its click on). */
function leaves(el) {
  const label = closestDeep(el, 'label');
  const control = label && label.control;
  for (const t of control && control !== el ? [el, control] : [el]) {
    const why = activationLeaves(linkOf(t) || t) ||
      activationLeaves(closestDeep(t, 'button, input[type=submit], input[type=image]'));
    if (why) return why;
  }
  return '';
}

/** Why activating ``el`` itself would leave the site: a link (HTML or SVG) off the site or
 * into another window, a submit button whose form goes there. */
function activationLeaves(el) {
  if (!el) return '';
  const href = hrefOf(el);
  if (href !== null) return offSite(href, targetOf(dom.getAttribute(el, 'target')), el);
  const tag = dom.tagName(el);
  const submits = (tag === 'BUTTON' && el.type === 'submit') ||
    (tag === 'INPUT' && (el.type === 'submit' || el.type === 'image'));
  return submits && el.form ? formLeaves(el.form, el) : '';
}

/** The link ``el`` is in: an HTML or SVG <a>, or an <area>, with an href. */
function linkOf(el) {
  for (let a = closestDeep(el, 'a, area'); a; a = closestDeep(parentDeep(a), 'a, area')) {
    if (hrefOf(a) !== null) return a;
  }
  return null;
}

/** A link's href as written (an SVG <a>'s href is an SVGAnimatedString; it may be
 * xlink:href); null if ``el`` is not a link. */
function hrefOf(el) {
  const tag = String(dom.tagName(el)).toLowerCase();
  if (tag !== 'a' && tag !== 'area') return null;
  const href = dom.getAttribute(el, 'href');
  return href !== null ? href : page.getAttributeNS(el, XLINK, 'href');
}

/** The browsing context a link or form goes to: its own target (null: none), else the
 * document's <base target>. */
function targetOf(own) {
  if (own !== null) return own;
  const base = dom.querySelectorAll(document, 'base[target]')[0];
  return base ? dom.getAttribute(base, 'target') : '';
}

function formLeaves(form, submitter) {
  if (!(form instanceof HTMLFormElement)) return '';
  const method = (submitter && dom.hasAttribute(submitter, 'formmethod') && submitter.formMethod) ||
    page.formMethod(form);
  if (String(method).toLowerCase() === 'dialog') return ''; // closes its dialog, goes nowhere
  const action = (submitter && dom.hasAttribute(submitter, 'formaction') && submitter.formAction) ||
    page.formAction(form);
  const target = targetOf(submitter && dom.hasAttribute(submitter, 'formtarget')
    ? dom.getAttribute(submitter, 'formtarget') : dom.getAttribute(form, 'target'));
  return offSite(action, target, form);
}

function offSite(url, target, el) {
  let parsed;
  try { parsed = new URL(url, dom.baseURI(el)); } catch (e) { return 'a link that is not a URL'; }
  if (parsed.protocol === 'javascript:') return 'a javascript: link';
  if (parsed.origin !== location.origin) return 'a link to another site';
  const t = (target || '').trim().toLowerCase();
  if (t && t !== '_self' && t !== '_top' && t !== '_parent') return 'a link that opens another window';
  return '';
}

function modifiers(mods) {
  return {
    shiftKey: !!(mods & SHIFT), ctrlKey: !!(mods & CTRL), altKey: !!(mods & ALT),
    metaKey: !!(mods & META),
  };
}

/** Fire a mouse-family event; answers whether the page let its default action happen. */
function mouse(el, type, cx, cy, mods, detail, buttons, Kind = MouseEvent) {
  const init = {
    bubbles: true, cancelable: true, composed: true, view: window, detail,
    clientX: cx, clientY: cy, screenX: cx + window.screenX, screenY: cy + window.screenY,
    button: 0, buttons, ...modifiers(mods),
  };
  if (Kind === PointerEvent) Object.assign(init, { pointerId: 1, pointerType: 'mouse', isPrimary: true });
  return noPopups(() => el.dispatchEvent(new Kind(type, init)));
}

/** Run ``fn`` with window.open refused (a page handler may try to open a window). */
function noPopups(fn) {
  const open = window.open;
  try { window.open = () => null; } catch (e) { /* not writable: the popup blocker's job */ }
  try { return fn(); } finally {
    try { window.open = open; } catch (e) { /* as above */ }
  }
}

/** A click, as a browser gives one: pointer and mouse down (focus moves), up, click (its
 * activation: links followed, checkboxes toggled, forms submitted). */
function click(el, cx, cy, mods, detail) {
  const pointer = typeof PointerEvent === 'function' ? PointerEvent : MouseEvent;
  mouse(el, 'pointerdown', cx, cy, mods, 0, 1, pointer);
  if (mouse(el, 'mousedown', cx, cy, mods, detail, 1)) focusAt(el, cx, cy);
  mouse(el, 'pointerup', cx, cy, mods, 0, 0, pointer);
  mouse(el, 'mouseup', cx, cy, mods, detail, 0);
  mouse(el, 'click', cx, cy, mods, detail, 0);
}

/** What a mousedown focuses: the nearest focusable ancestor (else focus leaves), with the
 * caret at the point in a text field. */
function focusAt(el, cx, cy) {
  const target = closestDeep(el, TABBABLE);
  if (target !== deepActive()) commit(deepActive());
  if (!target || target.disabled) {
    const active = deepActive();
    if (active && typeof active.blur === 'function') active.blur();
    return;
  }
  if (deepActive() !== target) target.focus({ preventScroll: true });
  const at = caretAt(cx, cy);
  if (textField(target)) {
    let offset = at && at.node === target ? at.offset : target.value.length;
    if (belowText(target, cy, offset)) offset = target.value.length;
    try { target.setSelectionRange(offset, offset); } catch (e) { /* email, number */ }
  } else if (at && isEditable(target)) {
    const selection = window.getSelection();
    if (selection) selection.collapse(at.node, at.offset);
  }
}

/** A point below a textarea's text, where Firefox answers an offset near the start (a
 * user's click there puts the caret at the end, as Chromium answers). */
function belowText(field, cy, offset) {
  if (dom.tagName(field) !== 'TEXTAREA' || offset > 1 || field.value.length <= 1) return false;
  const style = getComputedStyle(field);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
  const top = dom.getBoundingClientRect(field).top + field.clientTop +
    parseFloat(style.paddingTop) - field.scrollTop;
  return cy - top > line;
}

function caretAt(cx, cy) {
  if (page.caretPositionFromPoint) {
    const p = page.caretPositionFromPoint(document, cx, cy);
    if (p) return { node: p.offsetNode, offset: p.offset };
  } else if (page.caretRangeFromPoint) {
    const r = page.caretRangeFromPoint(document, cx, cy);
    if (r) return { node: r.startContainer, offset: r.startOffset };
  }
  return null;
}

function textField(el) {
  if (!el) return false;
  const tag = dom.tagName(el);
  return tag === 'TEXTAREA' || (tag === 'INPUT' && TEXT_TYPES.has(el.type));
}

function isEditable(el) {
  return !!el && el.isContentEditable === true;
}

function selectWord(el) {
  if (!textField(el) || !SELECTABLE.has(el.type || '') && dom.tagName(el) !== 'TEXTAREA') return;
  const value = el.value, at = el.selectionStart || 0;
  let start = at, end = at;
  while (start > 0 && /\w/.test(value[start - 1])) start--;
  while (end < value.length && /\w/.test(value[end])) end++;
  el.setSelectionRange(start, end);
}

/** Insert ``text`` at the selection of the focused field, with beforeinput and input. */
function typeText(el, text, inputType = 'insertText') {
  if (!el || !(textField(el) || isEditable(el))) return 'no text field has focus (click one first)';
  if (el.readOnly || el.disabled) return 'a read-only field';
  if (!text) return '';
  const before = new InputEvent('beforeinput', {
    bubbles: true, cancelable: true, composed: true, inputType, data: text,
  });
  if (!el.dispatchEvent(before)) return '';
  if (isEditable(el)) {
    page.execCommand(document, inputType === 'insertLineBreak' ? 'insertLineBreak' : 'insertText', false, text);
    return '';
  }
  startEdit(el);
  let { start, end } = selection(el);
  const limit = el.maxLength >= 0 ? el.maxLength - (el.value.length - (end - start)) : Infinity;
  const inserted = limit < text.length ? text.slice(0, Math.max(0, limit)) : text;
  if (!inserted) return '';
  replaceRange(el, inserted, start, end);
  el.dispatchEvent(new InputEvent('input', { bubbles: true, composed: true, inputType, data: inserted }));
  return '';
}

function selection(el) {
  try {
    if (el.selectionStart !== null) return { start: el.selectionStart, end: el.selectionEnd };
  } catch (e) { /* email, number: no selection API */ }
  return { start: el.value.length, end: el.value.length };
}

/** Replace [start, end) of the field's value by ``text``, the caret after it. */
function replaceRange(el, text, start, end) {
  try {
    if (el.selectionStart !== null) {
      el.setRangeText(text, start, end, 'end');
      return;
    }
  } catch (e) { /* email, number: no selection API */ }
  // The prototype's setter, as a browser's own edit: a framework's tracker on the element
  // itself sees the change with the input event.
  const proto = dom.tagName(el) === 'TEXTAREA' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  const set = Object.getOwnPropertyDescriptor(proto, 'value').set;
  set.call(el, el.value.slice(0, start) + text + el.value.slice(end));
}

/** The field is being edited: 'change' fires when focus leaves it with another value (before
 * the focus moves, when the guest moves it; on blur, when the visitor does). */
function startEdit(el) {
  if (edited.has(el)) return;
  const left = () => commit(el);
  edited.set(el, { value: el.value, left });
  dom.addEventListener(el, 'blur', left);
}

/** Fire the 'change' an edited field owes (once its edits are over). */
function commit(el) {
  const edit = el && edited.get(el);
  if (!edit) return;
  edited.delete(el);
  dom.removeEventListener(el, 'blur', edit.left);
  if (edit.value !== el.value) el.dispatchEvent(new Event('change', { bubbles: true }));
}

function deleteText(el, forward) {
  if (isEditable(el)) {
    page.execCommand(document, forward ? 'forwardDelete' : 'delete');
    return;
  }
  if (!textField(el) || el.readOnly || el.disabled) return;
  let { start, end } = selection(el);
  if (start === end) {
    if (forward) end = Math.min(el.value.length, end + 1);
    else start = Math.max(0, start - 1);
  }
  if (start === end) return;
  const inputType = forward ? 'deleteContentForward' : 'deleteContentBackward';
  const before = new InputEvent('beforeinput', { bubbles: true, cancelable: true, composed: true, inputType });
  if (!el.dispatchEvent(before)) return;
  startEdit(el);
  replaceRange(el, '', start, end);
  el.dispatchEvent(new InputEvent('input', { bubbles: true, composed: true, inputType }));
}

/** keydown (its default action unless prevented), keyup. */
function key(el, name, mods, privacy) {
  if (!name) return 'an empty key';
  const target = el || dom.body(document);
  const init = { key: name, bubbles: true, cancelable: true, composed: true, ...modifiers(mods) };
  const printable = [...name].length === 1 && !(mods & (CTRL | META | ALT));
  let why = '';
  if (noPopups(() => target.dispatchEvent(new KeyboardEvent('keydown', init)))) {
    if (!printable) why = keyAction(el, name, mods, privacy);
    else if (textField(el) || isEditable(el)) why = typeText(el, name);
    else if (name === ' ') why = keyAction(el, name, mods, privacy);
  }
  target.dispatchEvent(new KeyboardEvent('keyup', init));
  return why;
}

/** The browser's default action for a named key. */
function keyAction(el, name, mods, privacy) {
  const shift = !!(mods & SHIFT);
  const tag = el ? dom.tagName(el) : '';
  if (name === 'Tab') return moveFocus(shift ? -1 : 1, privacy);
  if (!el) return '';
  if (name === 'Backspace' || name === 'Delete') {
    deleteText(el, name === 'Delete');
  } else if (name === 'Enter') {
    if (tag === 'TEXTAREA' || isEditable(el)) return typeText(el, '\n', 'insertLineBreak');
    if (tag === 'INPUT' && el.form && !['checkbox', 'radio', 'button', 'reset'].includes(el.type)) {
      return submit(el.form, el);
    }
    if (tag === 'A' || tag === 'BUTTON' || tag === 'SUMMARY') return activate(el);
  } else if (name === ' ' || name === 'Spacebar') {
    if (tag === 'BUTTON' || (tag === 'INPUT' && ['checkbox', 'radio', 'button', 'submit', 'reset'].includes(el.type))) {
      return activate(el);
    }
  } else if (tag === 'SELECT' && (name === 'ArrowDown' || name === 'ArrowUp')) {
    stepOption(el, name === 'ArrowDown' ? 1 : -1);
  } else if ((mods & (CTRL | META)) && name.toLowerCase() === 'a' && textField(el)) {
    el.select();
  } else if (textField(el) && SELECTABLE.has(tag === 'TEXTAREA' ? '' : el.type)) {
    moveCaret(el, name, shift);
  }
  return '';
}

/** Enter on a link or button, or Space on a button: a click, where it would not leave. */
function activate(el) {
  const why = leaves(el);
  if (why) return why;
  const box = dom.getBoundingClientRect(el);
  mouse(el, 'click', box.left + box.width / 2, box.top + box.height / 2, 0, 0, 0);
  return '';
}

/** Implicit submission: the form's default button's click, else requestSubmit. */
function submit(form, field) {
  const button = [...page.formElements(form)].find((e) => (
    (dom.tagName(e) === 'BUTTON' && e.type === 'submit') ||
    (dom.tagName(e) === 'INPUT' && (e.type === 'submit' || e.type === 'image'))));
  const why = formLeaves(form, button || null);
  if (why) return why;
  commit(field); // a browser fires the field's 'change' before submitting
  if (button) {
    if (!button.disabled) activate(button);
    return '';
  }
  // Without a submit button a browser submits only a form of one text field (HTML's
  // implicit submission).
  const fields = [...page.formElements(form)].filter((e) => dom.tagName(e) === 'INPUT' &&
    (TEXT_TYPES.has(e.type) || e.type === 'password'));
  if (fields.length > 1) return '';
  noPopups(() => page.requestSubmit(form));
  return '';
}

function stepOption(select, step) {
  const options = [...select.options];
  let i = select.selectedIndex;
  do { i += step; } while (i >= 0 && i < options.length && options[i].disabled);
  if (i < 0 || i >= options.length || i === select.selectedIndex) return;
  select.selectedIndex = i;
  select.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
  select.dispatchEvent(new Event('change', { bubbles: true }));
}

function moveCaret(el, name, shift) {
  const value = el.value, start = el.selectionStart, end = el.selectionEnd;
  const backward = el.selectionDirection === 'backward';
  let focus = backward ? start : end;
  const anchor = backward ? end : start;
  const lineStart = (at) => value.lastIndexOf('\n', at - 1) + 1;
  const lineEnd = (at) => { const i = value.indexOf('\n', at); return i < 0 ? value.length : i; };
  if (name === 'ArrowLeft') focus = !shift && start !== end ? start : Math.max(0, focus - 1);
  else if (name === 'ArrowRight') focus = !shift && start !== end ? end : Math.min(value.length, focus + 1);
  else if (name === 'Home') focus = lineStart(focus);
  else if (name === 'End') focus = lineEnd(focus);
  else if (name === 'ArrowUp' || name === 'ArrowDown') {
    const column = focus - lineStart(focus);
    if (name === 'ArrowUp') {
      const here = lineStart(focus);
      if (here === 0) focus = 0;
      else { const prev = lineStart(here - 1); focus = Math.min(prev + column, here - 1); }
    } else {
      const next = lineEnd(focus);
      if (next === value.length) focus = value.length;
      else focus = Math.min(next + 1 + column, lineEnd(next + 1));
    }
  } else {
    return;
  }
  if (shift) {
    el.setSelectionRange(Math.min(anchor, focus), Math.max(anchor, focus),
      focus < anchor ? 'backward' : 'forward');
  } else {
    el.setSelectionRange(focus, focus);
  }
}

/** Tab and Shift+Tab: the next focusable element in document order, past those the guest
 * may not use (masked, password, file fields...: their focus handlers never run for it). */
function moveFocus(step, privacy) {
  const all = [...dom.querySelectorAll(document, TABBABLE)].filter((e) => (
    !e.disabled && e.tabIndex >= 0 && !forbidden(e, privacy) && e.getClientRects().length > 0));
  const ordered = [...all.filter((e) => e.tabIndex > 0).sort((a, b) => a.tabIndex - b.tabIndex),
    ...all.filter((e) => e.tabIndex === 0)];
  if (!ordered.length) return '';
  const active = deepActive();
  const at = ordered.indexOf(active);
  commit(active);
  let next = at < 0 ? (step > 0 ? 0 : ordered.length - 1)
    : (at + step + ordered.length) % ordered.length;
  if (at < 0 && active) { // from a field that is not in the order (a refused one): its neighbour
    const after = ordered.findIndex((e) => e.tabIndex === 0 &&
      (active.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING));
    if (step > 0 && after >= 0) next = after;
    else if (step < 0) next = (after < 0 ? ordered.length : after) - 1;
    if (next < 0) next = ordered.length - 1;
  }
  ordered[next].focus();
  if (textField(ordered[next])) {
    try { ordered[next].select(); } catch (e) { /* no selection */ }
  }
  return '';
}

/** A wheel event where the guest scrolls, then the scroll it asks for (unless prevented). */
function scroll(target, cx, cy, input, privacy) {
  const dx = Number(input.dx) || 0, dy = Number(input.dy) || 0;
  let el = target;
  if (el && (forbidden(el, privacy))) el = null; // never an event into a masked part
  if (el) {
    const wheel = new WheelEvent('wheel', {
      bubbles: true, cancelable: true, composed: true, view: window, clientX: cx, clientY: cy,
      deltaX: dx, deltaY: dy, deltaMode: 0,
    });
    if (!el.dispatchEvent(wheel)) return '';
  }
  for (let s = el; s; s = parentDeep(s)) {
    if (scrolls(s, dx, dy)) {
      s.scrollBy({ left: dx, top: dy, behavior: 'instant' });
      return '';
    }
  }
  window.scrollBy({ left: dx, top: dy, behavior: 'instant' });
  return '';
}

function parentDeep(el) {
  if (el.parentElement) return el.parentElement;
  const root = el.getRootNode();
  return root instanceof ShadowRoot ? dom.host(root) : null;
}

function scrolls(el, dx, dy) {
  if (el === dom.body(document) || el === dom.documentElement(document)) return false;
  const style = getComputedStyle(el);
  const canY = /(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight;
  const canX = /(auto|scroll)/.test(style.overflowX) && el.scrollWidth > el.clientWidth;
  const roomY = dy > 0 ? el.scrollTop + el.clientHeight < el.scrollHeight : el.scrollTop > 0;
  const roomX = dx > 0 ? el.scrollLeft + el.clientWidth < el.scrollWidth : el.scrollLeft > 0;
  return (dy !== 0 && canY && roomY) || (dx !== 0 && canX && roomX);
}

// -- the default consent dialog -------------------------------------------------------------
const SHEET = `
h2 i { font-style: normal; display: inline-block; width: .8em; height: .8em;
  border-radius: 50%; margin-right: .35em; background: var(--c, #e5484d); }
p { margin: 0 0 10px; }
ul { margin: 0 0 12px; padding-left: 1.2em; }
`;

let current = null; // {host, root, dialog, title, text, buttons, guestId, before}


/** Ask the visitor whether ``request.name`` may control the page; the answer calls
 * api.control.grant or api.control.decline. A newer request replaces the one shown. */
export function ask(request, attachShadow, api) {
  close(false);
  const who = String(request.name || '').trim() || 'A guest';
  const guestId = String(request.guestId || '');
  const { host, root, dialog } = modal('cwmn-control', SHEET, 'cwmn-control', attachShadow);
  const title = el('h2');
  title.id = 'cwmn-control-title';
  const dot = el('i');
  dot.setAttribute('aria-hidden', 'true');
  if (/^#[0-9a-f]{3,8}$|^rgb\([\d\s,.]+\)$/i.test(String(request.color || ''))) {
    dot.style.setProperty('--c', String(request.color));
  }
  title.append(dot, who + ' asks to control this page');
  const text = el('div');
  text.id = 'cwmn-control-text';
  const list = el('ul');
  list.append(
    el('li', '', 'They can click, type and scroll on this page for you.'),
    el('li', '', 'Never in passwords, payment details or fields hidden from them.'),
    el('li', '', 'You can take control back at any time.'));
  text.append(el('p', '', 'If you allow it:'), list);
  const no = el('button', 'no', "Don't allow");
  const yes = el('button', 'yes', 'Allow');
  no.type = yes.type = 'button';
  const actions = el('div', 'actions');
  actions.append(no, yes);
  dialog.append(title, text, actions);
  const before = /** @type {HTMLElement | null} */ (dom.activeElement(document));
  const answer = (allow) => {
    if (!current || current.host !== host) return;
    close();
    const call = allow ? api.control.grant(guestId) : api.control.decline(guestId);
    Promise.resolve(call).catch((e) => console.error('CWMN: control request', e));
  };
  yes.addEventListener('click', () => answer(true));
  no.addEventListener('click', () => answer(false));
  trapKeys(dialog, root, [no, yes], () => answer(false));
  current = { host, root, dialog, title, text, buttons: [no, yes], guestId, before };
  dom.documentElement(document).append(host);
  no.focus({ preventScroll: true });
}

/** Close the dialog (focus goes back where it was, unless another dialog follows). */
export function close(restore = true) {
  if (!current) return;
  const { host, before } = current;
  current = null;
  host.remove();
  if (restore) refocus(before);
}

/** What the dialog shows, for tests and debugging (the shadow root stays closed). */
export function debugState() {
  if (!current || !current.host.isConnected) return { open: false };
  const { root, dialog, title, text, buttons, guestId } = current;
  return {
    open: true,
    guestId,
    role: dialog.getAttribute('role'),
    modal: dialog.getAttribute('aria-modal') === 'true',
    label: root.getElementById(dialog.getAttribute('aria-labelledby')).textContent,
    title: title.textContent,
    text: text.textContent,
    buttons: buttons.map((b) => {
      const r = b.getBoundingClientRect();
      return { label: b.textContent, x: r.left + r.width / 2, y: r.top + r.height / 2,
        focused: root.activeElement === b };
    }),
  };
}
