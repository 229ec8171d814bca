// What every page of the console shares: building DOM nodes (never from HTML strings: entries
// are untrusted), the pinned keys and token kept in the browser, the API client, and verdicts.

import { parseVkey } from "./note.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function show(...nodes) {
  document.getElementById("main").replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

// Pinned keys live in localStorage (they outlive the tab: they are what the auditor trusts);
// the token in sessionStorage (it goes with the tab).
const PINS = "auditlog.console.pins";
const QUORUM = "auditlog.console.quorum";
const TOKEN = "auditlog.console.token";
const SEEN = "auditlog.console.seen.";

export const store = {
  pinsText: () => localStorage.getItem(PINS) || "",
  setPins: (text) => localStorage.setItem(PINS, text),
  quorum: () => Number(localStorage.getItem(QUORUM) || "0"),
  setQuorum: (n) => localStorage.setItem(QUORUM, String(n)),
  token: () => sessionStorage.getItem(TOKEN) || "",
  setToken: (t) => (t ? sessionStorage.setItem(TOKEN, t) : sessionStorage.removeItem(TOKEN)),
  seen: (origin) => localStorage.getItem(SEEN + origin),
  setSeen: (origin, note) => localStorage.setItem(SEEN + origin, note),
};

export async function pins() {
  const lines = store.pinsText().split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  return Promise.all(lines.map(parseVkey));
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const headers = store.token() ? { Authorization: `Bearer ${store.token()}` } : {};
  const response = await fetch(`/api/v1/${path}${query.size ? `?${query}` : ""}`, { headers, cache: "no-store" });
  let body;
  try { body = await response.json(); } catch { body = { error: `${response.status} ${response.statusText}` }; }
  if (!response.ok) throw new ApiError(response.status, body.error || `HTTP ${response.status}`);
  return body;
}

// A verdict: "verified" only when this browser checked it; "failed" says why.
export function verdict(id, ok, title, reasons = []) {
  return h("div", { id, class: `verdict ${ok ? "verified" : "failed"}`, "data-state": ok ? "verified" : "failed" },
    h("strong", {}, ok ? "\u2714 Verified in this browser" : "\u2718 Verification failed"),
    h("div", {}, title),
    reasons.length ? h("ul", {}, reasons.map((r) => h("li", {}, r))) : null);
}

export function errorBox(error) {
  const hint = error.status === 401 || error.status === 403 ? " Enter a token under Keys." : "";
  return h("div", { class: "error", role: "alert" }, `${error.message}${hint}`);
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "unknown";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

export function link(hash, text, attrs = {}) {
  return h("a", { href: hash, ...attrs }, text);
}
