// One decode request answered, the same way by the viewer's Worker (decode-worker.ts)
// and the decoder plugin's (decoder-worker.ts): the frame's bytes are transferred.
import type { DecodeResponse, FrameInfo } from "./protocol.js";

/** What both wasm modules export for decoding (www/pkg and www/pkg-decoder). */
export interface DecodeApi {
  decodeFile(bytes: Uint8Array, frame: number): DecodedWasmFrame;
  decodeFrame(transferSyntax: string, bytes: Uint8Array, description: string): DecodedWasmFrame;
}
interface DecodedWasmFrame {
  readonly info: string;
  readonly sha256: string;
  readonly data: Uint8Array;
  free(): void;
}

type DecodeKinds =
  | { id: number; kind: "file"; bytes: ArrayBuffer; frame: number }
  | { id: number; kind: "frame"; transferSyntax: string; bytes: ArrayBuffer; description: string };

/** Decodes `req`; the reply and what to transfer with it. Errors become `ok: false`. */
export function decodeReply(api: DecodeApi, req: DecodeKinds, hash: boolean): [DecodeResponse, Transferable[]] {
  try {
    const bytes = new Uint8Array(req.bytes);
    const frame = req.kind === "file" ? api.decodeFile(bytes, req.frame) : api.decodeFrame(req.transferSyntax, bytes, req.description);
    const info: FrameInfo = JSON.parse(frame.info);
    // The sample page shows the hash so that a person (and the tests) can compare frames;
    // hashing costs more than decoding the fast codecs, so a plugin asks for it.
    if (hash) info.sha256 = frame.sha256;
    const data = frame.data;
    frame.free();
    return [{ id: req.id, ok: true, info, data: data.buffer as ArrayBuffer }, [data.buffer as ArrayBuffer]];
  } catch (e) {
    return [{ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }, []];
  }
}
