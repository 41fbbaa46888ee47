// A promise API over the decode worker: the piece an embedding app or a
// Cornerstone-style decoder plugin would use.
import type { DecodeRequest, DecodeResponse, FrameInfo } from "./protocol.js";

export interface DecodedFrame {
  info: FrameInfo;
  data: Uint8Array;
}

export class Decoder {
  private worker: Worker;
  private next = 1;
  private pending = new Map<number, { resolve: (f: DecodedFrame) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<string>;

  constructor(workerUrl: URL) {
    this.worker = new Worker(workerUrl, { type: "module" });
    let markReady: (v: string) => void;
    this.ready = new Promise((r) => (markReady = r));
    this.worker.onmessage = (event: MessageEvent<DecodeResponse>) => {
      const msg = event.data;
      if ("ready" in msg) {
        markReady(msg.version);
        return;
      }
      if ("event" in msg) return; // retrievals belong to the viewer's core
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.ok) waiter.resolve({ info: msg.info, data: new Uint8Array(msg.data) });
      else waiter.reject(new Error(msg.error));
    };
  }

  private send(req: DecodeRequest, transfer: Transferable[]): Promise<DecodedFrame> {
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.postMessage(req, transfer);
    });
  }

  /** Decodes frame `frame` (1-based) of a DICOM Part 10 file. */
  decodeFile(bytes: ArrayBuffer, frame = 1): Promise<DecodedFrame> {
    return this.send({ id: this.next++, kind: "file", bytes, frame }, [bytes]);
  }

  /** Decodes a bare frame (e.g. from WADO-RS) given its transfer syntax and pixel description. */
  decodeFrame(transferSyntax: string, bytes: ArrayBuffer, description: object): Promise<DecodedFrame> {
    const req: DecodeRequest = { id: this.next++, kind: "frame", transferSyntax, bytes, description: JSON.stringify(description) };
    return this.send(req, [bytes]);
  }
}
