// The core behind `api.ts`: the study session (wasm, main thread: the study,
// the loader's scheduler, GPU textures, rendering) and a pool of Workers that
// retrieve and decode frames. This file only moves tasks and results between
// them; every decision (what to fetch next, what to evict, how to draw) is made
// in Rust.
import init, { openStudy, searchStudies, version, type StudySession } from "./wasm-select.js";
import type {
  Core, ImageInfo, MprOverlay, MprState, Probe, Progress, ServerConfig, SlotState, Study, StudyInfo, StudyRow,
  ViewportState,
} from "./api.js";
import type { DecodeRequest, DecodeResponse, RetrieveEvent } from "./protocol.js";

/** Absolute URLs: Workers and the wasm client resolve nothing against the page. */
function serverJson(server: ServerConfig): string {
  const abs = (u: string) => new URL(u, location.href).href.replace(/\/$/, "");
  return JSON.stringify({
    ...server,
    base_url: abs(server.base_url),
    wado_uri_url: server.wado_uri_url ? abs(server.wado_uri_url) : undefined,
    headers: server.headers ?? [],
  });
}

type Reply = (msg: RetrieveEvent) => void;

/** Workers that retrieve and decode; each runs many retrievals at once (they await the network). */
class WorkerPool {
  private workers: { worker: Worker; busy: number }[] = [];
  private waiting = new Map<number, { reply: Reply; slot: { busy: number } }>();
  private nextId = 1;
  readonly ready: Promise<unknown>;

  constructor(size: number) {
    const url = new URL("./decode-worker.js", import.meta.url);
    const readies: Promise<void>[] = [];
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { type: "module" });
      const slot = { worker, busy: 0 };
      readies.push(
        new Promise((resolve) => {
          worker.addEventListener("message", (e: MessageEvent<DecodeResponse>) => {
            const msg = e.data;
            if ("ready" in msg) return resolve();
            if (!("event" in msg)) return;
            const w = this.waiting.get(msg.id);
            if (!w) return;
            if (msg.event === "done") {
              this.waiting.delete(msg.id);
              w.slot.busy--;
            }
            w.reply(msg);
          });
        }),
      );
      this.workers.push(slot);
    }
    this.ready = Promise.all(readies);
  }

  /** Starts a retrieval on the least busy worker; `reply` gets its events; returns its id (for cancel). */
  retrieve(server: string, task: object, reply: Reply): number {
    const id = this.nextId++;
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    this.waiting.set(id, { reply, slot });
    const req: DecodeRequest = { id, kind: "retrieve", server, task: JSON.stringify(task) };
    slot.worker.postMessage(req);
    return id;
  }

  cancel(id: number): void {
    const w = this.waiting.get(id);
    if (!w) return;
    const slot = this.workers.find((s) => s === w.slot);
    const req: DecodeRequest = { id, kind: "cancel" };
    slot?.worker.postMessage(req);
  }

  terminate(): void {
    for (const w of this.workers) w.worker.terminate();
    this.workers = [];
  }
}

function draw(canvas: HTMLCanvasElement, rgba: Uint8Array, width: number, height: number): void {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2d context on the canvas");
  ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer as ArrayBuffer, rgba.byteOffset, rgba.length), width, height), 0, 0);
}

class OpenStudy implements Study {
  readonly info: StudyInfo;
  private listeners = new Set<(series: number, image: number) => void>();
  private inFlight = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private watch: ReturnType<typeof setInterval>;
  private recoveringDevice = false;
  private closed = false;

  constructor(
    private session: StudySession,
    private pool: WorkerPool,
    private server: string,
  ) {
    this.info = JSON.parse(session.info());
    this.pump();
    // A lost GPU device (driver reset, GPU process crash) is reported
    // asynchronously: notice it even when nothing is rendering, recover, and let
    // the images load again (viewports redraw as they arrive).
    this.watch = setInterval(() => {
      if (this.closed || this.recoveringDevice || !this.session.deviceLost()) return;
      this.recoveringDevice = true;
      this.session
        .recoverDevice()
        .catch((e) => console.warn("lumen: GPU device recovery failed", e))
        .finally(() => {
          this.recoveringDevice = false;
          this.pump();
        });
    }, 250);
  }

