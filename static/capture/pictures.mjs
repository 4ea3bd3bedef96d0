// cwmn_web capture, pictures (docs/fidelity/pictures.md): a canvas's pixels, a video's
// current frame and its play state, for guests whose viewer runs no script (a canvas there
// shows its fallback content, a video never plays). Pictures are PNG data: URLs sent as
// `cwmn:canvas`, at most one per element every POLL_MS, only for elements in or near the
// viewport, and within a byte budget per capture (BUDGET_CHARS a second: a playing video
// would send ~1 MB every second); the PNG is encoded off the main thread (createImageBitmap
// → a small worker's OffscreenCanvas), which also skips unchanged pixels, so the page pays
// well under a millisecond per picture. Without a worker (a CSP refusing blob: workers, an
// old browser) only small canvases are encoded, on the main thread.
import { PSEUDO } from '../dist/constants.mjs';
import { dom } from './dom.mjs';

export const POLL_MS = 1000;
/** Pixels of one picture at most: a larger canvas is scaled down to this many. */
export const MAX_PIXELS = 2e6;
/** Characters of one picture's data: URL at most: a larger one is encoded again, smaller
    (a frame past the server's 4 MiB cap would end the session, docs/MIRROR.md). */
export const MAX_CHARS = 1e6;
/** The byte budget (a token bucket): characters of pictures a second, averaged... */
export const BUDGET_CHARS = 250e3;
/** ...and at most this many at once (so one picture of MAX_CHARS can always go). */
export const BURST_CHARS = MAX_CHARS;
/** Elements this close to the viewport (a share of its size) are polled; others wait. */
const NEAR = '50%';
/** Pictures this small are encoded at once, on the main thread (snapshots, fallback). */
const SYNC_PIXELS = 65536;

// The encoder: draws each bitmap, hashes its pixels (an unchanged picture is not encoded
// again), and answers a data: URL, or `same`, or `failed` (a tainted bitmap).
const ENCODER = `'use strict';
const last = new Map();
const reader = new FileReaderSync();
onmessage = async (e) => {
  const { id, bitmap, drop, maxChars } = e.data;
  if (drop) { last.delete(id); return; }
  try {
    let w = bitmap.width, h = bitmap.height;
    let canvas = new OffscreenCanvas(w, h), ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    const px = new Uint32Array(ctx.getImageData(0, 0, w, h).data.buffer);
    let hash = 0x811c9dc5 ^ w ^ (h << 16);
    for (let i = 0; i < px.length; i++) hash = Math.imul(hash ^ px[i], 16777619);
    if (last.get(id) === hash) { bitmap.close(); postMessage({ id, same: true }); return; }
    last.set(id, hash);
    let png = reader.readAsDataURL(await canvas.convertToBlob({ type: 'image/png' }));
    for (let tries = 0; png.length > maxChars && tries < 4; tries++) {
      const scale = Math.sqrt(maxChars / png.length) * 0.9; // PNG size goes with the pixels
      w = Math.max(1, Math.floor(w * scale)); h = Math.max(1, Math.floor(h * scale));
      canvas = new OffscreenCanvas(w, h); ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0, w, h);
      png = reader.readAsDataURL(await canvas.convertToBlob({ type: 'image/png' }));
    }
    bitmap.close();
    postMessage(png.length > maxChars ? { id, failed: true } : { id, png });
  } catch (err) {
    postMessage({ id, failed: true });
  }
};`;

/** A canvas, or a video whose frame the page shows (played or seeked, data there). */
export function pictureSize(el) {
  if (dom.tagName(el) === 'VIDEO') {
    const shown = el.readyState >= 2 && (el.played.length > 0 || el.currentTime > 0);
    return shown ? [el.videoWidth, el.videoHeight] : null;
  }
  return [el.width, el.height];
}

/** The size to encode `w`×`h` at: at most MAX_PIXELS, the aspect ratio kept. */
export function capped(w, h) {
  if (w * h <= MAX_PIXELS) return [w, h];
  const scale = Math.sqrt(MAX_PIXELS / (w * h));
  return [Math.max(1, Math.floor(w * scale)), Math.max(1, Math.floor(h * scale))];
}

