// The decoder plugin's module under Node: bad input that used to overflow the wasm stack
// is refused by name, and a trap costs one request (the Worker's instance is replaced).
import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { loadWasm, root } from "../helpers.mjs";

const lumen = await loadWasm("decoder-simd");
const { decodeReply } = await import(path.join(root, "www", "dist", "decode-reply.js"));

/** A Part 10 file (2×2 8-bit grey, explicit VR LE) whose Content Sequence nests `depth` deep. */
function nestedFile(depth) {
  const parts = [];
  const u16 = (v) => [v & 0xff, v >> 8];
  const u32 = (v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  const text = (s) => [...s].map((c) => c.charCodeAt(0));
  const el = (g, e, vr, value) => {
    const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
    parts.push(...u16(g), ...u16(e), ...text(vr), ...(long ? [0, 0, ...u32(value.length)] : u16(value.length)), ...value);
  };
  parts.push(...new Array(128).fill(0), ...text("DICM"));
  const metaStart = parts.length;
  el(2, 0, "UL", u32(0)); // patched below
  el(2, 1, "OB", [0, 1]);
  el(2, 2, "UI", text("1.2.840.10008.5.1.4.1.1.7\0"));
  el(2, 3, "UI", text("1.2.3.4\0"));
  el(2, 0x10, "UI", text("1.2.840.10008.1.2.1\0"));
  const metaLength = parts.length - metaStart - 12;
  parts.splice(metaStart + 8, 4, ...u32(metaLength));
  el(0x28, 2, "US", u16(1));
  el(0x28, 4, "CS", text("MONOCHROME2 "));
  el(0x28, 0x10, "US", u16(2));
  el(0x28, 0x11, "US", u16(2));
  el(0x28, 0x100, "US", u16(8));
  el(0x28, 0x101, "US", u16(8));
  el(0x28, 0x102, "US", u16(7));
  el(0x28, 0x103, "US", u16(0));
  const head = parts.length;
  const open = [0x40, 0, 0x30, 0xa7, ...text("SQ"), 0, 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff];
  const close = [0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0];
  const out = new Uint8Array(head + depth * (open.length + close.length) + 12 + 4);
  out.set(parts);
  let at = head;
  for (let i = 0; i < depth; i++, at += open.length) out.set(open, at);
  for (let i = 0; i < depth; i++, at += close.length) out.set(close, at);
  out.set([0xe0, 0x7f, 0x10, 0, ...text("OB"), 0, 0, ...u32(4), 1, 2, 3, 4], at);
  return out;
}

test("sequences nested past the limit are refused by name; at the limit they decode (wasm stack)", () => {
  const frame = lumen.decodeFile(nestedFile(64), 1);
  assert.deepEqual([...frame.data], [1, 2, 3, 4]);
  frame.free();
  for (const depth of [65, 100_000]) {
    assert.throws(() => lumen.decodeFile(nestedFile(depth), 1), /sequences nest more than 64 levels deep/, `depth ${depth}`);
  }
  // The instance is unharmed: the shallow file still decodes.
  assert.deepEqual([...lumen.decodeFile(nestedFile(1), 1).data], [1, 2, 3, 4]);
});

test("a trap fails its request and replaces the instance; other errors do not", () => {
  let resets = 0;
  const trapping = {
    decodeFile() {
      throw new WebAssembly.RuntimeError("unreachable");
    },
    decodeFrame() {
      throw new Error("JPEG-LS: truncated scan");
    },
    reset() {
      resets++;
    },
  };
  const bytes = new ArrayBuffer(4);
  const [trap] = decodeReply(trapping, { id: 7, kind: "file", bytes, frame: 1 }, false);
  assert.deepEqual(trap, { id: 7, ok: false, error: "the decoder trapped (unreachable); its wasm instance was replaced" });
  assert.equal(resets, 1);
  const [bad] = decodeReply(trapping, { id: 8, kind: "frame", transferSyntax: "1.2.840.10008.1.2.4.80", bytes, description: "{}" }, false);
  assert.deepEqual(bad, { id: 8, ok: false, error: "JPEG-LS: truncated scan" });
  assert.equal(resets, 1);
});

test("the decoder module's reset gives a working instance; frames of the old one are refused", () => {
  const before = lumen.decodeFile(nestedFile(2), 1);
  lumen.__wbg_reset_state();
  assert.throws(() => before.data, /stale/);
  const [reply] = decodeReply(lumen, { id: 1, kind: "file", bytes: nestedFile(3).buffer, frame: 1 }, true);
  assert.equal(reply.ok, true, reply.error);
  assert.deepEqual([...new Uint8Array(reply.data)], [1, 2, 3, 4]);
  assert.match(reply.info.sha256, /^[0-9a-f]{64}$/);
});
