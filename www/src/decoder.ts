// The decoder for plugin hosts (a Cornerstone-style image loader, an embedding app): a
// promise API over a pool of Workers, each running the decoder-only wasm module
// (decoder-worker.ts). Stateless requests, so a series decodes on every core: each
// request goes to the Worker with the fewest outstanding.
import type { DecodeRequest, DecodeResponse, FrameInfo } from "./protocol.js";

export interface DecodedFrame {
  info: FrameInfo;
  data: Uint8Array;
}

export interface DecoderOptions {
  /** The Worker script; default: decoder-worker.js beside this file. */
  workerUrl?: URL;
  /** How many Workers; default: `navigator.hardwareConcurrency` (at least 1). */
  workers?: number;
  /** Also give each frame's SHA-256 in `info.sha256` (off by default: it costs more than decoding a fast codec). */
  hash?: boolean;
}

type Waiter = { resolve: (f: DecodedFrame) => void; reject: (e: Error) => void; worker: number };

export class Decoder {
  private workers: Worker[];
  private outstanding: number[];
  private answered: number[];
  private next = 1;
  private pending = new Map<number, Waiter>();
  private hash: boolean;
  /** Resolves to the module's version once every Worker has loaded it. */
  readonly ready: Promise<string>;

  constructor(options: DecoderOptions = {}) {
    const url = options.workerUrl ?? new URL("./decoder-worker.js", import.meta.url);
    const n = Math.max(1, Math.floor(options.workers ?? (globalThis.navigator?.hardwareConcurrency || 1)));
    this.hash = options.hash ?? false;
    this.outstanding = new Array(n).fill(0);
    this.answered = new Array(n).fill(0);
    const readies: Promise<string>[] = [];
    this.workers = Array.from({ length: n }, (_, index) => {
      const worker = new Worker(url, { type: "module" });
      readies.push(
        new Promise((resolve, reject) => {
          worker.onmessage = (event: MessageEvent<DecodeResponse>) => {
            if ("ready" in event.data) resolve(event.data.version);
            else this.answer(index, event.data);
          };
          // A Worker that fails (its script, or an uncaught error later) fails what it
          // holds, instead of leaving those promises pending forever.
          worker.onerror = (e) => {
            const why = `decoder Worker ${index} failed: ${e.message || "error"}`;
            reject(new Error(why));
            this.failWorker(index, why);
          };
        }),
      );
      return worker;
    });
    this.ready = Promise.all(readies).then((v) => v[0]);
  }

  private failWorker(index: number, why: string): void {
    for (const [id, waiter] of this.pending) {
      if (waiter.worker !== index) continue;
      this.pending.delete(id);
      this.outstanding[index]--;
      this.answered[index]++;
      waiter.reject(new Error(why));
    }
  }

  /** How many Workers decode. */
  get size(): number {
    return this.workers.length;
  }

  /** How many requests each Worker has answered (decoded or failed). */
  answeredPerWorker(): number[] {
    return [...this.answered];
  }

  private answer(index: number, msg: Exclude<DecodeResponse, { ready: true }>): void {
    if ("event" in msg) return; // retrievals belong to the viewer's core
    const waiter = this.pending.get(msg.id);
    if (!waiter) return;
    this.pending.delete(msg.id);
    this.outstanding[index]--;
    this.answered[index]++;
    if (msg.ok) waiter.resolve({ info: msg.info, data: new Uint8Array(msg.data) });
    else waiter.reject(new Error(msg.error));
  }

  private send(req: DecodeRequest, transfer: Transferable[]): Promise<DecodedFrame> {
    let worker = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.outstanding[i] < this.outstanding[worker]) worker = i;
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject, worker });
      this.outstanding[worker]++;
      this.workers[worker].postMessage(req, transfer);
    });
  }

  /** Decodes frame `frame` (1-based) of a DICOM Part 10 file. The buffer is transferred. */
  decodeFile(bytes: ArrayBuffer, frame = 1): Promise<DecodedFrame> {
    return this.send({ id: this.next++, kind: "file", bytes, frame, hash: this.hash }, [bytes]);
  }

  /** Decodes a bare frame (e.g. from WADO-RS) given its transfer syntax and Image Pixel
   *  description (snake_case keys: rows, columns, bits_allocated, …). The buffer is transferred. */
  decodeFrame(transferSyntax: string, bytes: ArrayBuffer, description: object): Promise<DecodedFrame> {
    const req: DecodeRequest = { id: this.next++, kind: "frame", transferSyntax, bytes, description: JSON.stringify(description), hash: this.hash };
    return this.send(req, [bytes]);
  }

  /** Stops every Worker; pending requests reject. */
  terminate(): void {
    for (const w of this.workers) w.terminate();
    for (const [, waiter] of this.pending) waiter.reject(new Error("the decoder was terminated"));
    this.pending.clear();
  }
}
