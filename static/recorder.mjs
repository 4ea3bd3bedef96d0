// cwmn_web replay narration on the host's page (docs/REPLAY.md). The worker (Python) sends
// {op: 'record', action: 'start' | 'stop' | 'mute', muted}; this module records the microphone
// with MediaRecorder (Opus) and posts each chunk to the worker as it comes (one a second):
// {op: 'audio', chunk: {segment, t0, index, mime, b64}}, plus {op: 'audio', status:
// 'recording' | 'unavailable' | 'stopped', reason}. Getting no microphone (refused, none, an
// insecure page) is not an error: the replay records without narration and says so, in the
// status and in the badge. While recording, a small badge tells the visitor that this page is
// being recorded (closed shadow root, never captured, no pointer events).
import { dom } from './capture/dom.mjs';
import { OVERLAY_ATTR as ATTR } from './dist/constants.mjs';

const TIMESLICE_MS = 1000;
const BITS_PER_SECOND = 32000;
const MIMES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/ogg'];
const HOST_CSS = [
  'all:initial', 'display:block', 'position:fixed', 'left:12px', 'bottom:12px', 'margin:0',
  'padding:0', 'border:0', 'pointer-events:none', 'z-index:2147483647', 'visibility:visible',
  'opacity:1',
].map((d) => d + '!important').join(';');
const SHEET = `
.b { display: flex; align-items: center; gap: 6px; padding: 4px 10px 4px 8px;
  border-radius: 999px; background: rgba(24, 24, 27, .88); color: #fff;
  font: 600 12px/16px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  box-shadow: 0 1px 3px rgba(0, 0, 0, .35); }
.d { width: 9px; height: 9px; border-radius: 50%; background: #ef4444; }
@media print { .b { display: none; } }
`;

let rec = null; // {segment, stream, recorder, muted, stopping, index, t0, mime, chain}
let badge = null;

/** The stub's entry point. */
export function handle(message, attachShadow, api, post) {
  if (!message || message.op !== 'record') return;
  if (message.action === 'start') start(!!message.muted, post, attachShadow);
  else if (message.action === 'stop') stop(post);
  else if (message.action === 'mute') mute(!!message.muted);
}

/** What is going on, for tests and debugging. */
export function debugState() {
  return {
    recording: !!(rec && rec.recorder && rec.recorder.state === 'recording'),
    muted: !!(rec && rec.muted),
    mime: rec && rec.mime,
    chunks: rec ? rec.index : 0,
    badge: badge ? badge.text.textContent : null,
  };
}

function segmentId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function start(muted, post, attachShadow) {
  if (rec) return;
  const r = { segment: segmentId(), muted, stopping: false, index: 0, chain: Promise.resolve(),
    stream: null, recorder: null, t0: 0, mime: '' };
  rec = r;
  showBadge(attachShadow, 'Recording replay\u2026');
  try {
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      throw new Error('this browser cannot record audio here (MediaRecorder or a secure page is missing)');
    }
    r.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
    });
  } catch (e) {
    if (rec === r) rec = null;
    const reason = (e && e.name ? e.name + ': ' : '') + ((e && e.message) || String(e));
    post({ op: 'audio', status: 'unavailable', reason });
    if (!r.stopping) showBadge(attachShadow, 'Recording replay \u00b7 no microphone');
    else hideBadge();
    if (r.stopping) post({ op: 'audio', status: 'stopped', segment: r.segment });
    return;
  }
  if (r.stopping) { // stopped while the browser asked for permission
    r.stream.getTracks().forEach((t) => t.stop());
    post({ op: 'audio', status: 'stopped', segment: r.segment });
    return;
  }
  r.mime = MIMES.find((m) => MediaRecorder.isTypeSupported(m)) || '';
  if (!r.mime) { // e.g. a browser that records only AAC in MP4: not a format the server takes
    r.stream.getTracks().forEach((t) => t.stop());
    if (rec === r) rec = null;
    post({ op: 'audio', status: 'unavailable',
      reason: 'NotSupportedError: this browser cannot record Opus audio' });
    showBadge(attachShadow, 'Recording replay \u00b7 no microphone');
    return;
  }
  const recorder = new MediaRecorder(r.stream,
    { mimeType: r.mime, audioBitsPerSecond: BITS_PER_SECOND });
  r.recorder = recorder;
  r.stream.getAudioTracks().forEach((t) => { t.enabled = !r.muted; });
  recorder.ondataavailable = (event) => {
    if (!event.data || !event.data.size) return;
    const index = r.index++;
    const blob = event.data;
    // In order: each chunk waits for the one before it to be read and posted.
    r.chain = r.chain.then(() => base64(blob)).then((b64) => {
      post({ op: 'audio', chunk: { segment: r.segment, t0: r.t0, index, mime: r.mime, b64 } });
    }).catch((e) => console.error('CWMN: an audio chunk was lost', e));
  };
  recorder.onstop = () => {
    r.stream.getTracks().forEach((t) => t.stop());
    r.chain.then(() => post({ op: 'audio', status: 'stopped', segment: r.segment }));
    if (rec === r) rec = null;
    hideBadge();
  };
  recorder.onerror = (event) => console.error('CWMN: the recorder failed', event.error || event);
  // When the recording really starts, on the host's clock like the mirror frames' `t`.
  recorder.onstart = () => { r.t0 = Date.now(); };
  r.t0 = Date.now();
  recorder.start(TIMESLICE_MS);
  r.mime = recorder.mimeType ? normalMime(recorder.mimeType, r.mime) : r.mime;
  post({ op: 'audio', status: 'recording', segment: r.segment });
  showBadge(attachShadow, label(r));
}

/** The allow-listed type the recorder really uses ("audio/webm; codecs=opus" → ours). */
function normalMime(actual, asked) {
  const flat = actual.replace(/\s+/g, '').toLowerCase();
  return MIMES.find((m) => m === flat) || asked;
}

function stop(post) {
  const r = rec;
  if (!r) { post({ op: 'audio', status: 'stopped', segment: '' }); hideBadge(); return; }
  r.stopping = true;
  if (r.recorder && r.recorder.state !== 'inactive') r.recorder.stop(); // its last chunk, then onstop
  else if (!r.stream) { /* still asking: start() posts 'stopped' */ }
}

function mute(muted) {
  const r = rec;
  if (!r) return;
  r.muted = muted;
  if (r.stream) r.stream.getAudioTracks().forEach((t) => { t.enabled = !muted; });
  if (badge) badge.text.textContent = label(r);
}

function label(r) {
  return r.muted ? 'Recording replay \u00b7 microphone muted' : 'Recording replay';
}

function base64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(',') + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function showBadge(attachShadow, text) {
  if (!badge) {
    const host = dom.createElement(document, 'cwmn-recording');
    host.setAttribute(ATTR, '');
    host.setAttribute('role', 'status');
    host.style.cssText = HOST_CSS; // CSSOM, not a style attribute: allowed by a strict page CSP
    const attach = attachShadow || Element.prototype.attachShadow;
    const root = attach ? attach.call(host, { mode: 'closed' }) : host;
    if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(SHEET);
      root.adoptedStyleSheets = [sheet];
    }
    const box = dom.createElement(document, 'div');
    box.className = 'b';
    const dot = dom.createElement(document, 'span');
    dot.className = 'd';
    const label = dom.createElement(document, 'span');
    box.append(dot, label);
    root.append(box);
    badge = { host, text: label };
  }
  badge.text.textContent = text;
  if (badge.host.parentNode !== dom.documentElement(document)) dom.documentElement(document).append(badge.host);
}

function hideBadge() {
  if (badge) badge.host.remove();
}
