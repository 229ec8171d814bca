// What an entry holds, decoded in the browser from the bytes it verified (never from the
// server's word): an AuditEvent (docs/audit-event.md, client/event.py), an ingested record
// (docs/ingestion.md, server/ingest/record.py: OTLP, syslog, RELP, Kubernetes audit), other
// JSON or text, else bytes.

const KINDS = [
  [/^otlp/, "OTLP log record"],
  [/^k8s/, "Kubernetes audit event"],
  [/^(syslog|relp)/, "Syslog message"],
];

export function decodeEntry(bytes) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { kind: "bytes", fields: {}, body: hexdump(bytes) };
  }
  let value;
  try { value = JSON.parse(text); } catch { return { kind: "text", fields: {}, body: text }; }
  const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
  if (isObject && value.v === 1 && typeof value.actor === "string" && typeof value.action === "string") {
    const { actor, action, resource, outcome, time, source, request_id: requestId } = value;
    return { kind: "AuditEvent", fields: { actor, action, resource, outcome, time, source, request_id: requestId },
      body: JSON.stringify(value, null, 2) };
  }
  if (isObject && value.v === 1 && value.fields && value.record && value.source) {
    const transport = String(value.source.transport || "");
    const kind = (KINDS.find(([re]) => re.test(transport)) || [null, "Ingested record"])[1];
    return { kind, fields: { ...value.fields, transport, principal: value.source.principal },
      body: JSON.stringify(value.record, null, 2) };
  }
  return { kind: "JSON", fields: {}, body: JSON.stringify(value, null, 2) };
}

export function hexdump(bytes) {
  const rows = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = bytes.subarray(at, at + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    rows.push(`${at.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return rows.join("\n");
}
