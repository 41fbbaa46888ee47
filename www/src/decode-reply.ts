// One decode request answered, the same way by the viewer's Worker (decode-worker.ts)
// and the decoder plugin's (decoder-worker.ts): the frame's bytes are transferred.
import type { DecodeResponse, FrameInfo } from "./protocol.js";

/** What both wasm modules export for decoding (www/pkg and www/pkg-decoder). */
export interface DecodeApi {
  decodeFile(bytes: Uint8Array, frame: number): DecodedWasmFrame;
  decodeFrame(transferSyntax: string, bytes: Uint8Array, description: string): DecodedWasmFrame;
  /** Replaces the wasm instance (a stateless module's glue built with wasm-bindgen's
   *  --experimental-reset-state-function): after a trap, the old one's stack pointer
   *  and heap are wherever the trap left them. */
  reset?(): void;
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
    let error = e instanceof Error ? e.message : String(e);
    // A trap (a Rust panic aborts in wasm; every decoder guards its input, so this is a
    // bug): the request fails, and the next one gets a fresh instance where it can.
    if (e instanceof WebAssembly.RuntimeError) {
      if (api.reset) {
        api.reset();
        error = `the decoder trapped (${error}); its wasm instance was replaced`;
      } else {
        error = `the decoder trapped (${error})`;
      }
    }
    return [{ id: req.id, ok: false, error }, []];
  }
}
