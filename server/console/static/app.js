// The console's router, overview and keys pages. Pages are addressed by the URL fragment:
// #/ (overview), #/keys, #/search?log=..., #/entry?log=...&index=..., #/history?log=...,
// #/receipt. Everything shown as verified was verified here (note.js, merkle.js).

import { ago, api, errorBox, h, link, pins, show, store, verdict } from "./common.js";
import { showEntry, showReceipt } from "./entry.js";
import { showHistory } from "./history.js";
import { fromBase64, verifyConsistency } from "./merkle.js";
import { parseCheckpoint, parseNote, verifyCheckpoint } from "./note.js";
import { showSearch } from "./search.js";

const PAGES = { "": showOverview, keys: showKeys, search: showSearch, entry: showEntry,
  history: showHistory, receipt: showReceipt };

async function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const page = PAGES[path] || showOverview;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.getAttribute("href") === `#/${path}`);
  show(h("p", { class: "loading" }, "Loading\u2026"));
  try {
    await page(new URLSearchParams(query || ""));
  } catch (error) {
    show(errorBox(error));
  }
  document.body.dataset.ready = location.hash || "#/";
}

// The checkpoint this browser last verified for a log must be extended by the new one.
async function checkSeen(origin, head, keys) {
  const previous = store.seen(origin);
  if (previous === null) { store.setSeen(origin, head.note); return "first checkpoint this browser sees for this log"; }
  const old = parseCheckpoint(parseNote(previous).text);
  const now = head.checkpoint;
  if (old.size > now.size) throw new Error(`the log rolled back: this browser saw size ${old.size}, the server shows ${now.size}`);
  const answer = await api("consistency", { log: origin, size1: old.size, size2: now.size });
  await verifyCheckpoint(answer.checkpoint2, keys, 0);
  await verifyConsistency(old.size, now.size, answer.proof.map(fromBase64), old.root, now.root);
  store.setSeen(origin, head.note);
  return `consistent with the checkpoint this browser verified before (size ${old.size})`;
}

async function overviewOf(log, keys, quorum) {
  const rows = [
    ["Entries", log.size ?? "unavailable"],
    ["Latest checkpoint", log.checkpoint_size ?? "none"],
    ["Checkpoint age", ago(log.checkpoint_age_s)],
    ["Hash", log.hash],
  ];
  if (log.witnesses.length) rows.push(["Witness quorum (server)", `${log.quorum} of ${log.witnesses.length}; latest size cosigned by a quorum: ${log.quorum_size}`]);
  if (log.publication) rows.push(["Publication lag", `${log.publication.lag_entries} entries, ${ago(log.publication.lag_s)} (published size ${log.publication.published_size})`]);
  let head = null;
  let check;
  if (!log.checkpoint) {
    check = verdict(`checkpoint-${log.origin}`, false, "no checkpoint to verify", []);
  } else {
    try {
      head = await verifyCheckpoint(log.checkpoint, keys, quorum);
      if (head.checkpoint.origin !== log.origin) throw new Error(`checkpoint origin: got ${head.checkpoint.origin}, want ${log.origin}`);
      head.note = log.checkpoint;
      const seen = await checkSeen(log.origin, head, keys);
      const by = head.witnesses.map((w) => w.name).join(", ") || "no pinned witness";
      check = verdict(`checkpoint-${log.origin}`, true, `checkpoint of size ${head.checkpoint.size} signed by ${head.logKey}, cosigned by ${by}; ${seen}`);
    } catch (error) {
      check = verdict(`checkpoint-${log.origin}`, false, "the latest checkpoint", [error.message]);
    }
  }
  const cosigned = new Set((head?.witnesses || []).map((w) => w.name));
  const witnesses = log.witnesses.length ? h("table", { class: "witnesses" },
    h("tr", {}, h("th", {}, "Witness"), h("th", {}, "Last cosigned size (server)"), h("th", {}, "Cosignature on the latest checkpoint")),
    log.witnesses.map((w) => h("tr", {}, h("td", {}, w.name), h("td", {}, w.cosigned_size),
      h("td", {}, cosigned.has(w.name) ? "\u2714 verified here" : "not verified (missing, or key not pinned)")))) : h("p", {}, "No witnesses configured.");
  const alerts = log.alerts.length
    ? h("ul", { class: "alerts" }, log.alerts.map((a) => h("li", { class: `alert ${a.kind}` }, h("strong", {}, a.kind), ` ${a.message}`,
      a.evidence.length ? h("pre", {}, a.evidence.join("\n\n")) : null)))
    : h("p", { class: "ok" }, "No alerts.");
  const q = encodeURIComponent(log.origin);
  const open = h("form", { class: "open-entry", onsubmit: (e) => { e.preventDefault(); location.hash = `#/entry?log=${q}&index=${e.target.index.value}`; } },
    h("label", {}, "Open entry ", h("input", { name: "index", type: "number", min: 0, required: true, placeholder: "index" })), h("button", {}, "Open"));
  return h("section", { class: "log", "data-origin": log.origin },
    h("h2", {}, log.origin),
    check,
    h("table", { class: "facts" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, String(v))))),
    h("h3", {}, "Witnesses"), witnesses,
    h("h3", {}, "Alerts"), alerts,
    h("p", { class: "actions" }, link(`#/search?log=${q}`, "Search"), " \u00b7 ", link(`#/history?log=${q}`, "Checkpoint history")),
    open,
    h("details", {}, h("summary", {}, "Verifier keys as this server states them (compare them out of band before pinning)"),
      h("pre", {}, log.verifier_keys.join("\n"), ...log.witnesses.map((w) => `\n${w.vkey}`))));
}

async function showOverview() {
  const [{ logs }, keys] = await Promise.all([api("logs"), pins()]);
  const quorum = store.quorum();
  const notice = keys.length ? null : h("p", { class: "error" }, "No keys pinned: nothing can be verified. Paste the log's verifier key under ", link("#/keys", "Keys"), ".");
  show(h("h1", {}, "Logs"), notice, ...(await Promise.all(logs.map((log) => overviewOf(log, keys, quorum)))));
}

async function showKeys() {
  const status = h("p", { id: "keys-status" });
  const form = h("form", { id: "keys-form", onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target;
    store.setToken(f.token.value.trim());
    const previous = store.pinsText();
    store.setPins(f.pins.value);
    try {
      const parsed = await pins();
      store.setQuorum(Math.max(0, Number(f.quorum.value) || 0));
      status.textContent = `Saved: ${parsed.length} pinned keys (${parsed.map((k) => `${k.name} (type ${k.type})`).join(", ") || "none"}).`;
      status.className = "ok";
    } catch (error) {
      store.setPins(previous);
      status.textContent = `Not saved: ${error.message}`;
      status.className = "error";
    }
  } },
  h("label", {}, "Pinned verifier keys, one per line: the log's key (type 1) and its witnesses' cosignature keys (type 4). Only these are trusted; they stay in this browser.",
    h("textarea", { name: "pins", rows: 6, spellcheck: "false" }, store.pinsText())),
  h("label", {}, "Witness quorum: cosignatures by pinned witnesses a checkpoint needs",
    h("input", { name: "quorum", type: "number", min: 0, max: 32, value: store.quorum() })),
  h("label", {}, "Bearer token (for logs that are not public; kept for this tab only)",
    h("input", { name: "token", type: "password", autocomplete: "off", value: store.token() })),
  h("button", { type: "submit" }, "Save"));
  show(h("h1", {}, "Keys"), form, status);
}

window.addEventListener("hashchange", route);
route();
