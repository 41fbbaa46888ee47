// The decode worker: stateless, one wasm instance per worker. Frames come back as
// transferable buffers, so the main thread never copies or waits on pixels.
import init, { cancelRetrieval, decodeFile, decodeFrame, retrieveFrame, version } from "./wasm-select.js";
import type { DecodeRequest, DecodeResponse } from "./protocol.js";

const ready = init().then(() => {
  const msg: DecodeResponse = { id: -1, ready: true, version: version() };
  postMessage(msg);
});

onmessage = async (event: MessageEvent<DecodeRequest>) => {
  await ready;
  const req = event.data;
  if (req.kind === "cancel") {
    cancelRetrieval(req.id);
    return;
  }
  let reply: DecodeResponse;
  try {
    const frame =
      req.kind === "file"
        ? decodeFile(new Uint8Array(req.bytes), req.frame)
        : req.kind === "frame"
          ? decodeFrame(req.transferSyntax, new Uint8Array(req.bytes), req.description)
          : await retrieveFrame(req.server, req.task, req.id);
    // The sample page shows the hash so that a person (and the tests) can compare
    // frames; the viewer's loader does not pay for it.
    const info = req.kind === "retrieve" ? JSON.parse(frame.info) : { ...JSON.parse(frame.info), sha256: frame.sha256 };
    const data = frame.data;
    frame.free();
    reply = { id: req.id, ok: true, info, data: data.buffer as ArrayBuffer };
    (postMessage as (m: unknown, t: Transferable[]) => void)(reply, [reply.data]);
    return;
  } catch (e) {
    reply = { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  postMessage(reply);
};
