// Search over GET /api/v1/search (docs/console.md): the same filters and time ranges as the
// Search API. Every result carries an inclusion proof to the one checkpoint of the answer; the
// checkpoint's signatures and each result's proof are verified here, each row says which held.

import { api, errorBox, h, pins, show, store, verdict } from "./common.js";
import { decodeEntry } from "./decode.js";
import { fromBase64, leafHash, toHex, verifyInclusion } from "./merkle.js";
import { verifyCheckpoint } from "./note.js";

const FILTERS = ["actor", "action", "resource", "outcome", "source", "principal", "request_id"];
const TIMES = ["since", "until"];
const COLUMNS = ["actor", "action", "resource", "outcome", "time"];
const MATCHED = ["actor", "action", "resource", "outcome"];

// A filter is an exact value or a prefix ending in one "*" (docs/search.md, "Queries").
function matches(value, want) {
  return want.endsWith("*") ? value.startsWith(want.slice(0, -1)) : value === want;
}

async function checkResult(result, head) {
  const entry = fromBase64(result.entry);
  const leaf = await leafHash(entry);
  if (toHex(leaf) !== result.leaf_hash) throw new Error(`leaf hash: got ${result.leaf_hash}, want ${toHex(leaf)}`);
  await verifyInclusion(result.index, head.checkpoint.size, leaf, result.proof.map(fromBase64), head.checkpoint.root);
  return entry;
}

function form(params, origins) {
  const field = (name, attrs = {}) => h("label", {}, name, h("input", { name, value: params.get(name) || "", ...attrs }));
  const log = params.get("log") || origins[0] || "";
  return h("form", { id: "search-form", class: "search", onsubmit: (e) => {
    e.preventDefault();
    const query = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) if (v !== "") query.set(k, v);
    location.hash = `#/search?${query}`;
  } },
  h("label", {}, "log", h("select", { name: "log" }, origins.map((o) => h("option", { value: o, selected: o === log }, o)))),
  FILTERS.map((name) => field(name)),
  TIMES.map((name) => field(name, { placeholder: "2026-01-31T00:00:00Z", pattern: "\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2})" })),
  h("label", {}, "order", h("select", { name: "order" }, ["newest", "oldest"].map((o) => h("option", { value: o, selected: params.get("order") === o }, o)))),
  field("limit", { type: "number", min: 1, max: 100, placeholder: "20" }),
  h("button", { type: "submit" }, "Search"));
}

export async function showSearch(params) {
  const { logs } = await api("logs");
  const origins = logs.map((l) => l.origin);
  const header = [h("h1", {}, "Search"), form(params, origins)];
  if (!params.get("log")) { show(...header); return; }
  const query = Object.fromEntries(["log", ...FILTERS, ...TIMES, "order", "limit", "cursor"].map((k) => [k, params.get(k) || ""]));
  let answer;
  try {
    answer = await api("search", query);
  } catch (error) {
    show(...header, errorBox(error));
    return;
  }
  let head = null;
  let check;
  try {
    head = await verifyCheckpoint(answer.checkpoint, await pins(), store.quorum());
    if (head.checkpoint.origin !== query.log) throw new Error(`checkpoint origin: got ${head.checkpoint.origin}, want ${query.log}`);
    check = verdict("search-verdict", true, `${answer.results.length} results, proofs to the checkpoint of size ${head.checkpoint.size} signed by ${head.logKey}`);
  } catch (error) {
    check = verdict("search-verdict", false, "the checkpoint every result is proved against", [error.message]);
  }
  const rows = await Promise.all(answer.results.map(async (result) => {
    let state;
    let fields = result.fields || {};
    try {
      if (!head) throw new Error("checkpoint not verified");
      const entry = await checkResult(result, head);
      // What the row shows comes from the verified entry when the browser can decode it, and
      // it must match the filters asked for (a proof alone does not say it is a right answer).
      const decoded = decodeEntry(entry).fields;
      if (Object.keys(decoded).length) fields = { ...fields, ...decoded };
      for (const name of MATCHED) {
        const want = params.get(name);
        if (want && name in decoded && !matches(String(decoded[name] ?? ""), want)) throw new Error(`${name} is ${decoded[name]}, want ${want} (the filter)`);
      }
      state = h("td", { class: "verified", "data-state": "verified" }, "\u2714 in the log");
    } catch (error) {
      state = h("td", { class: "failed", "data-state": "failed", title: error.message }, `\u2718 ${error.message}`);
    }
    const href = `#/entry?log=${encodeURIComponent(answer.log)}&index=${result.index}`;
    return h("tr", { "data-index": result.index },
      h("td", {}, h("a", { href }, result.index)),
      COLUMNS.map((c) => h("td", {}, fields[c] ?? "")), state);
  }));
  const table = h("table", { id: "results", class: "results" },
    h("tr", {}, h("th", {}, "index"), COLUMNS.map((c) => h("th", {}, c)), h("th", {}, "proof")), rows);
  const paging = [];
  if (params.get("cursor")) {
    const first = new URLSearchParams(params);
    first.delete("cursor");
    paging.push(h("a", { href: `#/search?${first}`, id: "first-page" }, "\u2190 First page"), " ");
  }
  if (answer.next_cursor) {
    const next = new URLSearchParams(params);
    next.set("cursor", answer.next_cursor);
    paging.push(h("a", { href: `#/search?${next}`, id: "next-page" }, "Next page \u2192"));
  }
  show(...header, check, answer.results.length ? table : h("p", {}, "No results."), h("p", { class: "paging" }, paging));
}
