// Signed notes, checkpoints, cosignatures and receipts, verified with WebCrypto Ed25519:
// c2sp.org/signed-note (type 0x01), c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature
// (cosignature/v1, type 0x04) and c2sp.org/tlog-proof@v1. Python reference: tree/note.py,
// tree/checkpoint.py, tree/cosignature.py, tree/tlogproof.py.

import {
  HASH_SIZE, MalformedError, VerificationError, concat, equal, fromBase64, leafHash,
  sha256, toBase64, toHex, verifyInclusion,
} from "./merkle.js";

export const TYPE_ED25519 = 1;
export const TYPE_COSIGNATURE = 4;
const SIG_PREFIX = "\u2014 ";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(bytes) {
  try { return decoder.decode(bytes); } catch { throw new MalformedError("got bytes that are not UTF-8, want UTF-8 text"); }
}

// "<name>+<hex key ID>+<base64(type || public key)>": the key ID must be
// SHA-256(name || "\n" || type || public key)[:4].
export async function parseVkey(vkey) {
  const [name, idHex, ...rest] = vkey.trim().split("+");
  const keyB64 = rest.join("+");  // base64 has '+' in its alphabet
  if (!rest.length) throw new MalformedError("verifier key: want <name>+<hex key ID>+<base64 key>");
  if (!name || /[\s+]/u.test(name)) throw new MalformedError("verifier key: want a non-empty name without spaces or '+'");
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new MalformedError(`verifier key: got key ID ${JSON.stringify(idHex)}, want 8 lowercase hex digits`);
  const raw = fromBase64(keyB64);
  const type = raw[0];
  if (type !== TYPE_ED25519 && type !== TYPE_COSIGNATURE) {
    throw new MalformedError(`verifier key ${name}: got type ${type}, want 1 (Ed25519) or 4 (cosignature/v1)`);
  }
  const publicKey = raw.subarray(1);
  if (publicKey.length !== 32) throw new MalformedError(`verifier key ${name}: got a ${publicKey.length}-byte key, want 32`);
  const keyId = (await sha256(concat(encoder.encode(`${name}\n`), raw))).subarray(0, 4);
  if (toHex(keyId) !== idHex) throw new MalformedError(`verifier key ${name}: got key ID ${idHex}, want ${toHex(keyId)}`);
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return { name, type, keyId, key, vkey: vkey.trim() };
}

export function parseNote(note) {
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0 || !note.endsWith("\n")) throw new MalformedError("note: want text, a blank line, then signature lines");
  const text = note.slice(0, cut + 1);
  const signatures = note.slice(cut + 2, -1).split("\n").map((line) => {
    if (!line.startsWith(SIG_PREFIX)) throw new MalformedError(`note signature line: got ${JSON.stringify(line.slice(0, 30))}, want '\u2014 <name> <base64>'`);
    const [name, b64, ...rest] = line.slice(SIG_PREFIX.length).split(" ");
    if (!name || !b64 || rest.length) throw new MalformedError(`note signature line: got ${JSON.stringify(line.slice(0, 30))}, want '\u2014 <name> <base64>'`);
    const raw = fromBase64(b64);
    if (raw.length < 5) throw new MalformedError(`signature of ${name}: got ${raw.length} bytes, want a key ID and a signature`);
    return { name, keyId: raw.subarray(0, 4), signature: raw.subarray(4) };
  });
  return { text, signatures };
}

export function parseCheckpoint(text) {
  const lines = text.split("\n").slice(0, -1);
  if (lines.length < 3) throw new MalformedError(`checkpoint: got ${lines.length} lines, want origin, size and root`);
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText)) throw new MalformedError(`checkpoint size: got ${JSON.stringify(sizeText)}, want a decimal integer`);
  const root = fromBase64(rootText);
  if (root.length !== HASH_SIZE) throw new MalformedError(`checkpoint root: got ${root.length} bytes, want ${HASH_SIZE}`);
  return { origin, size: BigInt(sizeText), root };
}

