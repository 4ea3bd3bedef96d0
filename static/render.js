/* cwmn_web replay renderer page: drives a CwmnViewer (viewer/stage.js) without a worker. The renderer
   (cwmn_web/render) sends batches of already sanitized messages, one batch per output frame:
     await window.cwmnRender.ready;
     const pending = window.cwmnRender.apply([{op: 'frame', kind, data}, {op: 'status', paused}]);
     await window.cwmnRender.settle(ms);   // wait (at most ms) for images and stylesheets
     const still = window.cwmnRender.busy(); // between batches, while the last answer was > 0
   Each answers how many images or stylesheets of the page are still loading plus how many
   of its animations (CSS animations and transitions, Web Animations) are running: while
   that is not 0 the renderer takes a screenshot every frame, so an animation shows as it
   plays and ends in its held state, not as it was when the page last changed. */
(function () {
  'use strict';

  const PATIENCE_MS = 3000; // a resource still loading after this long no longer counts
  const viewer = new window.CwmnViewer(document.getElementById('cwmn-stage'));
  const dom = window.CwmnMirror.dom; // the built page is the host's: never call its members
  const seen = new WeakMap(); // element → when it was first found loading
  // Taken from the prototype: the built page's named elements shadow document members.
  const getAnimations = Document.prototype.getAnimations
    ? Function.prototype.call.bind(Document.prototype.getAnimations) : null;

  /** Images and stylesheets of the built page that are still loading (recently enough). */
  function pending() {
    const doc = viewer.iframe.contentDocument;
    if (!doc) return 0;
    const now = performance.now();
    let count = 0;
    const loading = (el, busy) => {
      if (!busy) return;
      if (!seen.has(el)) seen.set(el, now);
      if (now - seen.get(el) < PATIENCE_MS) count += 1;
    };
    for (const img of dom.images(doc)) loading(img, !img.complete);
    for (const link of dom.querySelectorAll(doc, 'link[rel~="stylesheet" i]')) {
      loading(link, !link.sheet);
    }
    return count;
  }

  /** Animations of the built page that are running now. */
  function animating() {
    const doc = viewer.iframe.contentDocument;
    if (!doc || !getAnimations) return 0;
    try {
      return getAnimations(doc).filter((a) => a.playState === 'running').length;
    } catch (e) {
      return 0;
    }
  }

  function busy() {
    return pending() + animating();
  }

  function apply(batch) {
    for (const message of batch) viewer.handle(message);
    return busy();
  }

  /** Resolves with the pending count once nothing loads, or after `ms` at most. */
  async function settle(ms) {
    const end = performance.now() + ms;
    const doc = viewer.iframe.contentDocument;
    const fonts = doc ? dom.fonts(doc) : null;
    if (fonts) {
      await Promise.race([fonts.ready, new Promise((r) => setTimeout(r, ms))]);
    }
    while (pending() > 0 && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => requestAnimationFrame(() => r()));
    return busy();
  }

  window.cwmnRender = { viewer, ready: viewer.ready.then(() => true), apply, settle, busy };
})();