/** A picture of at most `limit` pixels at once (main thread), or null (too large, tainted,
    not shown). */
export function pictureNow(el, limit = SYNC_PIXELS) {
  const size = pictureSize(el);
  if (!size || !size[0] || !size[1] || size[0] * size[1] > limit) return null;
  try {
    if (dom.tagName(el) === 'CANVAS') return el.toDataURL('image/png');
    const canvas = dom.createElement(document, 'canvas');
    [canvas.width, canvas.height] = size;
    canvas.getContext('2d').drawImage(el, 0, 0);
    return canvas.toDataURL('image/png');
  } catch (e) {
    return null; // tainted by cross-origin pixels
  }
}

/** A video's play state, `cwmn:media`: "playing,T" or "paused,T" (T: seconds, 3 decimals). */
export function mediaState(el) {
  const playing = !el.paused && !el.ended && el.readyState > 2;
  const time = Number.isFinite(el.currentTime) ? Math.min(el.currentTime, 1e7) : 0;
  return (playing ? 'playing,' : 'paused,') + String(Math.round(time * 1000) / 1000);
}

/** The pictures of one capture: `send(el, name, value)` receives each change. */
export class Pictures {
  constructor(send) {
    this.send = send;
    /** The canvases and videos seen (snapshots, added subtrees), with their last values. */
    this.known = new Map(); // element → {id, png (the last sent), media, busy, chars}
    this.worker = null;
    this.noWorker = false;
    this.nextId = 1;
    this.byId = new Map(); // encoder request id → element
    this.outbox = new Map(); // element → its picture waiting for the budget
    /** The budget's bucket: characters that may go now (negative after a large snapshot). */
    this.tokens = BURST_CHARS;
    this.refilled = performance.now();
    this.timer = 0;
    this.stopped = false;
    /** Elements in or near the viewport (all of them without IntersectionObserver). */
    this.near = new Set();
    this.viewport = typeof IntersectionObserver === 'function'
      ? new IntersectionObserver((entries) => this.moved(entries), { rootMargin: NEAR })
      : null;
  }

  /** An element serialized: remember it and its values already sent. */
  seen(el, png, media) {
    let entry = this.known.get(el);
    if (!entry) {
      entry = { id: this.nextId++, png: null, media: null, busy: false, chars: 0 };
      this.known.set(el, entry);
      if (this.viewport) this.viewport.observe(el); // read once it is near the viewport
    } else if (!png) {
      // Serialized again without its picture (re-added: a reorder, re-parenting): the
      // guest's node has none, so the next one goes even if its pixels did not change.
      this.unsent(el);
    }
    if (png) {
      entry.png = png;
      entry.chars = png.length;
      this.spend(png.length); // sent with the snapshot or the flush
    }
    if (media) entry.media = media;
    if (!png) setTimeout(() => this.update(el), 0); // too large to read at once: encoded now
  }

  /** `el`'s guest node has no picture (or not the last one): send the next one whatever
      the pixels (the encoder forgets their hash). */
  unsent(el) {
    const entry = this.known.get(el);
    if (!entry) return;
    entry.png = null;
    if (this.worker) this.worker.postMessage({ id: entry.id, drop: true });
  }

  /** The viewport's observer: an element coming near it is read at once. */
  moved(entries) {
    for (const { target, isIntersecting } of entries) {
      if (!isIntersecting) this.near.delete(target);
      else if (!this.near.has(target)) {
        this.near.add(target);
        this.update(target);
      }
    }
  }

  /** Look at every known element once (the poll, and a video's play/pause/seeked). */
  poll() {
    for (const el of this.known.keys()) {
      if (!dom.isConnected(el)) this.forget(el);
      else this.update(el);
    }
  }