async function ed25519(key, signature, message) {
  return signature.length === 64 && crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

// Check every signature line of a pinned key on a signed checkpoint: the log's (type 0x01) and
// the witnesses' cosignatures (type 0x04). One failing line rejects the note; lines of keys that
// are not pinned are ignored (signed-note). Returns {checkpoint, text, logKey, witnesses}.
export async function checkSignatures(note, pins) {
  const { text, signatures } = parseNote(note);
  const checkpoint = parseCheckpoint(text);
  const message = encoder.encode(text);
  let logKey = null;
  const witnesses = [];
  for (const sig of signatures) {
    const pin = pins.find((p) => p.name === sig.name && equal(p.keyId, sig.keyId));
    if (!pin) continue;
    if (pin.type === TYPE_ED25519) {
      if (!(await ed25519(pin.key, sig.signature, message))) throw new VerificationError(`the signature of ${pin.name} does not verify`);
      logKey = logKey || pin.name;
    } else {
      if (sig.signature.length !== 72) throw new VerificationError(`the cosignature of ${pin.name}: got ${sig.signature.length} bytes, want 72`);
      const time = new DataView(sig.signature.buffer, sig.signature.byteOffset).getBigUint64(0);
      if (time >= 1n << 63n) throw new VerificationError(`the cosignature of ${pin.name}: got timestamp ${time}, want at most 2^63-1`);
      const signed = concat(encoder.encode(`cosignature/v1\ntime ${time}\n`), message);
      if (!(await ed25519(pin.key, sig.signature.subarray(8), signed))) throw new VerificationError(`the cosignature of ${pin.name} does not verify`);
      if (!witnesses.some((w) => w.name === pin.name)) witnesses.push({ name: pin.name, time });
    }
  }
  return { checkpoint, text, logKey, witnesses, signers: signatures.map((s) => s.name) };
}

// A checkpoint verified against pinned keys: signed by a pinned log key and cosigned by at
// least `quorum` pinned witnesses, or it throws saying what is missing.
export async function verifyCheckpoint(note, pins, quorum) {
  const head = await checkSignatures(note, pins);
  if (!head.logKey) {
    throw new VerificationError(`no signature by a pinned log key: signed by ${head.signers.join(", ") || "nobody"}, want one of the keys pinned under Keys`);
  }
  if (head.witnesses.length < quorum) {
    throw new VerificationError(`cosigned by ${head.witnesses.length} pinned witnesses, want at least ${quorum}`);
  }
  return head;
}

// c2sp.org/tlog-proof@v1: header, optional extra, index, proof lines, blank line, checkpoint.
export function parseReceipt(data) {
  const cut = data.indexOf("\n\n");
  if (cut < 0) throw new MalformedError("receipt: want header lines, a blank line, then the checkpoint");
  const lines = data.slice(0, cut).split("\n");
  if (lines[0] !== "c2sp.org/tlog-proof@v1") throw new MalformedError(`receipt: got first line ${JSON.stringify(lines[0].slice(0, 32))}, want "c2sp.org/tlog-proof@v1"`);
  let at = 1;
  let extra = null;
  if (lines[at]?.startsWith("extra ")) extra = fromBase64(lines[at++].slice(6));
  const m = /^index (0|[1-9][0-9]{0,19})$/.exec(lines[at] || "");
  if (!m) throw new MalformedError(`receipt: got line ${JSON.stringify((lines[at] || "").slice(0, 32))}, want 'index <n>'`);
  const proof = lines.slice(at + 1).map(fromBase64);
  return { index: BigInt(m[1]), proof, extra, checkpoint: data.slice(cut + 2) };
}

export function formatReceipt(index, proof, checkpoint, entry) {
  const lines = ["c2sp.org/tlog-proof@v1", ...(entry ? [`extra ${toBase64(entry)}`] : []), `index ${index}`, ...proof.map(toBase64)];
  return lines.map((l) => `${l}\n`).join("") + "\n" + checkpoint;
}

// A receipt on its own (the entry in its extra line, or given): signatures, then inclusion.
export async function verifyReceipt(data, pins, quorum, entry = null) {
  const receipt = parseReceipt(data);
  const bytes = entry || receipt.extra;
  if (!bytes) throw new MalformedError("the receipt holds no entry (detached): choose the entry's file too");
  const head = await verifyCheckpoint(receipt.checkpoint, pins, quorum);
  const leaf = await leafHash(bytes);
  await verifyInclusion(receipt.index, head.checkpoint.size, leaf, receipt.proof, head.checkpoint.root);
  return { ...head, index: receipt.index, entry: bytes, leaf };
}
