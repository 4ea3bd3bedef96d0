// cwmn_web capture, pictures (docs/fidelity/h18canvas.md): a canvas's pixels, a video's
// current frame and its play state, for guests whose viewer runs no script (a canvas there
// shows its fallback content, a video never plays). Pictures are PNG data: URLs sent as
// `cwmn:canvas`, at most one per element every POLL_MS; the PNG is encoded off the main
// thread (createImageBitmap → a small worker's OffscreenCanvas), which also skips unchanged
// pixels, so the page pays well under a millisecond per picture. Without a worker (a CSP
// refusing blob: workers, an old browser) only small canvases are encoded, on the main thread.
import { PSEUDO } from '../dist/constants.mjs';
import { dom } from './dom.mjs';

export const POLL_MS = 1000;
/** Pixels of one picture at most: a larger canvas is scaled down to this many. */
export const MAX_PIXELS = 2e6;
/** Characters of one picture's data: URL at most: a larger one is encoded again, smaller
    (a frame past the server's 4 MiB cap would end the session, docs/MIRROR.md). */
export const MAX_CHARS = 1e6;
/** Characters of pictures going out together (one mutations flush) at most; more wait. */
const FLUSH_CHARS = 1.5e6;
/** A flush goes out within 50 ms (capture/mutations.mjs): later pictures wait this long. */
const PACE_MS = 100;
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
    this.known = new Map(); // element → {id, png, media, busy}
    this.worker = null;
    this.noWorker = false;
    this.nextId = 1;
    this.byId = new Map(); // encoder request id → element
    this.outbox = new Map(); // element → its picture waiting to go out (FLUSH_CHARS)
    this.sentChars = 0;
    this.lastSend = -Infinity;
    this.timer = 0;
    this.stopped = false;
  }

  /** An element serialized: remember it and its values already sent. */
  seen(el, png, media) {
    const entry = this.known.get(el) || { id: this.nextId++, png: null, media: null, busy: false };
    if (png) entry.png = png;
    if (media) entry.media = media;
    this.known.set(el, entry);
    if (!png) setTimeout(() => this.update(el), 0); // too large to read at once: encoded now
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
    if (entry.busy || this.stopped) return;
    const size = pictureSize(el);
    if (!size || !size[0] || !size[1]) return;
    const encoder = this.encoder();
    if (!encoder) {
      const png = pictureNow(el, MAX_PIXELS);
      if (png && png !== entry.png && png.length <= MAX_CHARS) { entry.png = png; this.queue(el, png); }
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
    if (png && png !== entry.png && dom.isConnected(el)) {
      entry.png = png;
      this.queue(el, png);
    }
  }

  /** Send `png` now, or once the pictures sent just before it went out in their own flush. */
  queue(el, png) {
    this.outbox.set(el, png);
    if (!this.timer) this.drain();
  }
  drain() {
    this.timer = 0;
    for (const [el, png] of this.outbox) {
      const now = performance.now();
      if (now - this.lastSend >= PACE_MS) this.sentChars = 0;
      if (this.sentChars && this.sentChars + png.length > FLUSH_CHARS) {
        this.timer = setTimeout(() => this.drain(), this.lastSend + PACE_MS - now);
        return;
      }
      this.outbox.delete(el);
      this.sentChars += png.length;
      this.lastSend = now;
      if (this.known.has(el) && dom.isConnected(el)) this.send(el, PSEUDO.CANVAS, png);
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
    clearTimeout(this.timer);
    this.outbox.clear();
  }
}
