// The side-by-side measurement, shared by Node (scripts/bench/side-by-side.mjs) and the
// Chromium page (scripts/bench/page.html): the same code times both environments.
import { PEER_FOR, TOLERANCE } from "./peers.mjs";

export const PROTOCOL = { warmup: 3, warmupMs: 100, minRuns: 15, minMs: 500, maxRuns: 400 };

/** Sample values of our canonical bytes (little-endian, interleaved, 1/2/4 bytes per sample). */
function oursValues(bytes, d) {
  const n = bytes.byteLength / Math.ceil(d.bits_allocated / 8);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(n);
  const signed = d.pixel_representation === 1;
  if (d.bits_allocated <= 8) for (let i = 0; i < n; i++) out[i] = signed ? dv.getInt8(i) : dv.getUint8(i);
  else if (d.bits_allocated <= 16) for (let i = 0; i < n; i++) out[i] = signed ? dv.getInt16(2 * i, true) : dv.getUint16(2 * i, true);
  else for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
  return out;
}

/** A peer's typed array as canonical values: masked to Bits Stored, sign-extended when signed. */
function peerValues(typed, d) {
  const bs = d.bits_stored;
  const mask = bs >= 32 ? -1 : (1 << bs) - 1;
  const sign = 1 << (bs - 1);
  const signed = d.pixel_representation === 1;
  const out = new Int32Array(typed.length);
  for (let i = 0; i < typed.length; i++) {
    let v = typed[i] & mask;
    if (signed && v & sign) v -= 2 * sign;
    out[i] = v;
  }
  return out;
}

/** exact | "≤tol (max d)" | MISMATCH ... */
export function compare(oursBytes, theirs, d, ts) {
  const a = oursValues(oursBytes, d);
  const b = peerValues(theirs, d);
  const tol = TOLERANCE[ts] ?? 0;
  if (a.length !== b.length) return { ok: false, max_abs_diff: null, check: `MISMATCH: ${a.length} samples vs ${b.length}` };
  let max = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - b[i]);
    if (diff) {
      count++;
      if (diff > max) max = diff;
    }
  }
  if (max === 0) return { ok: true, max_abs_diff: 0, check: "exact" };
  const pct = ((100 * count) / a.length).toFixed(count * 1000 < a.length ? 3 : 1);
  if (max <= tol) return { ok: true, max_abs_diff: max, check: `max ${max} ≤ ${tol} (${pct}%)` };
  return { ok: false, max_abs_diff: max, check: `MISMATCH: max ${max} > ${tol}, ${count} samples (${pct}%)` };
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r3 = (x) => Math.round(x * 1000) / 1000;

/**
 * One case: our decodeFrame and the peer on the same bare frame, interleaved (the order
 * alternates every round), after warm-up; medians of at least minRuns runs each and at
 * least minMs of wall time. `lumen`: our wasm module (decodeFrame, sha256).
 */
export function runCase(lumen, peers, entry, bytes, now = () => performance.now()) {
  const d = entry.description;
  const ts = entry.transfer_syntax;
  const peerName = PEER_FOR[ts];
  const descJson = JSON.stringify(d);
  const ours = () => {
    const f = lumen.decodeFrame(ts, bytes, descJson);
    const data = f.data;
    f.free();
    return data;
  };
  const peer = () => peers[peerName].decode(bytes, d);
  const result = { case: entry.file, ts, codec: entry.codec, source: entry.source, peer: peerName };
  let o;
  let t;
  try {
    o = ours();
  } catch (e) {
    return { ...result, ok: false, check: `ERROR ours: ${e.message || e}` };
  }
  try {
    t = peer();
  } catch (e) {
    return { ...result, ok: false, check: `ERROR ${peerName}: ${e.message || e}` };
  }
  const cmp = compare(o, t, d, ts);
  // warm-up: both sides' wasm tiers up (V8 compiles hot functions again, optimised) and
  // their heaps reach their working size
  const w0 = now();
  for (let i = 0; i < PROTOCOL.warmup || now() - w0 < PROTOCOL.warmupMs; i++) {
    ours();
    peer();
  }
  const a = [];
  const b = [];
  const start = now();
  while (a.length < PROTOCOL.maxRuns && (a.length < PROTOCOL.minRuns || now() - start < PROTOCOL.minMs)) {
    if (a.length % 2 === 0) {
      const t0 = now();
      ours();
      const t1 = now();
      peer();
      const t2 = now();
      a.push(t1 - t0);
      b.push(t2 - t1);
    } else {
      const t0 = now();
      peer();
      const t1 = now();
      ours();
      const t2 = now();
      b.push(t1 - t0);
      a.push(t2 - t1);
    }
  }
  // The cost of hashing a frame (SHA-256 of the output plus a copy into wasm memory),
  // timed apart for reference. decodeFrame used to hash every frame for its `info`
  // record; it no longer does (the hash is a getter), so ours_ms does not include it.
  const h = [];
  for (let i = 0; i < 9; i++) {
    const t0 = now();
    lumen.sha256(o);
    h.push(now() - t0);
  }
  const oursMs = median(a);
  const peerMs = median(b);
  return {
    ...result,
    ours_ms: r3(oursMs),
    peer_ms: r3(peerMs),
    ratio: Math.round((oursMs / peerMs) * 100) / 100,
    runs: a.length,
    hash_ms: r3(median(h)),
    ok: cmp.ok,
    max_abs_diff: cmp.max_abs_diff,
    check: cmp.check,
  };
}
