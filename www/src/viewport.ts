// One 2-D stack viewport: a canvas the core renders into, an SVG layer for
// measurements, four corners of overlay text, a message for loading and errors,
// and the mouse interaction of the active tool.
//
// DOM contract (tests rely on it): the element `.viewport` has `data-viewport-index`,
// `data-series-uid`, `data-image-index` and `data-render` ("pending" while a render is
// due or running, "loading" while the image is not resident, "ready" when the canvas
// shows the current state, "error"); on failure it holds an element with
// `data-state="error"` and `role="alert"` carrying the message.
import type { ImageInfo, Study, ViewportState } from "./api.js";
import { errorMessage, formatDate, formatName, h, num, svg } from "./dom.js";
import { defaultWindow, type Tool } from "./tools.js";
import { trackDrags } from "./drag.js";

/**
 * Coalesces redraws: one per animation frame, one in flight; a change during a
 * draw queues exactly one more draw after it.
 */
export class RenderLoop {
  private dirty = false;
  private running = false;
  private frame = 0;
  private dead = false;

  constructor(
    private draw: () => Promise<void>,
    private onPending: () => void = () => undefined,
  ) {}

  invalidate(): void {
    if (this.dead) return;
    this.dirty = true;
    this.onPending();
    if (!this.frame && !this.running) this.frame = requestAnimationFrame(() => this.run());
  }

  /** A redraw is due (the state changed since the current draw began). */
  get due(): boolean {
    return this.dirty;
  }

  private async run(): Promise<void> {
    this.frame = 0;
    if (this.dead || this.running || !this.dirty) return;
    this.dirty = false;
    this.running = true;
    try {
      await this.draw();
    } catch (e) {
      // draw() handles its own errors; this only keeps the loop alive.
      console.warn("lumen: draw failed", e);
    } finally {
      this.running = false;
      if (this.dirty && !this.dead) this.frame = requestAnimationFrame(() => this.run());
    }
  }

