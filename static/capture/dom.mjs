// cwmn_web capture, the DOM members it reads on the page's nodes (and the SDK's other page
// modules use on its document), taken from the prototypes and called with the node first: a page's named elements shadow members of its document
// (<img name=documentElement>), of its forms (<input name=childNodes>) and of its window, so
// capture never reads those members on the page's own objects (docs/MIRROR.md).
const uncurry = (fn) => Function.prototype.call.bind(fn);
const getter = (proto, name) => {
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  return desc && desc.get ? uncurry(desc.get) : null;
};
const [D, N, E, T] = [Document.prototype, Node.prototype, Element.prototype,
  EventTarget.prototype];

export const dom = Object.freeze({
  nodeType: getter(N, 'nodeType'),
  nodeName: getter(N, 'nodeName'),
  parentNode: getter(N, 'parentNode'),
  childNodes: getter(N, 'childNodes'),
  isConnected: getter(N, 'isConnected'),
  baseURI: getter(N, 'baseURI'),
  textContent: getter(N, 'textContent'),
  tagName: getter(E, 'tagName'),
  namespaceURI: getter(E, 'namespaceURI'),
  attributes: getter(E, 'attributes'),
  shadowRoot: getter(E, 'shadowRoot'),
  scrollTop: getter(E, 'scrollTop'),
  scrollLeft: getter(E, 'scrollLeft'),
  getAttribute: uncurry(E.getAttribute),
  getAnimations: E.getAnimations ? uncurry(E.getAnimations) : () => [],
  documentAnimations: D.getAnimations ? uncurry(D.getAnimations) : () => [],
  hasAttribute: uncurry(E.hasAttribute),
  closest: uncurry(E.closest),
  matches: uncurry(E.matches),
  getBoundingClientRect: uncurry(E.getBoundingClientRect),
  documentElement: getter(D, 'documentElement'),
  body: getter(D, 'body'),
  activeElement: getter(D, 'activeElement'),
  title: getter(D, 'title'),
  adoptedStyleSheets: getter(D, 'adoptedStyleSheets') || (() => []),
  rootAdoptedStyleSheets: (typeof ShadowRoot === 'function' &&
    getter(ShadowRoot.prototype, 'adoptedStyleSheets')) || (() => []),
  host: typeof ShadowRoot === 'function' ? getter(ShadowRoot.prototype, 'host') : () => null,
  querySelectorAll: uncurry(D.querySelectorAll),
  createElement: uncurry(D.createElement),
  createElementNS: uncurry(D.createElementNS),
  addEventListener: uncurry(T.addEventListener),
  removeEventListener: uncurry(T.removeEventListener),
});
