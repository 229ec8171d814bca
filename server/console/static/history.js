// Checkpoint history: every checkpoint the log signed, each signature verified here, and a
// consistency proof (RFC 9162 §2.1.4) between any two, verified here. Older checkpoints may
// predate their cosignatures, so only the log's signature is required of them.

import { api, h, pins, show, verdict } from "./common.js";
import { fromBase64, verifyConsistency } from "./merkle.js";
import { verifyCheckpoint } from "./note.js";

const PAGE = 20;

async function consistency(origin, size1, size2, keys) {
  const reasons = [];
  let ok = false;
  try {
    const answer = await api("consistency", { log: origin, size1, size2 });
    const first = await verifyCheckpoint(answer.checkpoint1, keys, 0);
    const second = await verifyCheckpoint(answer.checkpoint2, keys, 0);
    for (const [what, head, size] of [["first", first, size1], ["second", second, size2]]) {
      if (head.checkpoint.size !== BigInt(size)) throw new Error(`${what} checkpoint: got size ${head.checkpoint.size}, want ${size}`);
      if (head.checkpoint.origin !== origin) throw new Error(`${what} checkpoint: got origin ${head.checkpoint.origin}, want ${origin}`);
    }
    await verifyConsistency(size1, size2, answer.proof.map(fromBase64), first.checkpoint.root, second.checkpoint.root);
    ok = true;
  } catch (error) {
    reasons.push(error.message);
  }
  return verdict("consistency-verdict", ok, `the checkpoint of size ${size2} extends the one of size ${size1}`, reasons);
}

export async function showHistory(params) {
  const origin = params.get("log") || "";
  const begin = params.get("begin") || "0";
  const [answer, keys] = await Promise.all([api("checkpoints", { log: origin, begin, limit: PAGE }), pins()]);
  const result = h("div", { id: "consistency-result" });
  const rows = await Promise.all(answer.checkpoints.map(async ({ size, checkpoint }) => {
    let state;
    try {
      const head = await verifyCheckpoint(checkpoint, keys, 0);
      state = h("td", { class: "verified", "data-state": "verified" }, `\u2714 signed by ${head.logKey}${head.witnesses.length ? `, cosigned by ${head.witnesses.map((w) => w.name).join(", ")}` : ""}`);
    } catch (error) {
      state = h("td", { class: "failed", "data-state": "failed" }, `\u2718 ${error.message}`);
    }
    return h("tr", { "data-size": size },
      h("td", {}, h("input", { type: "radio", name: "a", value: size, "aria-label": `from ${size}` })),
      h("td", {}, h("input", { type: "radio", name: "b", value: size, "aria-label": `to ${size}` })),
      h("td", {}, size), state);
  }));
  const form = h("form", { id: "history-form", onsubmit: async (e) => {
    e.preventDefault();
    const a = e.target.a.value;
    const b = e.target.b.value;
    if (a === "" || b === "") { result.replaceChildren(h("p", { class: "error" }, "Choose a checkpoint in each column.")); return; }
    const [size1, size2] = [Number(a), Number(b)].sort((x, y) => x - y);
    result.replaceChildren(await consistency(origin, size1, size2, keys));
  } },
  h("table", { class: "history" }, h("tr", {}, h("th", {}, "From"), h("th", {}, "To"), h("th", {}, "Size"), h("th", {}, "Signature")), rows),
  h("button", { type: "submit", id: "check-consistency" }, "Check consistency"));
  const q = encodeURIComponent(origin);
  const last = answer.checkpoints.at(-1);
  const more = answer.more && last ? h("a", { href: `#/history?log=${q}&begin=${last.size + 1}`, id: "history-next" }, "Later checkpoints \u2192") : null;
  show(h("h1", {}, `Checkpoint history of ${origin}`), form, result, more);
}
