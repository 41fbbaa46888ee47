// The decode worker: stateless, one wasm instance per worker. Frames come back as
// transferable buffers, so the main thread never copies or waits on pixels.
import init, { cancelRetrieval, decodeFile, decodeFrame, retrieveFrames, version, type Frame } from "./wasm-select.js";
import { decodeReply } from "./decode-reply.js";
import type { DecodeRequest, DecodeResponse, RetrieveEvent } from "./protocol.js";

const ready = init().then(() => {
  const msg: DecodeResponse = { id: -1, ready: true, version: version() };
  postMessage(msg);
});

const post = (msg: DecodeResponse, transfer: Transferable[] = []) =>
  (postMessage as (m: unknown, t: Transferable[]) => void)(msg, transfer);

/** Retrieval `id`: one event per frame as it decodes, then "done". */
async function retrieve(id: number, server: string, task: string): Promise<void> {
  let done: RetrieveEvent;
  try {
    const result = await retrieveFrames(server, task, id, (frame: number, decoded?: Frame, error?: string) => {
      if (decoded) {
        const info = JSON.parse(decoded.info);
        const data = decoded.data;
        decoded.free();
        post({ id, event: "frame", frame, ok: true, info, data: data.buffer as ArrayBuffer }, [data.buffer as ArrayBuffer]);
      } else {
        post({ id, event: "frame", frame, ok: false, error: error ?? "the frame could not be decoded" });
      }
    });
    done = { id, event: "done", ...(JSON.parse(result) as { delivered: number; requested: number }) };
  } catch (e) {
    const retryAfterMs = (e as { retryAfterMs?: unknown })?.retryAfterMs;
    done = {
      id,
      event: "done",
      error: e instanceof Error ? e.message : String(e),
      ...(typeof retryAfterMs === "number" ? { retryAfterMs } : {}),
    };
  }
  post(done);
}

onmessage = async (event: MessageEvent<DecodeRequest>) => {
  await ready;
  const req = event.data;
  if (req.kind === "cancel") {
    cancelRetrieval(req.id);
    return;
  }
  if (req.kind === "retrieve") return retrieve(req.id, req.server, req.task);
  const [reply, transfer] = decodeReply({ decodeFile, decodeFrame }, req, req.hash ?? false);
  post(reply, transfer);
};