  destroy(): void {
    this.dead = true;
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

/** Clears a canvas whatever context the core drew it with. */
export function clearCanvas(canvas: HTMLCanvasElement): void {
  // eslint-disable-next-line no-self-assign
  canvas.width = canvas.width;
}

/** Canvas pixel of a pointer event. */
export function canvasPoint(canvas: HTMLCanvasElement, e: { clientX: number; clientY: number }): [number, number] {
  const r = canvas.getBoundingClientRect();
  return [((e.clientX - r.left) * canvas.width) / Math.max(1, r.width), ((e.clientY - r.top) * canvas.height) / Math.max(1, r.height)];
}

/**
 * The 2-D view transform of `crate::render::view` (frame pixel → canvas pixel), used
 * only to keep measurements attached to the image when the view changes and to show
 * the zoom; pixels and values always come from the core.
 */
export class ViewMath {
  constructor(
    private s: ViewportState,
    private info: ImageInfo,
  ) {}

  private cosSin(): [number, number] {
    const r = ((((this.s.rotation ?? 0) % 360) + 360) % 360);
    if (r % 90 === 0) return ([[1, 0], [0, 1], [-1, 0], [0, -1]] as [number, number][])[r / 90];
    const rad = (r * Math.PI) / 180;
    return [Math.cos(rad), Math.sin(rad)];
  }

  aspect(): number {
    const ps = this.info.pixel_spacing;
    const a = ps && ps[1] > 0 ? ps[0] / ps[1] : 1;
    return Number.isFinite(a) && a > 0 ? a : 1;
  }

  /** Output pixels per frame column. */
  zoom(): number {
    const z = this.s.zoom;
    if (typeof z === "number" && Number.isFinite(z) && z > 0) return z;
    return this.fitZoom();
  }

  fitZoom(): number {
    const [c, s] = this.cosSin();
    const w = this.info.columns;
    const hgt = this.info.rows * this.aspect();
    const bw = Math.abs(c) * w + Math.abs(s) * hgt;
    const bh = Math.abs(s) * w + Math.abs(c) * hgt;
    return Math.min(this.s.width / Math.max(bw, 1e-9), this.s.height / Math.max(bh, 1e-9));
  }

  private matrix(): { m: [[number, number], [number, number]]; t: [number, number] } {
    const z = this.zoom();
    const [c, s] = this.cosSin();
    const a = this.aspect();
    const fx = this.s.flip_horizontal ? -1 : 1;
    const fy = this.s.flip_vertical ? -1 : 1;
    const m: [[number, number], [number, number]] = [
      [fx * c * z, -fx * s * a * z],
      [fy * s * z, fy * c * a * z],
    ];
    const cx = this.info.columns / 2;
    const cy = this.info.rows / 2;
    const pan = this.s.pan ?? [0, 0];
    return {
      m,
      t: [this.s.width / 2 + pan[0] - (m[0][0] * cx + m[0][1] * cy), this.s.height / 2 + pan[1] - (m[1][0] * cx + m[1][1] * cy)],
    };
  }

  toCanvas(p: [number, number]): [number, number] {
    const { m, t } = this.matrix();
    return [m[0][0] * p[0] + m[0][1] * p[1] + t[0], m[1][0] * p[0] + m[1][1] * p[1] + t[1]];
  }

  toFrame(p: [number, number]): [number, number] {
    const { m, t } = this.matrix();
    const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if (!det) return [0, 0];
    const x = p[0] - t[0];
    const y = p[1] - t[1];
    return [(m[1][1] * x - m[0][1] * y) / det, (-m[1][0] * x + m[0][0] * y) / det];
  }
}

/** What a viewport needs from the reading screen. */
export interface ViewportHost {
  readonly study: Study;
  tool(): Tool;
  activate(vp: StackViewport): void;
  /** The viewport's image, view or window changed (state already updated). */
  changed(vp: StackViewport, what: "image" | "series" | "view"): void;
  /** A render of the viewport's current state finished and is on the canvas. */
  rendered(vp: StackViewport): void;
}

interface Measurement {
  /** Frame coordinates. */
  from: [number, number];
  to: [number, number];
}

const DRAG_THRESHOLD = 4; // CSS pixels before a press becomes a drag

/** What a stack-view drag starts with (drag.ts tracks the pointer). */
interface StackDrag {
  tool: Tool;
  start: ViewportState;
  window: { center: number; width: number };
  zoom: number;
  canvasStart: [number, number];
}

export class StackViewport {
  readonly element: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  state: ViewportState;
  private layer: SVGSVGElement;
  private corners: Record<"tl" | "tr" | "bl" | "br", HTMLElement>;
  private message: HTMLElement;
  private loop: RenderLoop;
  private resize: ResizeObserver;
  private measurements = new Map<string, Measurement[]>();
  private pending: [number, number] | null = null; // first click of a length, frame coords
  private live: Measurement | null = null; // the length being dragged
  private probeText = "";
  private probeBusy = false;
  private probeNext: [number, number] | null = null;
  private wheelAcc = 0;
  private drags: { active(): StackDrag | null } | null = null;
  private destroyed = false;

  constructor(
    private host: ViewportHost,
    public index: number,
    series: number,
    image = 0,
  ) {
    this.state = { series, image, width: 1, height: 1, zoom: "fit", pan: [0, 0], rotation: 0, interpolation: "linear" };
    this.canvas = h("canvas", { class: "vp-canvas", "aria-label": `Viewport ${index + 1}` });
    this.layer = svg("svg", { class: "vp-layer", "aria-hidden": "true", preserveAspectRatio: "none" });
    const corner = (pos: string) => h("div", { class: `vp-corner ${pos}` });
    this.corners = { tl: corner("tl"), tr: corner("tr"), bl: corner("bl"), br: corner("br") };
    this.message = h("div", { class: "vp-message", hidden: true });
    this.element = h(
      "div",
      { class: "viewport", "data-viewport-index": index, "data-render": "pending" },
      this.canvas,
      this.layer,
      this.corners.tl,
      this.corners.tr,
      this.corners.bl,
      this.corners.br,
      this.message,
    );
    this.loop = new RenderLoop(
      () => this.draw(),
      () => (this.element.dataset.render = "pending"),
    );
    this.resize = new ResizeObserver(() => this.measure());
    this.resize.observe(this.element);
    this.bindEvents();
    this.stateChanged("series");
  }

  get study(): Study {
    return this.host.study;
  }

  imageCount(): number {
    return this.study.info.series[this.state.series]?.images ?? 0;
  }

  info(): ImageInfo | null {
    try {
      return this.imageCount() ? this.study.imageInfo(this.state.series, this.state.image) : null;
    } catch {
      return null;
    }
  }

  private math(): ViewMath | null {
    const info = this.info();
    return info ? new ViewMath(this.state, info) : null;
  }

  /** The window in effect: the explicit one, else the image's default. */
  currentWindow(): { center: number; width: number } | null {
    return this.state.window ?? defaultWindow(this.info());
  }

  currentZoom(): number | null {
    return this.math()?.zoom() ?? null;
  }

  private measure(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(0, Math.round(this.element.clientWidth * dpr));
    const hgt = Math.max(0, Math.round(this.element.clientHeight * dpr));
    if (w === this.state.width && hgt === this.state.height) return;
    this.state = { ...this.state, width: Math.max(1, w), height: Math.max(1, hgt) };
    this.layer.setAttribute("viewBox", `0 0 ${this.state.width} ${this.state.height}`);
    this.stateChanged("view");
  }

  /** Applies a change to the state and redraws. */
  update(patch: Partial<ViewportState>): void {
    const before = this.state;
    this.state = { ...this.state, ...patch };
    const what = patch.series !== undefined && patch.series !== before.series ? "series" : patch.image !== undefined && patch.image !== before.image ? "image" : "view";
    this.stateChanged(what);
  }

  setSeries(series: number, image = 0): void {
    this.pending = null;
    this.live = null;
    this.update({ series, image: Math.max(0, Math.min(image, (this.study.info.series[series]?.images ?? 1) - 1)) });
  }

  /** Moves to image `i` (clamped, or wrapped for cine). */
  setImage(i: number, wrap = false): void {
    const n = this.imageCount();
    if (!n) return;
    const image = wrap ? ((i % n) + n) % n : Math.max(0, Math.min(n - 1, i));
    if (image === this.state.image) return;
    this.pending = null;
    this.live = null;
    this.probeText = "";
    this.update({ image });
  }

  step(delta: number, wrap = false): void {
    this.setImage(this.state.image + delta, wrap);
  }

  resetView(): void {
    this.update({ zoom: "fit", pan: [0, 0], rotation: 0, flip_horizontal: false, flip_vertical: false, invert: false, window: undefined });
  }

  private stateChanged(what: "image" | "series" | "view"): void {
    if (this.destroyed) return;
    const s = this.study.info.series[this.state.series];
    this.element.dataset.seriesUid = s?.series_instance_uid ?? "";
    this.element.dataset.imageIndex = String(this.state.image);
    const n = this.imageCount();
    this.canvas.setAttribute(
      "aria-label",
      `Viewport ${this.index + 1}: series ${s?.series_number ?? "?"} ${s?.series_description ?? ""}, image ${this.state.image + 1} of ${n}`.replace(/\s+/g, " "),
    );
    this.updateCorners();
    this.drawLayer();
    this.loop.invalidate();
    this.host.changed(this, what);
  }

  /** The core says (series, image) became resident or failed. */
  onSlotChange(series: number, image: number): void {
    if (series !== this.state.series || image !== this.state.image) return;
    const r = this.element.dataset.render;
    if (r === "loading" || r === "error") this.loop.invalidate();
  }

  private showMessage(kind: "loading" | "error" | null, text = ""): void {
    if (!kind) {
      this.message.hidden = true;
      this.message.dataset.state = "none";
      this.message.removeAttribute("role");
      this.message.textContent = "";
      return;
    }
    this.message.hidden = false;
    this.message.dataset.state = kind;
    this.message.setAttribute("role", kind === "error" ? "alert" : "status");
    this.message.textContent = text;
  }

  private async draw(): Promise<void> {
    if (this.destroyed) return;
    const state = { ...this.state };
    if (!this.imageCount()) {
      clearCanvas(this.canvas);
      this.showMessage("error", "This series has no images");
      this.setRender("error");
      return;
    }
    if (state.width < 2 || state.height < 2 || !this.element.isConnected) {
      this.setRender("pending");
      return; // redrawn when laid out (ResizeObserver)
    }
    const slot = this.study.slot(state.series, state.image);
    if (slot.state === "failed") {
      clearCanvas(this.canvas);
      this.showMessage("error", `Image ${state.image + 1} cannot be shown: ${slot.error}`);
      this.setRender("error");
      return;
    }
    if (slot.state !== "resident") {
      clearCanvas(this.canvas);
      this.showMessage("loading", `Loading image ${state.image + 1}…`);
      this.setRender("loading");
      return; // onSlotChange redraws
    }
    if (this.canvas.width !== state.width) this.canvas.width = state.width;
    if (this.canvas.height !== state.height) this.canvas.height = state.height;
    try {
      await this.study.render(state, this.canvas);
    } catch (e) {
      if (this.destroyed) return;
      const now = this.study.slot(state.series, state.image);
      if (now.state !== "resident" && now.state !== "failed") {
        // Evicted or still arriving: wait for it.
        this.showMessage("loading", `Loading image ${state.image + 1}…`);
        this.setRender("loading");
      } else {
        clearCanvas(this.canvas);
        this.showMessage("error", `Image ${state.image + 1} cannot be shown: ${now.state === "failed" ? now.error : errorMessage(e)}`);
        this.setRender("error");
      }
      return;
    }
    if (this.destroyed) return;
    this.showMessage(null);
    this.setRender("ready");
    this.host.rendered(this);
  }

  /** Records the outcome of a draw, unless the state has moved on meanwhile (then a redraw is due). */
  private setRender(v: "ready" | "loading" | "error" | "pending"): void {
    this.element.dataset.render = this.loop.due ? "pending" : v;
  }

  /** Redraws after the element was (re)attached. */
  refresh(): void {
    this.measure();
    this.loop.invalidate();
  }

  /** Overlay text in the four corners. */
  updateCorners(): void {
    const st = this.study.info;
    const s = st.series[this.state.series];
    const info = this.info();
    const lines = (el: HTMLElement, ls: (string | null | undefined | false)[]) =>
      el.replaceChildren(...ls.filter((l): l is string => !!l).map((l) => h("div", { text: l })));
    lines(this.corners.tl, [formatName(st.patient_name), st.patient_id, formatDate(st.study_date), st.study_description]);
    lines(this.corners.tr, [
      s ? [s.series_number !== null ? `Se: ${s.series_number}` : "", s.modality, s.series_description].filter(Boolean).join(" ") : "",
      `Im: ${this.state.image + 1}/${this.imageCount()}`,
      info?.instance_number !== null && info?.instance_number !== undefined ? `Inst: ${info.instance_number}` : "",
      info && info.frame > 1 ? `Frame: ${info.frame}` : "",
    ]);
    const w = this.currentWindow();
    const zoom = this.currentZoom();
    const pos = info?.image_position;
    lines(this.corners.bl, [
      info?.slice_location !== null && info?.slice_location !== undefined ? `Loc: ${num(info.slice_location, 2)} mm` : "",
      pos ? `Pos: ${pos.map((v) => num(v, 1)).join(", ")}` : "",
      w ? `W: ${num(w.width)} L: ${num(w.center)}` : "W/L: default",
      zoom ? `Zoom: ${Math.round(zoom * 100)}%` : "",
      this.state.invert ? "Inverted" : "",
    ]);
    lines(this.corners.br, [this.probeText, info ? `${info.columns}×${info.rows}` : "", this.state.interpolation === "nearest" ? "Nearest" : ""]);
  }

  /** Measurements (and the probe) on the SVG layer, from frame to canvas coordinates. */
  private drawLayer(): void {
    const math = this.math();
    this.layer.replaceChildren();
    if (!math) return;
    const dpr = window.devicePixelRatio || 1;
    const key = `${this.state.series}:${this.state.image}`;
    const list = [...(this.measurements.get(key) ?? [])];
    if (this.live) list.push(this.live);
    for (const m of list) {
      const a = math.toCanvas(m.from);
      const b = math.toCanvas(m.to);
      let label = "";
      try {
        const r = this.study.measure(this.state, a, b);
        label = `${num(r.value, r.units === "mm" ? 1 : 0)} ${r.units}`;
      } catch (e) {
        label = errorMessage(e);
      }
      this.layer.append(
        svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: "measure-line", "stroke-width": 1.5 * dpr }),
        svg("circle", { cx: a[0], cy: a[1], r: 3 * dpr, class: "measure-end" }),
        svg("circle", { cx: b[0], cy: b[1], r: 3 * dpr, class: "measure-end" }),
      );
      const t = svg("text", { x: b[0] + 6 * dpr, y: b[1] - 6 * dpr, class: "measure-label", "font-size": 13 * dpr });
      t.textContent = label;
      this.layer.append(t);
    }
    if (this.pending) {
      const p = math.toCanvas(this.pending);
      this.layer.append(svg("circle", { cx: p[0], cy: p[1], r: 3 * dpr, class: "measure-end" }));
    }
  }

