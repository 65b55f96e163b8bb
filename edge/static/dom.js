// Tiny DOM helpers and toasts. Text is only ever set with textContent.

export const $ = (sel) => document.querySelector(sel);

export function el(tag, opts, children) {
  const node = document.createElement(tag);
  if (opts) {
    if (opts.cls) node.className = opts.cls;
    if (opts.text != null) node.textContent = String(opts.text);
    if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, String(v));
  }
  if (children) for (const c of children) if (c) node.appendChild(c);
  return node;
}
// --- toasts (non-intrusive errors and notices) ---------------------------------------

export function toast(text, opts) {
  const box = $("#toasts");
  const kind = (opts && opts.kind) || "error";
  const item = el("div", { cls: "toast " + kind, text: text });
  const close = el("button", { cls: "toast-close", text: "×", attrs: { type: "button", "aria-label": "Close" } });
  close.addEventListener("click", () => item.remove());
  item.appendChild(close);
  box.appendChild(item);
  while (box.children.length > 3) box.firstChild.remove();
  if (!(opts && opts.sticky)) setTimeout(() => item.remove(), (opts && opts.ms) || 6000);
}