  /** Starts what the scheduler says to start, and looks again soon for work in backoff. */
  private pump(): void {
    if (this.closed) return;
    const tasks: { images: [number, number][]; task: { frames: number[] } }[] = JSON.parse(this.session.nextTasks(performance.now()));
    for (const t of tasks) {
      // Frame number → image, until each has its answer.
      const pending = new Map<number, [number, number]>(t.task.frames.map((f, k) => [f, t.images[k]]));
      const id = this.pool.retrieve(this.server, t.task, (msg) => this.finish(pending, msg));
      for (const [s, i] of t.images) this.inFlight.set(`${s}:${i}`, id);
    }
    if (this.timer === null && !this.allDone()) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, 250);
    }
  }

  private allDone(): boolean {
    return this.info.series.every((_, s) => {
      const p = this.progress(s);
      return p.resident + p.failed === p.total;
    }) && this.inFlight.size === 0;
  }

  /** A retrieval's event: a frame delivered (or failed to decode), or the request ended. */
  private finish(pending: Map<number, [number, number]>, msg: RetrieveEvent): void {
    if (this.closed) return;
    const now = performance.now();
    const settle = (series: number, image: number, ok: (() => void) | null, error?: string, retryAfterMs?: number) => {
      this.inFlight.delete(`${series}:${image}`);
      if (ok) ok();
      else this.session.failed(series, image, error ?? "", retryAfterMs, now);
      this.emit(series, image);
    };
    if (msg.event === "frame") {
      const img = pending.get(msg.frame);
      if (!img) return;
      pending.delete(msg.frame);
      const [series, image] = img;
      if (msg.ok) {
        settle(series, image, () => {
          const r: { evicted: [number, number][]; error: string | null } = JSON.parse(
            this.session.delivered(series, image, JSON.stringify(msg.info), new Uint8Array(msg.data), now),
          );
          for (const [s, i] of r.evicted) this.emit(s, i);
        });
      } else {
        settle(series, image, null, msg.error);
      }
      return;
    }
    // The request ended: what it did not deliver fails with its error, or, when the
    // server answered a frame list with fewer frames, goes back to be asked for alone.
    if ("error" in msg) {
      for (const [series, image] of pending.values()) settle(series, image, null, msg.error, msg.retryAfterMs);
    } else if (pending.size) {
      this.session.frameListsUnsupported();
      for (const [series, image] of pending.values()) settle(series, image, null, "cancelled: the server answered part of a frame list");
    }
    pending.clear();
    this.pump();
  }

  private emit(series: number, image: number): void {
    for (const l of this.listeners) {
      try {
        l(series, image);
      } catch (e) {
        console.warn("lumen: onChange listener failed", e);
      }
    }
  }

  imageInfo(series: number, image: number): ImageInfo {
    return JSON.parse(this.session.imageInfo(series, image));
  }

  setFocus(series: number, image: number): void {
    if (this.closed) return;
    const cancel: [number, number][] = JSON.parse(this.session.setFocus(series, image));
    const ids = new Set<number>();
    for (const [s, i] of cancel) {
      const id = this.inFlight.get(`${s}:${i}`);
      if (id !== undefined) ids.add(id);
    }
    // A frame list is cancelled whole; its wanted frames are asked for again.
    for (const id of ids) this.pool.cancel(id);
    this.pump();
  }

  slot(series: number, image: number): SlotState {
    return JSON.parse(this.session.slotState(series, image));
  }

  progress(series: number): Progress {
    return JSON.parse(this.session.progress(series));
  }

  onChange(listener: (series: number, image: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async render(state: ViewportState, canvas: HTMLCanvasElement): Promise<void> {
    const rgba = await this.pumpAfter(this.session.render(JSON.stringify(state)));
    draw(canvas, rgba, state.width, state.height);
  }

  /** Loads on after a render: a failed one may have found the device lost (every image re-queued), an MPR one may have evicted frames to fit its volume. */
  private async pumpAfter<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } finally {
      this.pump();
    }
  }

  loseDevice(): void {
    this.session.loseDevice();
  }

  deviceLost(): boolean {
    return this.session.deviceLost();
  }

  async probe(state: ViewportState, x: number, y: number): Promise<Probe> {
    return JSON.parse(await this.session.probe(JSON.stringify(state), x, y));
  }

  measure(state: ViewportState, from: [number, number], to: [number, number]): { value: number; units: "mm" | "px" } {
    return JSON.parse(this.session.measure(JSON.stringify(state), from[0], from[1], to[0], to[1]));
  }

  volumeCenter(series: number): [number, number, number] {
    return JSON.parse(this.session.volumeCenter(series));
  }

  async renderMpr(state: MprState, canvas: HTMLCanvasElement): Promise<MprOverlay> {
    const json = JSON.stringify(state);
    const rgba = await this.pumpAfter(this.session.renderMpr(json));
    draw(canvas, rgba, state.width, state.height);
    return JSON.parse(this.session.mprOverlay(json));
  }

  mprPoint(state: MprState, x: number, y: number): [number, number, number] {
    return JSON.parse(this.session.mprPoint(JSON.stringify(state), x, y));
  }

  memory(): ReturnType<Study["memory"]> {
    return JSON.parse(this.session.memory());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    clearInterval(this.watch);
    for (const id of new Set(this.inFlight.values())) this.pool.cancel(id);
    this.inFlight.clear();
    this.listeners.clear();
    this.session.close();
  }
}

