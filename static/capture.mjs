// cwmn_web host capture: reads the page's DOM on the main thread and hands *raw records*
// (docs/MIRROR.md) to Python in the worker. It never reads private content: masked text and
// masked form values are sent as their length only. Snapshots are time-sliced so the page
// never blocks for long; changes are flushed once per frame. Its parts, along rrweb's lines:
// capture/ids.mjs (node ids), capture/privacy.mjs (masking), capture/serialize.mjs (nodes →
// records), capture/mutations.mjs (the mutation buffer), capture/observers.mjs (events and
// patched setters). build.py serves them as this one file.
import { MutationBuffer } from './capture/mutations.mjs';
import { Observers, patchPage } from './capture/observers.mjs';
import { Pictures } from './capture/pictures.mjs';
import { Privacy } from './capture/privacy.mjs';
import { dom } from './capture/dom.mjs';
import { isKnown, knownId } from './capture/ids.mjs';
import { Serializer, animationsByTarget, stats as cost } from './capture/serialize.mjs';

/** What the last snapshot and flush cost on the main thread (for benchmarks). */
export const stats = cost;

let session = null;

/** One capture: a serializer, a mutation buffer, the observers that feed it. */
class Capture {
  constructor(config, send, shadowRoots) {
    this.send = send;
    const privacy = new Privacy(config);
    const hooks = {
      observe: (target) => this.observe(target),
      watchFrame: (iframe) => this.observers.watchFrame(iframe),
      picture: (el, png, media) => this.pictures.seen(el, png, media),
      budget: () => this.pictures.refill(),
    };
    this.serializer = new Serializer(privacy, shadowRoots, hooks);
    this.buffer = new MutationBuffer(this.serializer, privacy, send);
    this.pictures = new Pictures((el, name, value) => {
      if (isKnown(el)) this.buffer.pushAttrs([[knownId(el), name, value]]);
    });
    this.observers = new Observers(this.buffer, this.serializer, privacy, this.pictures);
    this.observer = new MutationObserver((records) => this.buffer.push(records));
  }

  observe(target) {
    this.observers.watchRoot(target);
    this.observer.observe(target, {
      childList: true, attributes: true, characterData: true, subtree: true,
    });
  }
  async snapshot() {
    const buffer = this.buffer;
    buffer.snapshotting = true;
    buffer.clearRecords();
    const nodes = [];
    const t0 = performance.now();
    stats.snapshotBusyMs = 0;
    this.serializer.animations = animationsByTarget();
    await this.serializer.serialize(dom.documentElement(document), 0, nodes, true);
    this.serializer.animations = null;
    if (buffer.stopped) return;
    const adopted = [];
    for (const sheet of dom.adoptedStyleSheets(document) || []) {
      try { adopted.push(Array.from(sheet.cssRules, (r) => r.cssText).join('\n')); } catch (e) { /* */ }
    }
    stats.snapshotMs = performance.now() - t0;
    this.send('snapshot', {
      nodes, url: location.href, base: dom.baseURI(document), title: dom.title(document),
      viewport: [innerWidth, innerHeight], scroll: [scrollX, scrollY], adopted,
      ms: performance.now() - t0,
    });
    buffer.snapshotting = false;
    buffer.queueFlush();
  }
  start() {
    this.observe(document);
    this.observers.start();
    return this.snapshot();
  }
  stop() {
    this.buffer.stopped = this.serializer.stopped = true;
    this.observer.disconnect();
    this.observers.stop();
  }
}

/** Start capturing; ``send(kind, data)`` receives raw frames. Returns when the snapshot is sent. */
export function start(config, send, shadowRoots) {
  stop();
  patchPage(() => (session ? session.observers : null));
  session = new Capture(config, send, shadowRoots);
  return session.start();
}

/** Stop capturing: nothing is read or sent any more. */
export function stop() {
  if (session) session.stop();
  session = null;
}