  clearMeasurements(): void {
    this.measurements.delete(`${this.state.series}:${this.state.image}`);
    this.pending = null;
    this.live = null;
    this.drawLayer();
  }

  private addMeasurement(m: Measurement): void {
    const key = `${this.state.series}:${this.state.image}`;
    const list = this.measurements.get(key) ?? [];
    list.push(m);
    this.measurements.set(key, list);
  }

  private probeAt(p: [number, number]): void {
    this.probeNext = p;
    if (this.probeBusy) return;
    const run = async () => {
      while (this.probeNext && !this.destroyed) {
        const at = this.probeNext;
        this.probeNext = null;
        this.probeBusy = true;
        try {
          if (this.study.slot(this.state.series, this.state.image).state !== "resident") {
            this.probeText = "";
          } else {
            const r = await this.study.probe({ ...this.state }, at[0], at[1]);
            if (!r.inside) this.probeText = "";
            else {
              const stored = r.stored ? r.stored.map((v) => num(v, 2)).join(", ") : "—";
              const value = r.modality_value !== null ? ` → ${num(r.modality_value, 2)}${r.units ? " " + r.units : ""}` : "";
              this.probeText = `(${r.row}, ${r.column}) SV: ${stored}${value}`;
            }
          }
        } catch (e) {
          this.probeText = `Probe: ${errorMessage(e)}`;
        } finally {
          this.probeBusy = false;
        }
        this.updateCorners();
      }
    };
    void run();
  }

