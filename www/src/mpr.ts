// The MPR layout: axial, coronal and sagittal viewports of one series' volume,
// sharing the crosshair centre, the window, the slab and the interpolation. The
// Oblique tool turns the other two planes about a view's normal (a drag around the
// crosshair); each viewport then shows an oblique plane, and every view's
// reference lines follow the other viewports' actual planes.
//
// DOM contract: three `.viewport.mpr` elements with `data-view` (axial | coronal |
// sagittal), `data-viewport-index` (0, 1, 2), `data-series-uid` and `data-render`
// (as stack viewports); failures show `[data-state="error"][role="alert"]`.
import type { MprOverlay, MprState, MprView, Study } from "./api.js";
import { errorMessage, formatName, h, num, svg } from "./dom.js";
import { defaultWindow, type Tool } from "./tools.js";
import { canvasPoint, clearCanvas, RenderLoop } from "./viewport.js";
import { trackDrags } from "./drag.js";

export const VIEWS: MprView[] = ["axial", "coronal", "sagittal"];
export const VIEW_COLOURS: Record<MprView, string> = { axial: "#ff4d4d", coronal: "#4dd96b", sagittal: "#4d9dff" };
type Vec3 = [number, number, number];
/** Plane normals in patient coordinates (LPS): the wheel moves the centre along them. */
const NORMALS: Record<MprView, Vec3> = { axial: [0, 0, 1], coronal: [0, 1, 0], sagittal: [1, 0, 0] };
/** Screen right and down of the standard planes (`volume::MprPlane::standard`). */
const AXES: Record<MprView, { right: Vec3; down: Vec3 }> = {
  axial: { right: [1, 0, 0], down: [0, 1, 0] },
  coronal: { right: [1, 0, 0], down: [0, 0, -1] },
  sagittal: { right: [0, 1, 0], down: [0, 0, -1] },
};

/** A rotation as a row-major 3×3 matrix. */
type Mat3 = number[];
const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const apply = (m: Mat3, v: Vec3): Vec3 => [
  m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
  m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
  m[6] * v[0] + m[7] * v[1] + m[8] * v[2],
];
const multiply = (a: Mat3, b: Mat3): Mat3 =>
  [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c]));
/** Rotation by `angle` (radians, right-handed) about the unit axis `k` (Rodrigues). */
function rotation(k: Vec3, angle: number): Mat3 {
  const [x, y, z] = k;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const t = 1 - c;
  return [t * x * x + c, t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c, t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c];
}
const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

export interface MprHost {
  readonly study: Study;
  tool(): Tool;
  activate(index: number): void;
  /** The shared centre, window or a view changed. */
  changed(): void;
  rendered(index: number): void;
}

/** What the three views share. */
export interface MprShared {
  series: number;
  center: [number, number, number];
  window?: { center: number; width: number };
  invert: boolean;
  slab_mm: number;
  slab_mode: "mip" | "minip" | "avg";
  interpolation: "linear" | "nearest";
}

/** What an MPR drag starts with (drag.ts tracks the pointer). */
interface MprDrag {
  tool: Tool;
  window: { center: number; width: number };
  mm: number;
  pan: [number, number];
  center: [number, number, number];
  /** Oblique: the angle of the pointer about the crosshair, and the other views' rotations, at the start. */
  angle: number;
  rotations: Mat3[];
}

class MprViewport {
  readonly element: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  width = 1;
  height = 1;
  mmPerPixel: number | undefined;
  pan: [number, number] = [0, 0];
  /** This view's plane turned from its standard orientation (the Oblique tool). */
  rotation: Mat3 = IDENTITY;
  overlay: MprOverlay | null = null;
  private layer: SVGSVGElement;
  private message: HTMLElement;
  private corners: Record<"tl" | "tr" | "bl" | "br", HTMLElement>;
  readonly loop: RenderLoop;
  private resize: ResizeObserver;
  private wheelAcc = 0;
  private destroyed = false;

