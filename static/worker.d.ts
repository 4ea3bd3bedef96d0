// What worker.mjs uses besides the WebWorker library, for `tsc -p static/jsconfig.worker.json`.

/** Filled in by build.py: the Python snapshot's size and its parts. */
declare const __CWMN_SNAPSHOT__: {
  bytes: number;
  parts: { file: string; offset: number; bytes: number; integrity: string }[];
};

/** Pyodide, served beside the worker (build.py copies it into dist/assets/pyodide/). */
declare module '*/pyodide/pyodide.mjs' {
  export function loadPyodide(options: Record<string, unknown>): Promise<any>;
}
declare module '*/pyodide/pyodide.asm.mjs' {
  const createPyodideModule: (settings: unknown) => Promise<unknown>;
  export default createPyodideModule;
}