  private bindEvents(): void {
    const el = this.element;
    el.addEventListener("contextmenu", (e) => e.preventDefault());
    el.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.host.activate(this);
        const d = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaMode === 2 ? e.deltaY * 400 : e.deltaY;
        if (Math.abs(d) >= 40) {
          this.wheelAcc = 0;
          this.step(Math.sign(d));
        } else {
          this.wheelAcc += d;
          if (Math.abs(this.wheelAcc) >= 40) {
            this.step(Math.sign(this.wheelAcc));
            this.wheelAcc = 0;
          }
        }
      },
      { passive: false },
    );
    // The pointer's press activates the view even when it starts no drag.
    el.addEventListener("pointerdown", () => this.host.activate(this));
    this.drags = trackDrags<StackDrag>(
      el,
      {
        begin: (e) => {
          const tool: Tool = e.button === 1 ? "pan" : e.button === 2 ? "zoom" : this.host.tool();
          if (tool === "probe") this.probeAt(canvasPoint(this.canvas, e));
          return {
            tool,
            start: { ...this.state },
            window: this.currentWindow() ?? { center: 128, width: 256 },
            zoom: this.currentZoom() ?? 1,
            canvasStart: canvasPoint(this.canvas, e),
          };
        },
        hover: (e) => {
          if (this.host.tool() === "probe") this.probeAt(canvasPoint(this.canvas, e));
        },
        move: (d, { dx, dy }, e) => {
          const dpr = window.devicePixelRatio || 1;
          switch (d.tool) {
            case "wl": {
              const f = Math.max(d.window.width, 1) / 256;
              this.update({ window: { center: d.window.center + dy * f, width: Math.max(1, d.window.width + dx * f) } });
              break;
            }
            case "pan": {
              const p = d.start.pan ?? [0, 0];
              this.update({ pan: [p[0] + dx * dpr, p[1] + dy * dpr] });
              break;
            }
            case "zoom": {
              const z = Math.min(64, Math.max(0.02, d.zoom * Math.exp(-dy / 150)));
              const p = d.start.pan ?? [0, 0];
              const k = z / d.zoom;
              this.update({ zoom: z, pan: [p[0] * k, p[1] * k] });
              break;
            }
            case "scroll": {
              const per = Math.max(2, Math.min(12, this.element.clientHeight / Math.max(1, this.imageCount())));
              this.setImage(d.start.image + Math.round(dy / per));
              break;
            }
            case "length": {
              const math = this.math();
              if (!math) break;
              this.pending = null;
              this.live = { from: math.toFrame(d.canvasStart), to: math.toFrame(canvasPoint(this.canvas, e)) };
              this.drawLayer();
              break;
            }
            case "probe":
              this.probeAt(canvasPoint(this.canvas, e));
              break;
            case "crosshair":
              break;
          }
        },
        end: (d, drag, e) => {
          if (d.tool !== "length") return;
          const math = this.math();
          if (!math || e.type === "pointercancel") {
            this.live = null;
            this.drawLayer();
            return;
          }
          if (drag.moved && this.live) {
            this.addMeasurement(this.live);
            this.live = null;
          } else if (!drag.moved) {
            const p = math.toFrame(canvasPoint(this.canvas, e));
            if (this.pending) {
              this.addMeasurement({ from: this.pending, to: p });
              this.pending = null;
            } else this.pending = p;
          }
          this.drawLayer();
        },
      },
      DRAG_THRESHOLD,
    );
    el.addEventListener("pointerleave", () => {
      if (!this.drags?.active() && this.probeText && this.host.tool() === "probe") {
        this.probeNext = null;
        this.probeText = "";
        this.updateCorners();
      }
    });
  }

  /** Called by the reading screen when the tool changes. */
  toolChanged(tool: Tool): void {
    if (tool !== "length" && this.pending) {
      this.pending = null;
      this.drawLayer();
    }
    if (tool !== "probe" && this.probeText) {
      this.probeText = "";
      this.updateCorners();
    }
    this.element.dataset.tool = tool;
  }

  setActive(active: boolean): void {
    this.element.classList.toggle("active", active);
    this.element.setAttribute("aria-current", active ? "true" : "false");
  }

  destroy(): void {
    this.destroyed = true;
    this.loop.destroy();
    this.resize.disconnect();
    this.element.remove();
  }
}