  constructor(
    private layout: MprLayout,
    readonly index: number,
    readonly view: MprView,
  ) {
    const label = view[0].toUpperCase() + view.slice(1);
    this.canvas = h("canvas", { class: "vp-canvas", "aria-label": `${label} MPR` });
    this.layer = svg("svg", { class: "vp-layer", "aria-hidden": "true", preserveAspectRatio: "none" });
    const corner = (pos: string) => h("div", { class: `vp-corner ${pos}` });
    this.corners = { tl: corner("tl"), tr: corner("tr"), bl: corner("bl"), br: corner("br") };
    this.message = h("div", { class: "vp-message", hidden: true });
    this.element = h(
      "div",
      { class: "viewport mpr", "data-view": view, "data-viewport-index": index, "data-render": "pending", style: `--view-colour: ${VIEW_COLOURS[view]}` },
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
    this.bind();
  }

  /** This view's plane: screen right and down, and the normal the wheel moves along. */
  axes(): { right: Vec3; down: Vec3; normal: Vec3 } {
    const a = AXES[this.view];
    return { right: apply(this.rotation, a.right), down: apply(this.rotation, a.down), normal: apply(this.rotation, NORMALS[this.view]) };
  }

  get oblique(): boolean {
    return this.rotation !== IDENTITY;
  }

  state(): MprState {
    const sh = this.layout.shared;
    const s: MprState = {
      series: sh.series,
      view: this.view,
      center: [...sh.center],
      width: this.width,
      height: this.height,
      invert: sh.invert,
      pan: [...this.pan],
      interpolation: sh.interpolation,
    };
    if (this.oblique) {
      const { right, down } = this.axes();
      Object.assign(s, { view: "oblique", right, down });
    }
    if (this.layout.views.some((v) => v.oblique)) {
      s.others = this.layout.views.filter((v) => v !== this).map((v) => ({ view: v.view, ...v.axes() }));
    }
    if (sh.window) s.window = { ...sh.window };
    if (this.mmPerPixel !== undefined) s.mm_per_pixel = this.mmPerPixel;
    if (sh.slab_mm > 0) {
      s.slab_mm = sh.slab_mm;
      s.slab_mode = sh.slab_mode;
    }
    return s;
  }

  private measure(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.element.clientWidth * dpr));
    const hh = Math.max(1, Math.round(this.element.clientHeight * dpr));
    if (w === this.width && hh === this.height) return;
    this.width = w;
    this.height = hh;
    this.layer.setAttribute("viewBox", `0 0 ${w} ${hh}`);
    this.loop.invalidate();
  }

  private setRender(v: "ready" | "loading" | "error" | "pending"): void {
    this.element.dataset.render = this.loop.due ? "pending" : v;
  }

  private showMessage(kind: "loading" | "error" | null, text = ""): void {
    this.message.hidden = !kind;
    this.message.dataset.state = kind ?? "none";
    if (kind) this.message.setAttribute("role", kind === "error" ? "alert" : "status");
    else this.message.removeAttribute("role");
    this.message.textContent = text;
  }

  /** Whether the last draw waits for the series to finish loading. */
  get waiting(): boolean {
    return this.element.dataset.render === "loading" || this.element.dataset.render === "error";
  }

  private async draw(): Promise<void> {
    if (this.destroyed) return;
    const study = this.layout.host.study;
    const state = this.state();
    this.element.dataset.seriesUid = study.info.series[state.series]?.series_instance_uid ?? "";
    if (state.width < 2 || state.height < 2 || !this.element.isConnected) {
      this.setRender("pending");
      return;
    }
    const p = study.progress(state.series);
    if (p.resident + p.failed < p.total) {
      clearCanvas(this.canvas);
      this.overlay = null;
      this.drawLayer();
      this.showMessage("loading", `Loading volume… ${p.resident}/${p.total}`);
      this.setRender("loading");
      return;
    }
    if (this.canvas.width !== state.width) this.canvas.width = state.width;
    if (this.canvas.height !== state.height) this.canvas.height = state.height;
    try {
      this.overlay = await study.renderMpr(state, this.canvas);
    } catch (e) {
      if (this.destroyed) return;
      clearCanvas(this.canvas);
      this.overlay = null;
      this.drawLayer();
      const now = study.progress(state.series);
      if (now.resident + now.failed < now.total) {
        this.showMessage("loading", `Loading volume… ${now.resident}/${now.total}`);
        this.setRender("loading");
      } else {
        this.showMessage("error", `MPR cannot be shown: ${errorMessage(e)}`);
        this.setRender("error");
      }
      return;
    }
    if (this.destroyed) return;
    // Keep this scale from now on: the core fits around the centre, and a moving
    // crosshair must not rescale the view (reset() fits again).
    if (this.mmPerPixel === undefined && this.overlay) this.mmPerPixel = this.overlay.mm_per_pixel;
    this.showMessage(null);
    this.drawLayer();
    this.updateCorners();
    this.setRender("ready");
    this.layout.host.rendered(this.index);
  }

  /** Loading text while the series arrives. */
  progressChanged(): void {
    const p = this.layout.host.study.progress(this.layout.shared.series);
    if (this.element.dataset.render !== "loading") return;
    if (p.resident + p.failed >= p.total) this.loop.invalidate();
    else this.message.textContent = `Loading volume… ${p.resident}/${p.total}`;
  }

  drawLayer(): void {
    this.layer.replaceChildren();
    const o = this.overlay;
    if (!o) return;
    const dpr = window.devicePixelRatio || 1;
    for (const l of o.lines) {
      this.layer.append(
        svg("line", { x1: l.from[0], y1: l.from[1], x2: l.to[0], y2: l.to[1], stroke: VIEW_COLOURS[l.view], "stroke-width": 1.25 * dpr, "stroke-opacity": 0.85, class: "ref-line", "data-view": l.view }),
      );
    }
    this.layer.append(
      svg("circle", { cx: o.center[0], cy: o.center[1], r: 5 * dpr, fill: "none", stroke: "#ffd54d", "stroke-width": 1.25 * dpr, class: "crosshair" }),
    );
  }

  updateCorners(): void {
    const study = this.layout.host.study;
    const sh = this.layout.shared;
    const s = study.info.series[sh.series];
    const lines = (el: HTMLElement, ls: (string | null | undefined | false)[]) =>
      el.replaceChildren(...ls.filter((l): l is string => !!l).map((l) => h("div", { text: l })));
    const label = this.view[0].toUpperCase() + this.view.slice(1) + (this.oblique ? " (oblique)" : "");
    lines(this.corners.tl, [label, formatName(study.info.patient_name), study.info.patient_id]);
    lines(this.corners.tr, [s ? [s.series_number !== null ? `Se: ${s.series_number}` : "", s.modality, s.series_description].filter(Boolean).join(" ") : ""]);
    const w = this.layout.currentWindow();
    const axis = { axial: 2, coronal: 1, sagittal: 0 }[this.view];
    lines(this.corners.bl, [
      this.oblique ? `${sh.center.map((c) => num(c, 1)).join(", ")} mm` : `${"xyz"[axis]}: ${num(sh.center[axis], 1)} mm`,
      w ? `W: ${num(w.width)} L: ${num(w.center)}` : "W/L: default",
      this.overlay ? `${num(this.overlay.mm_per_pixel, 3)} mm/px` : "",
    ]);
    lines(this.corners.br, [sh.slab_mm > 0 ? `Slab ${num(sh.slab_mm)} mm ${sh.slab_mode === "avg" ? "Average" : sh.slab_mode === "mip" ? "MIP" : "MinIP"}` : "", sh.interpolation === "nearest" ? "Nearest" : ""]);
  }

  /**
   * Before the shared centre moves by `delta` (mm): pans so that this view keeps
   * showing the same place (the core centres each view on the crosshair), leaving
   * only the crosshair and, for the out-of-plane part, the slice to change.
   */
  keepInPlace(delta: [number, number, number]): void {
    if (this.mmPerPixel === undefined || this.width < 2) return;
    const study = this.layout.host.study;
    try {
      const s = this.state();
      const o = study.mprPoint(s, 0, 0);
      const x = study.mprPoint(s, 1, 0);
      const y = study.mprPoint(s, 0, 1);
      const r = [x[0] - o[0], x[1] - o[1], x[2] - o[2]];
      const d = [y[0] - o[0], y[1] - o[1], y[2] - o[2]];
      const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
      const rr = dot(r, r);
      const dd = dot(d, d);
      if (rr > 0 && dd > 0) this.pan = [this.pan[0] + dot(delta, r) / rr, this.pan[1] + dot(delta, d) / dd];
    } catch {
      // No geometry yet: the view recentres on the crosshair instead.
    }
  }

  /** Moves the shared centre by `steps` along this view's normal. */
  stepAlongNormal(steps: number): void {
    const n = this.axes().normal;
    const d = steps * this.layout.step();
    const c = this.layout.shared.center;
    this.layout.setCenter([c[0] + n[0] * d, c[1] + n[1] * d, c[2] + n[2] * d]);
  }

  private moveCenterTo(p: [number, number]): void {
    try {
      this.layout.setCenter(this.layout.host.study.mprPoint(this.state(), p[0], p[1]));
    } catch (e) {
      this.showMessage("error", `Crosshair: ${errorMessage(e)}`);
    }
  }

  private bind(): void {
    const el = this.element;
    el.addEventListener("contextmenu", (e) => e.preventDefault());
    el.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.layout.host.activate(this.index);
        const d = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaMode === 2 ? e.deltaY * 400 : e.deltaY;
        if (Math.abs(d) >= 40) {
          this.wheelAcc = 0;
          this.stepAlongNormal(Math.sign(d));
        } else {
          this.wheelAcc += d;
          if (Math.abs(this.wheelAcc) >= 40) {
            this.stepAlongNormal(Math.sign(this.wheelAcc));
            this.wheelAcc = 0;
          }
        }
      },
      { passive: false },
    );
    // The pointer's press activates the view even when it starts no drag.
    el.addEventListener("pointerdown", () => this.layout.host.activate(this.index));
    trackDrags<MprDrag>(
      el,
      {
        begin: (e) => {
          let tool: Tool = e.button === 1 ? "pan" : e.button === 2 ? "zoom" : this.layout.host.tool();
          if (tool === "length" || tool === "probe") tool = "crosshair";
          if (tool === "crosshair") this.moveCenterTo(canvasPoint(this.canvas, e));
          return {
            tool,
            window: this.layout.currentWindow() ?? { center: 128, width: 256 },
            mm: this.mmPerPixel ?? this.overlay?.mm_per_pixel ?? 1,
            pan: [...this.pan],
            center: [...this.layout.shared.center],
            angle: this.angleAt(canvasPoint(this.canvas, e)),
            rotations: this.layout.views.map((v) => v.rotation),
          };
        },
        move: (d, { dx, dy }, e) => {
          const dpr = window.devicePixelRatio || 1;
          switch (d.tool) {
            case "crosshair":
              this.moveCenterTo(canvasPoint(this.canvas, e));
              break;
            case "wl": {
              const f = Math.max(d.window.width, 1) / 256;
              this.layout.setWindow({ center: d.window.center + dy * f, width: Math.max(1, d.window.width + dx * f) });
              break;
            }
            case "pan":
              this.pan = [d.pan[0] + dx * dpr, d.pan[1] + dy * dpr];
              this.loop.invalidate();
              this.layout.host.changed();
              break;
            case "zoom": {
              const k = Math.exp(-dy / 150);
              this.mmPerPixel = Math.min(50, Math.max(0.01, d.mm / k));
              this.pan = [d.pan[0] * k, d.pan[1] * k];
              this.loop.invalidate();
              this.layout.host.changed();
              break;
            }
            case "oblique": {
              // Turn the other planes about this view's normal by the angle the pointer
              // swept around the crosshair (clockwise on screen is right-handed about
              // right × down, this view's screen normal).
              const a = this.axes();
              const k = cross(a.right, a.down);
              const turn = rotation(k, this.angleAt(canvasPoint(this.canvas, e)) - d.angle);
              this.layout.rotate(this, (i) => multiply(turn, d.rotations[i]));
              break;
            }
            case "scroll": {
              const n = this.axes().normal;
              const dist = Math.round(dy / 4) * this.layout.step();
              this.layout.setCenter([d.center[0] + n[0] * dist, d.center[1] + n[1] * dist, d.center[2] + n[2] * dist]);
              break;
            }
            default:
              break;
          }
        },
      },
      3,
    );
  }

  /** The angle of canvas point `p` about the crosshair (radians, clockwise on screen). */
  private angleAt(p: [number, number]): number {
    const c = this.overlay?.center ?? [this.width / 2, this.height / 2];
    return Math.atan2(p[1] - c[1], p[0] - c[0]);
  }

  resetView(): void {
    this.mmPerPixel = undefined;
    this.pan = [0, 0];
    this.rotation = IDENTITY;
  }

  refresh(): void {
    this.measure();
    this.loop.invalidate();
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

export class MprLayout {
  readonly element: HTMLDivElement;
  readonly views: MprViewport[];
  shared: MprShared;

  constructor(
    readonly host: MprHost,
    series: number,
    options: { window?: { center: number; width: number }; invert?: boolean; interpolation?: "linear" | "nearest"; slab_mm?: number; slab_mode?: "mip" | "minip" | "avg" } = {},
  ) {
    this.shared = {
      series,
      center: host.study.volumeCenter(series),
      window: options.window,
      invert: options.invert ?? false,
      slab_mm: options.slab_mm ?? 0,
      slab_mode: options.slab_mode ?? "mip",
      interpolation: options.interpolation ?? "linear",
    };
    this.views = VIEWS.map((v, i) => new MprViewport(this, i, v));
    this.element = h("div", { class: "viewport-grid layout-mpr" }, ...this.views.map((v) => v.element));
    for (const v of this.views) v.updateCorners();
  }

  /** The millimetres one wheel notch moves the centre: the volume's smallest spacing. */
  step(): number {
    const vol = this.host.study.info.series[this.shared.series]?.volume;
    const s = vol ? Math.min(...vol.spacing_mm.filter((x) => x > 0)) : 1;
    return Number.isFinite(s) && s > 0 ? s : 1;
  }

  /** The window in effect: the shared one, else the first image's default (the core's choice for MPR). */
  currentWindow(): { center: number; width: number } | null {
    if (this.shared.window) return this.shared.window;
    const s = this.host.study.info.series[this.shared.series];
    if (!s || !s.images) return null;
    try {
      return defaultWindow(this.host.study.imageInfo(this.shared.series, 0));
    } catch {
      return null;
    }
  }

  private all(): void {
    for (const v of this.views) {
      v.updateCorners();
      v.loop.invalidate();
    }
    this.host.changed();
  }

  setCenter(c: [number, number, number]): void {
    if (!c.every(Number.isFinite)) return;
    const old = this.shared.center;
    const delta: [number, number, number] = [c[0] - old[0], c[1] - old[1], c[2] - old[2]];
    for (const v of this.views) v.keepInPlace(delta);
    this.shared.center = c;
    this.all();
  }

  /** The Oblique tool in `from`: every other view takes the rotation `next(index)`. */
  rotate(from: MprViewport, next: (index: number) => Mat3): void {
    for (const v of this.views) if (v !== from) v.rotation = next(v.index);
    this.all();
  }

  setWindow(w: { center: number; width: number } | undefined): void {
    this.shared.window = w;
    this.all();
  }

  update(patch: Partial<Omit<MprShared, "series">>): void {
    this.shared = { ...this.shared, ...patch };
    this.all();
  }

  reset(): void {
    this.shared.center = this.host.study.volumeCenter(this.shared.series);
    this.shared.window = undefined;
    this.shared.invert = false;
    for (const v of this.views) v.resetView();
    this.all();
  }

  states(): MprState[] {
    return this.views.map((v) => v.state());
  }

  /** An image of the series became resident or failed. */
  onSlotChange(series: number): void {
    if (series !== this.shared.series) return;
    for (const v of this.views) v.progressChanged();
  }

  refresh(): void {
    for (const v of this.views) v.refresh();
  }

  destroy(): void {
    for (const v of this.views) v.destroy();
    this.element.remove();
  }
}
