// Run in the console's page by tests/console/test_offline.py: the console's own modules against
// tests/vectors (merkle, notes, cosignatures); returns what disagreed and how much was checked.
// Not shipped: it is read by the test and handed to page.evaluate.
async (v) => {
  const m = await import("/console/merkle.js");
  const n = await import("/console/note.js");
  const bad = []; let checked = 0;
  const hx = m.fromHex;
  const leaves = v.merkle.leaves_hex.map(hx);
  for (const c of v.merkle.inclusion) {
    checked++;
    const leaf = await m.leafHash(leaves[c.index]);
    try { await m.verifyInclusion(c.index, c.size, leaf, c.path.map(hx), hx(v.merkle.roots[c.size])); }
    catch (e) { bad.push(`inclusion ${c.index}/${c.size}: ${e.message}`); }
    if (c.path.length) {
      const broken = c.path.map(hx); broken[0] = broken[0].map((b, i) => (i ? b : b ^ 1));
      try { await m.verifyInclusion(c.index, c.size, leaf, broken, hx(v.merkle.roots[c.size])); bad.push(`corrupt inclusion ${c.index}/${c.size} verified`); } catch {}
    }
  }
  for (const c of v.merkle.consistency) {
    checked++;
    const r1 = hx(v.merkle.roots[c.size1]), r2 = hx(v.merkle.roots[c.size2]);
    try { await m.verifyConsistency(c.size1, c.size2, c.path.map(hx), r1, r2); }
    catch (e) { bad.push(`consistency ${c.size1}/${c.size2}: ${e.message}`); }
    if (c.path.length) {
      const broken = c.path.map(hx); broken.at(-1)[5] ^= 1;
      try { await m.verifyConsistency(c.size1, c.size2, broken, r1, r2); bad.push(`corrupt consistency ${c.size1}/${c.size2} verified`); } catch {}
    }
  }
  const outcome = async (vkeys, note, quorum) => {
    let keys;
    try { keys = await Promise.all(vkeys.map(n.parseVkey)); } catch (e) { return ["bad-key", e.message]; }
    try { const r = await n.verifyCheckpoint(note, keys, quorum); return ["valid", r]; }
    catch (e) { return [e.name === "MalformedError" ? "malformed" : e.message.startsWith("no signature") ? "no-verifiable-signature" : "invalid-signature", e.message]; }
  };
  for (const c of v.notes.cases) {
    // Our checkpoints only: notes whose text is a checkpoint, expectations the console shares.
    if (!c.checkpoint || c.note === undefined || !["valid", "invalid-signature", "no-verifiable-signature"].includes(c.expect)) continue;
    checked++;
    const [got, detail] = await outcome(c.vkeys, c.note, 0);
    if (got !== c.expect) bad.push(`note ${c.name}: got ${got} (${typeof detail === "string" ? detail : ""}), want ${c.expect}`);
  }
  for (const c of v.notes.vkey_cases) {
    checked++;
    let got = "valid";
    try { await n.parseVkey(c.vkey); } catch { got = "invalid"; }
    // Ed25519 keys only: other algorithms' keys are refused by the console, which cannot check them.
    if (got !== c.expect && !(c.expect === "valid" && got === "invalid")) bad.push(`vkey ${c.vkey}: got ${got}, want ${c.expect}`);
    if (c.expect === "valid" && got === "invalid" && /^[^+]+\+[0-9a-f]{8}\+A[QS]/.test(c.vkey)) bad.push(`vkey ${c.vkey}: refused an Ed25519 key`);
  }
  for (const c of v.cosignatures.cosignature_cases) {
    checked++;
    const [got, r] = await outcome([c.log_vkey, c.witness_vkey], c.expected_cosigned_note, 1);
    if (got !== "valid" || r.witnesses.length !== 1) bad.push(`cosignature ${c.name}: got ${got}`);
  }
  for (const c of v.cosignatures.verify_cases) {
    checked++;
    let got;
    try {
      const head = await n.checkSignatures(c.note, [await n.parseVkey(c.witness_vkey)]);
      got = head.witnesses.length ? "valid" : "no-verifiable-signature";
    } catch (e) { got = e.name === "VerificationError" ? "invalid-signature" : `error ${e.message}`; }
    if (got !== c.expect) bad.push(`verify ${c.name}: got ${got}, want ${c.expect}`);
  }
  return { bad, checked };
}
