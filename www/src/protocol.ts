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
  | { id: number; kind: "file"; bytes: ArrayBuffer; frame: number }
  | { id: number; kind: "frame"; transferSyntax: string; bytes: ArrayBuffer; description: string }
  /** Retrieve one frame over WADO-RS and decode it (the viewer's loader). */
  | { id: number; kind: "retrieve"; server: string; task: string }
  /** Cancel retrieval `id`: it answers with an error starting "cancelled:". */
  | { id: number; kind: "cancel" };

export type DecodeResponse =
  | { id: number; ok: true; info: FrameInfo; data: ArrayBuffer }
  /** `retryAfterMs`: the server's Retry-After on a transient failure (429, 503). */
  | { id: number; ok: false; error: string; retryAfterMs?: number }
  | { id: -1; ready: true; version: string };
