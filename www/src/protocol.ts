// Messages between the page and the decode worker. Kept in one place so that an
// embedding host (iframe, custom element, decoder plugin) can speak the same protocol.

export interface FrameInfo {
  frame: number;
  rows: number;
  columns: number;
  samples_per_pixel: number;
  bits_allocated: number;
  bits_stored: number;
  pixel_representation: number;
  photometric_interpretation: string;
  transfer_syntax: string;
  sha256?: string;
}

export type DecodeRequest =
  /** `hash`: also answer the frame's SHA-256 in `info.sha256` (costs more than decoding a fast codec). */
  | { id: number; kind: "file"; bytes: ArrayBuffer; frame: number; hash?: boolean }
  | { id: number; kind: "frame"; transferSyntax: string; bytes: ArrayBuffer; description: string; hash?: boolean }
  /** Retrieve frames of one instance over WADO-RS in one request and decode them
   *  (the viewer's loader): answered by `RetrieveEvent`s, the last one "done". */
  | { id: number; kind: "retrieve"; server: string; task: string }
  /** Cancel retrieval `id`: it answers with an error starting "cancelled:". */
  | { id: number; kind: "cancel" };

export type DecodeResponse =
  | { id: number; ok: true; info: FrameInfo; data: ArrayBuffer }
  | { id: number; ok: false; error: string }
  | { id: -1; ready: true; version: string }
  | RetrieveEvent;

/** What a retrieval answers: each frame as it decodes, then "done". */
export type RetrieveEvent =
  | { id: number; event: "frame"; frame: number; ok: true; info: FrameInfo; data: ArrayBuffer }
  | { id: number; event: "frame"; frame: number; ok: false; error: string }
  /** `delivered < requested`: the server answered a frame list with fewer frames. */
  | { id: number; event: "done"; delivered: number; requested: number }
  /** Every frame not delivered failed so; `retryAfterMs`: the server's Retry-After (429, 503). */
  | { id: number; event: "done"; error: string; retryAfterMs?: number };
