// What the scripts of static/ share through the page, for `tsc -p static/jsconfig.json`
// (make lint). CwmnAPI's own types are dist/cwmn.d.ts (cwmn_web/client/typescript.py).

/** The stub's API tables, filled in by build.py (cwmn_web.client.spec.stub_tables). */
declare const __CWMN_TABLES__: {
  /** Event names. */
  ev: string[];
  /** Function path → [is a getter (1/0), bit mask of the states it is valid in (bit i:
   *  st[i]), and for a getter the view field it reads]. */
  fn: Record<string, [number, number, string?]>;
  /** State names. */
  st: string[];
  /** Browser features CWMN needs. */
  feat: string[];
};
/** Filled in by build.py: cwmn_web.protocol.constants.RESUME_KEY. */
declare const __CWMN_RESUME_KEY__: string;

interface Window {
  /** The viewer's mirror builder (static/viewer/mirror.js). */
  CwmnMirror: any;
  /** The viewer's stage (static/viewer/stage.js), with `connect` (static/viewer/join.js). */
  CwmnViewer: any;
  /** The join page's viewer, for tests. */
  cwmnViewer: unknown;
  /** The replay renderer's page API (static/render.js). */
  cwmnRender: unknown;
}
