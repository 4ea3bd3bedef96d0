// cwmn_web worker: loads Pyodide and the cwmn_web package, then hands the page's messages
// to Python. Loading here keeps wasm compilation off the page's main thread, so the host
// page never freezes while CWMN starts. The host's stub imports this file with no query
// (entry cwmn_web.browser.worker); the guest's viewer loads it as worker.mjs?entry=viewer.
import { loadPyodide } from './pyodide/pyodide.mjs';

const ENTRIES = { host: 'cwmn_web.browser.worker', viewer: 'cwmn_web.browser.viewer_worker' };
const wanted = new URL(import.meta.url).searchParams.get('entry');
const entry = Object.hasOwn(ENTRIES, wanted) ? ENTRIES[wanted] : ENTRIES.host;

const base = new URL('./pyodide/', import.meta.url).href;
const marks = { workerStart: performance.timeOrigin + performance.now() };
try {
  const pyodide = await loadPyodide({ indexURL: base, lockFileURL: base + 'pyodide-lock.json' });
  marks.pyodide = performance.timeOrigin + performance.now();
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
  marks.package = performance.timeOrigin + performance.now();
  self.postMessage(JSON.stringify({ op: 'marks', marks }));
  pyodide.pyimport(entry).start(self);
} catch (error) {
  self.postMessage(JSON.stringify({ op: 'fatal', message: String((error && error.message) || error) }));
}
