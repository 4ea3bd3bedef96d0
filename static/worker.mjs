// cwmn_web worker: starts Python (Pyodide) with the cwmn_web package, then hands the page's
// messages to Python. Loading here keeps wasm compilation off the page's main thread, so the
// host page never freezes while CWMN starts. The host's stub imports this file with no query
// (entry cwmn_web.browser.worker); the guest's viewer loads it as worker.mjs?entry=viewer.
//
// Python starts from a memory snapshot that build.py made in Node with every module of
// cwmn_web already imported (docs/DESIGN.md, "Instant start"): about 1 s instead of 5. If the
// snapshot cannot be used (another Pyodide, a corrupt or missing file), the worker says so on
// the console and boots the normal way: loadPyodide, then the cwmn_web wheel.

const ENTRIES = { host: 'cwmn_web.browser.worker', viewer: 'cwmn_web.browser.viewer_worker' };
/** Written by build.py: the snapshot's size and its parts (file under pyodide/, offset, size,
    integrity: `sha256-BASE64`). */
const SNAPSHOT = __CWMN_SNAPSHOT__;
const wanted = new URL(import.meta.url).searchParams.get('entry') ?? 'host';
const entry = Object.hasOwn(ENTRIES, wanted) ? ENTRIES[wanted] : ENTRIES.host;

const base = new URL('./pyodide/', import.meta.url).href;
const options = { indexURL: base, lockFileURL: base + 'pyodide-lock.json' };
const now = () => performance.timeOrigin + performance.now();
/** A snapshot not in by then is given up (a stalled part must not hang the worker). */
const SNAPSHOT_TIMEOUT = 30_000;
const marks = { workerStart: now() };
// Nothing waits for pyodide.mjs (18 kB) before the big downloads start: it is imported now,
// and used once the snapshot's parts and pyodide.asm.mjs are on their way.
const pyodideModule = import('./pyodide/pyodide.mjs');
pyodideModule.catch(() => {}); // reported where it is awaited

/** One part of the snapshot. The browser checks its bytes against the sha256 build.py
    listed (Subresource Integrity, in any context) and fails the fetch if they differ. */
async function fetchPart(url, part, signal) {
  let response;
  try {
    response = await fetch(url, { integrity: part.integrity, signal });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new Error(`${url} could not be fetched, or is not the file build.py listed (${error})`);
  }
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length !== part.bytes) {
    throw new Error(`${url} has ${bytes.length} bytes, expected ${part.bytes}`);
  }
  return bytes;
}

/** Fill `snapshot` with its parts, fetched at once and checked; what no part covers is
    zeros (the array starts so). The first failure, or SNAPSHOT_TIMEOUT, cancels the rest. */
async function fetchSnapshot(folder, snapshot) {
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`the snapshot took more than ${SNAPSHOT_TIMEOUT / 1000} s`)),
    SNAPSHOT_TIMEOUT,
  );
  try {
    await Promise.all(
      SNAPSHOT.parts.map(async (part) => {
        const bytes = await fetchPart(new URL(part.file, folder).href, part, abort.signal);
        snapshot.set(bytes, part.offset);
      }),
    );
  } catch (error) {
    abort.abort(error);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  marks.snapshotFetched = now();
}

/** Python from the snapshot, with the entry module already imported. */
async function restore() {
  // Pyodide needs only the snapshot's length to size the memory: hand it the array at once
  // and fill it meanwhile; the module is given back (and the bytes restored) once every part
  // is in. loadPyodide starts fetching the wasm and the standard library as soon as it is
  // called, so it is called before its 1.25 MB of JavaScript is in: the module waits for
  // that import itself, and the downloads overlap its compile (docs/BENCHMARKS.md).
  const snapshot = new Uint8Array(SNAPSHOT.bytes);
  const filled = fetchSnapshot(base, snapshot);
  // Rejects when the snapshot fails, and never resolves: raced below, so that a part that
  // fails gives the restore up at once rather than after the wasm has compiled for nothing.
  const failed = filled.then(() => new Promise(() => {}));
  failed.catch(() => {}); // reported through createPyodideModule below
  const asm = import('./pyodide/pyodide.asm.mjs');
  asm.catch(() => {}); // likewise
  const createPyodideModule = async (settings) => {
    const { default: create } = await Promise.race([asm, failed]);
    marks.asmImported = now();
    const module = await Promise.race([create(settings), failed]);
    marks.wasmReady = now();
    await filled;
    return module;
  };
  const { loadPyodide } = await Promise.race([pyodideModule, failed]);
  const pyodide = await loadPyodide({ ...options, _loadSnapshot: snapshot, createPyodideModule });
  delete pyodide._api.config._loadSnapshot; // Pyodide keeps its options: free the 31 MB copy
  marks.memoryRestored = now();
  // The snapshot froze `random`'s state: every visitor would draw the same numbers.
  pyodide.runPython(
    `import sys\nif 'random' in sys.modules: sys.modules['random'].seed()\nimport ${entry}`,
  );
  return pyodide;
}

/** Python the normal way: the interpreter, then the cwmn_web wheel (integrity checked). */
async function boot() {
  const { loadPyodide } = await pyodideModule;
  const pyodide = await loadPyodide(options);
  marks.pyodide = now();
  const failed = [];
  await pyodide.loadPackage(['cwmn-web'], {
    checkIntegrity: true,
    messageCallback: () => {},
    errorCallback: (message) => failed.push(message),
  });
  // loadPackage reports failures through errorCallback only: check what really loaded.
  if (!pyodide.loadedPackages['cwmn-web']) {
    throw new Error('the cwmn_web package did not load: ' + (failed.join('; ') || 'unknown error'));
  }
  return pyodide;
}

try {
  let pyodide = null;
  if (SNAPSHOT) {
    try {
      pyodide = await restore();
      marks.snapshotRestored = now();
    } catch (error) {
      console.warn(
        'CWMN: could not restore the Python snapshot (' + ((error && error.message) || error) +
          '); starting Python the normal way, which takes a few seconds longer',
      );
      marks.snapshotFailed = now();
    }
  }
  if (!pyodide) {
    pyodide = await boot();
  }
  marks.package = now();
  self.postMessage(JSON.stringify({ op: 'marks', marks }));
  pyodide.pyimport(entry).start(self);
} catch (error) {
  self.postMessage(JSON.stringify({ op: 'fatal', message: String((error && error.message) || error) }));
}