/** The protocol the page used for `baseUrl` ("h2", "h3", "http/1.1"; "" when the server hides it). */
function protocolOf(baseUrl: string): string {
  const entries = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i].name.startsWith(baseUrl) && entries[i].nextHopProtocol) return entries[i].nextHopProtocol;
  }
  return "";
}

/** Requests in flight per origin: 6 on HTTP/1.1 (the browser's own limit), 16 when multiplexed. */
function inFlightFor(protocol: string): number {
  return /^h[23]/.test(protocol) ? 16 : 6;
}

/**
 * Starts the core: the wasm module on this thread and a pool of retrieve/decode
 * Workers sized to the machine. `backend`: "auto" (WebGPU, then WebGL2, then the
 * CPU), "webgpu", "webgl2" or "cpu".
 */
export async function createCore(options: { backend?: string; workers?: number } = {}): Promise<Core> {
  await init();
  const size = options.workers ?? Math.max(2, Math.min(8, navigator.hardwareConcurrency || 2));
  const pool = new WorkerPool(size);
  await pool.ready;
  let backend = options.backend ?? "auto";
  return {
    version: version(),
    get backend() {
      return backend;
    },
    async searchStudies(server: ServerConfig, params: [string, string][]): Promise<StudyRow[]> {
      return JSON.parse(await searchStudies(serverJson(server), JSON.stringify(params)));
    },
    async openStudy(server: ServerConfig, studyUid: string, opts: { budgetBytes?: number; maxInFlight?: number } = {}): Promise<Study> {
      // Where loading a study starts (benchmarks measure `lumen:series-loaded` from here).
      performance.mark("lumen:open-study", { detail: { study: studyUid } });
      const json = serverJson(server);
      const session = await openStudy(
        json,
        studyUid,
        JSON.stringify({ budget_bytes: opts.budgetBytes, backend: options.backend ?? "auto", max_in_flight: opts.maxInFlight }),
      );
      // The metadata came over this page's connection: HTTP/2 and /3 multiplex, so
      // the loader may keep more frames in flight than HTTP/1.1's 6 per origin.
      if (opts.maxInFlight === undefined) session.setMaxInFlight(inFlightFor(protocolOf(JSON.parse(json).base_url)));
      const study = new OpenStudy(session, pool, json);
      backend = (study.info as unknown as { backend: string }).backend;
      return study;
    },
  } as Core;
}
