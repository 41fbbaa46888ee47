// The decoder plugin's Worker: the decoder-only wasm module (decoder-wasm.ts), one
// instance per Worker, answering "file" and "frame" requests (protocol.ts). Stateless,
// so a host runs as many as it has cores (decoder.ts), and a trap costs one request:
// the instance is replaced (decode-reply.ts).
import init, { __wbg_reset_state as reset, decodeFile, decodeFrame, version } from "./decoder-wasm.js";
import { decodeReply } from "./decode-reply.js";
import type { DecodeRequest, DecodeResponse } from "./protocol.js";

const ready = init().then(() => {
  const msg: DecodeResponse = { id: -1, ready: true, version: version() };
  postMessage(msg);
});

const post = (msg: DecodeResponse, transfer: Transferable[] = []) =>
  (postMessage as (m: unknown, t: Transferable[]) => void)(msg, transfer);

onmessage = async (event: MessageEvent<DecodeRequest>) => {
  await ready;
  const req = event.data;
  if (req.kind === "file" || req.kind === "frame") {
    const [reply, transfer] = decodeReply({ decodeFile, decodeFrame, reset }, req, req.hash ?? false);
    post(reply, transfer);
  } else if (req.kind === "retrieve") {
    post({ id: req.id, event: "done", error: "the decoder module does not retrieve: use the viewer's worker (decode-worker.js)" });
  }
};