  update(el) {
    const entry = this.known.get(el);
    if (!entry) return;
    if (dom.tagName(el) === 'VIDEO') {
      const media = mediaState(el);
      if (media !== entry.media) {
        entry.media = media;
        this.send(el, PSEUDO.MEDIA, media);
      }
    }
    if (entry.busy || this.stopped || this.outbox.has(el)) return;
    if (this.viewport && !this.near.has(el)) return; // read when it comes near the viewport
    // Past the budget: not even read (its last picture's size as the guess); a change is
    // not lost, the next poll with budget left reads the element's latest state.
    if (this.refill() < entry.chars) return;
    const size = pictureSize(el);
    if (!size || !size[0] || !size[1]) return;
    const encoder = this.encoder();
    if (!encoder) {
      const png = pictureNow(el, MAX_PIXELS);
      if (png && png !== entry.png && png.length <= MAX_CHARS) this.queue(el, png);
      return;
    }
    const [w, h] = capped(size[0], size[1]);
    /** @type {ImageBitmapOptions} */
    const options = w === size[0] && h === size[1] ? {}
      : { resizeWidth: w, resizeHeight: h, resizeQuality: 'medium' };
    entry.busy = true;
    this.byId.set(entry.id, el);
    createImageBitmap(el, options).then((bitmap) => {
      encoder.postMessage({ id: entry.id, bitmap, maxChars: MAX_CHARS }, [bitmap]);
    }, () => { entry.busy = false; });
  }

  forget(el) {
    const entry = this.known.get(el);
    this.known.delete(el);
    this.near.delete(el);
    this.outbox.delete(el);
    if (this.viewport) this.viewport.unobserve(el);
    if (entry && this.worker) {
      this.byId.delete(entry.id);
      this.worker.postMessage({ id: entry.id, drop: true });
    }
  }

  encoder() {
    if (this.worker || this.noWorker || this.stopped) return this.worker;
    try {
      const url = URL.createObjectURL(new Blob([ENCODER], { type: 'text/javascript' }));
      this.worker = new Worker(url);
      URL.revokeObjectURL(url);
      this.worker.onmessage = (e) => this.encoded(e.data);
      this.worker.onerror = () => { this.terminate(); this.noWorker = true; };
    } catch (e) {
      this.noWorker = true; // a CSP without worker-src blob:
    }
    return this.worker;
  }

  encoded({ id, png }) {
    const el = this.byId.get(id);
    const entry = el && this.known.get(el);
    if (!entry) return;
    entry.busy = false;
    if (!png) return;
    if (!dom.isConnected(el)) this.unsent(el); // not sent: the encoder must not skip it
    else if (png !== entry.png) this.queue(el, png);
  }

  /** The bucket's characters now (BUDGET_CHARS a second, at most BURST_CHARS). */
  refill() {
    const now = performance.now();
    this.tokens = Math.min(BURST_CHARS, this.tokens + (now - this.refilled) * BUDGET_CHARS / 1000);
    this.refilled = now;
    return this.tokens;
  }
  spend(chars) {
    this.refill();
    this.tokens -= chars;
  }

  /** Send `png` as soon as the budget holds it (smaller pictures are not held behind it). */
  queue(el, png) {
    const entry = this.known.get(el);
    if (entry) entry.chars = png.length;
    this.outbox.set(el, png);
    clearTimeout(this.timer);
    this.drain();
  }
  drain() {
    this.timer = 0;
    let short = Infinity; // the fewest characters still missing for a waiting picture
    for (const [el, png] of this.outbox) {
      if (!this.known.has(el) || !dom.isConnected(el)) {
        this.outbox.delete(el); // gone: costs nothing (if it comes back, it is read again)
        this.unsent(el);
        continue;
      }
      const tokens = this.refill();
      if (png.length > tokens) {
        short = Math.min(short, png.length - tokens);
        continue;
      }
      this.outbox.delete(el);
      this.tokens -= png.length;
      const entry = this.known.get(el);
      if (entry) entry.png = png; // only now: a picture dropped unsent is not taken as sent
      this.send(el, PSEUDO.CANVAS, png);
    }
    if (short < Infinity && !this.stopped) {
      this.timer = setTimeout(() => this.drain(), Math.ceil(short * 1000 / BUDGET_CHARS));
    }
  }

  terminate() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    for (const entry of this.known.values()) entry.busy = false;
  }
  stop() {
    this.stopped = true;
    this.terminate();
    if (this.viewport) this.viewport.disconnect();
    clearTimeout(this.timer);
    this.outbox.clear();
  }
}
