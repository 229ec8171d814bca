// The entry page (the decoded record, its index and leaf hash, its inclusion proof verified
// here, a receipt to download) and the receipt page (a c2sp.org/tlog-proof@v1 file verified
// here, offline: nothing is fetched from the server).

import { api, h, pins, show, store, verdict } from "./common.js";
import { decodeEntry } from "./decode.js";
import { fromBase64, leafHash, toHex, verifyInclusion } from "./merkle.js";
import { formatReceipt, verifyCheckpoint, verifyReceipt } from "./note.js";

function record(entry) {
  const decoded = decodeEntry(entry);
  const fields = Object.entries(decoded.fields).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return h("section", { class: "record" },
    h("h2", {}, "Record: ", h("span", { id: "record-kind" }, decoded.kind)),
    fields.length ? h("table", { class: "facts" }, fields.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, String(v))))) : null,
    h("pre", { id: "record-body" }, decoded.body));
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function showEntry(params) {
  const origin = params.get("log") || "";
  const index = params.get("index") || "";
  const answer = await api("entry", { log: origin, index });
  const entry = fromBase64(answer.entry);
  const proof = answer.proof.map(fromBase64);
  const leaf = await leafHash(entry);
  const reasons = [];
  let title = `entry ${answer.index} is in the checkpoint of size ${answer.size}`;
  let ok = false;
  try {
    if (toHex(leaf) !== answer.leaf_hash) {
      reasons.push(`the server's leaf hash: got ${answer.leaf_hash}, want ${toHex(leaf)} (computed here from the entry)`);
    }
    const head = await verifyCheckpoint(answer.checkpoint, await pins(), store.quorum());
    if (head.checkpoint.origin !== origin) reasons.push(`checkpoint origin: got ${head.checkpoint.origin}, want ${origin}`);
    if (String(answer.index) !== index) reasons.push(`the server answered entry ${answer.index}, want ${index}`);
    await verifyInclusion(answer.index, head.checkpoint.size, leaf, proof, head.checkpoint.root);
    const by = head.witnesses.map((w) => w.name).join(", ") || "no pinned witness";
    title += `, signed by ${head.logKey}, cosigned by ${by}`;
    ok = reasons.length === 0;
  } catch (error) {
    reasons.push(error.message);
  }
  const receipt = formatReceipt(answer.index, proof, answer.checkpoint, entry);
  show(
    h("h1", {}, `Entry ${answer.index} of ${origin}`),
    verdict("verdict", ok, title, reasons),
    h("table", { class: "facts" },
      h("tr", {}, h("th", {}, "Index"), h("td", { id: "entry-index" }, answer.index)),
      h("tr", {}, h("th", {}, "Leaf hash (computed here)"), h("td", { id: "leaf-hash", class: "mono" }, toHex(leaf))),
      h("tr", {}, h("th", {}, "Entry bytes"), h("td", {}, entry.length))),
    h("p", {}, h("button", { id: "download-receipt", onclick: () => download(`${origin.replace(/[^A-Za-z0-9.-]/g, "_")}-${answer.index}.tlog-proof`, receipt) }, "Download receipt (.tlog-proof)")),
    record(entry),
    h("details", {}, h("summary", {}, "Checkpoint and proof"), h("pre", { class: "mono" }, answer.checkpoint),
      h("pre", { class: "mono" }, answer.proof.join("\n"))));
}

export async function showReceipt() {
  const result = h("div", { id: "receipt-result" });
  const entryInput = h("input", { type: "file", id: "receipt-entry" });
  async function check(file) {
    const reasons = [];
    let ok = false;
    let title = file.name;
    let decoded = null;
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(await file.arrayBuffer());
      const entry = entryInput.files[0] ? new Uint8Array(await entryInput.files[0].arrayBuffer()) : null;
      const done = await verifyReceipt(text, await pins(), store.quorum(), entry);
      const by = done.witnesses.map((w) => w.name).join(", ") || "no pinned witness";
      title = `${file.name}: entry ${done.index} is in ${done.checkpoint.origin} at size ${done.checkpoint.size}, signed by ${done.logKey}, cosigned by ${by}`;
      decoded = record(done.entry);
      ok = true;
    } catch (error) {
      reasons.push(error.message);
    }
    result.replaceChildren(verdict("verdict", ok, title, reasons), decoded || "");
  }
  const input = h("input", { type: "file", id: "receipt-file", accept: ".tlog-proof,text/plain", onchange: (e) => e.target.files[0] && check(e.target.files[0]) });
  const zone = h("div", { id: "drop-zone", class: "drop",
    ondragover: (e) => { e.preventDefault(); zone.classList.add("over"); },
    ondragleave: () => zone.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); zone.classList.remove("over"); if (e.dataTransfer.files[0]) check(e.dataTransfer.files[0]); } },
  "Drop a .tlog-proof receipt here, or choose it: ", input);
  show(h("h1", {}, "Verify a receipt"),
    h("p", {}, "The receipt is checked in this browser against your pinned keys; the server is not asked."),
    zone,
    h("p", {}, h("label", {}, "For a detached receipt (no entry inside), the entry's file: ", entryInput)),
    result);
}
