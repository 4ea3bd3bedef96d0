// cwmn_web capture, node ids (rrweb's "mirror"): every node the capture sent has a number,
// the same for the page's life; the viewer keys its copy of the page by it.
const ids = new WeakMap();
let nextId = 1;

/** The node's id, given now if it has none. */
export function idOf(node) {
  let id = ids.get(node);
  if (!id) { id = nextId++; ids.set(node, id); }
  return id;
}

/** The node's id if it was ever sent, else undefined. */
export function knownId(node) {
  return ids.get(node);
}

/** Whether the node was ever sent. */
export function isKnown(node) {
  return ids.has(node);
}
