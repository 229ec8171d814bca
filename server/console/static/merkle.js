// RFC 6962 / RFC 9162 Merkle tree hashing and proof verification with WebCrypto SHA-256
// (RFC 9162 §2.1.1 hashes, §2.1.3.2 inclusion, §2.1.4.2 consistency). Python reference:
// tree/hashing.py and tree/verify.py. Every verify* function returns nothing or throws a
// VerificationError saying what did not hold ("got X, want Y").

export class VerificationError extends Error {
  constructor(message) { super(message); this.name = "VerificationError"; }
}

export class MalformedError extends Error {
  constructor(message) { super(message); this.name = "MalformedError"; }
}

export const HASH_SIZE = 32;
const MAX_PROOF_HASHES = 64;

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new MalformedError(`got ${JSON.stringify(text.slice(0, 20))}, want lowercase hex`);
  return Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
}

// Standard padded base64 that re-encodes to itself (canonical, as the C2SP formats want).
export function fromBase64(text) {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new MalformedError(`got ${JSON.stringify(text.slice(0, 20))}, want standard padded base64`);
  }
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (toBase64(bytes) !== text) throw new MalformedError("base64 is not canonical");
  return bytes;
}

export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function leafHash(entry) { return sha256(concat(Uint8Array.of(0), entry)); }

export function nodeHash(left, right) { return sha256(concat(Uint8Array.of(1), left, right)); }

function checkProof(proof) {
  if (proof.length > MAX_PROOF_HASHES) throw new VerificationError(`proof: got ${proof.length} hashes, want at most ${MAX_PROOF_HASHES}`);
  for (const h of proof) {
    if (h.length !== HASH_SIZE) throw new VerificationError(`proof hash: got ${h.length} bytes, want ${HASH_SIZE}`);
  }
}

function checkRoot(what, got, want) {
  if (!equal(got, want)) throw new VerificationError(`${what}: got ${toHex(got)}, want ${toHex(want)}`);
}

// RFC 9162 §2.1.3.2: the root that `proof` gives for `leaf` at `index` in a tree of `size`.
export async function rootFromInclusion(index, size, leaf, proof) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new VerificationError(`index ${index} is not in a tree of size ${size}, want index < size`);
  checkProof(proof);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerificationError(`proof: got ${proof.length} hashes, too many for index ${index} in size ${size}`);
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError(`proof: got ${proof.length} hashes, too few for index ${index} in size ${size}`);
  return r;
}

export async function verifyInclusion(index, size, leaf, proof, root) {
  checkRoot("root computed from the inclusion proof", await rootFromInclusion(index, size, leaf, proof), root);
}

// RFC 9162 §2.1.4.2: that the tree of `size2` with `root2` extends the tree of `size1`.
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  let s1 = BigInt(size1);
  const s2 = BigInt(size2);
  if (s1 > s2) throw new VerificationError(`size1 ${size1} > size2 ${size2}, want size1 <= size2`);
  checkProof(proof);
  if (s1 === s2 || s1 === 0n) {
    if (proof.length) throw new VerificationError(`proof: got ${proof.length} hashes, want none for sizes ${size1} and ${size2}`);
    if (s1 === 0n) checkRoot("root1", root1, await sha256(new Uint8Array()));
    else checkRoot("root2", root2, root1);
    return;
  }
  if (!proof.length) throw new VerificationError(`proof: got no hashes, want some for sizes ${size1} and ${size2}`);
  let path = proof;
  if ((s1 & (s1 - 1n)) === 0n) path = [root1, ...proof];  // size1 is a power of two
  let fn = s1 - 1n;
  let sn = s2 - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerificationError(`proof: got ${proof.length} hashes, too many for sizes ${size1} and ${size2}`);
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError(`proof: got ${proof.length} hashes, too few for sizes ${size1} and ${size2}`);
  checkRoot("root1 computed from the consistency proof", fr, root1);
  checkRoot("root2 computed from the consistency proof", sr, root2);
}
