// The reading screen: series thumbnails on the left, a toolbar, and a grid of
// viewports (1×1, 1×2, 2×2 stacks, or the MPR 1×3 of the active series).
//
// DOM contract: the series list holds one `button[data-series-uid]` per series; the
// layout buttons are `button[data-layout="1x1"|"1x2"|"2x2"|"mpr"]`; tool buttons
// `button[data-tool]` with `aria-pressed`; `select[aria-label="Window preset"]`.
// User Timing: `lumen:first-image` after the first render of viewport 1 resolves,
// `lumen:series-loaded` when the series in viewport 1 is all resident or failed; the
// same moments set `document.body.dataset.firstImage` / `.seriesLoaded` to "1".
import type { MprState, SeriesInfo, Study, ViewportState } from "./api.js";
import { errorMessage, formatDate, formatName, h, isTypingTarget, num } from "./dom.js";
import { MprLayout, type MprHost } from "./mpr.js";
import { SHORTCUTS, TOOLS, windowOptions, type Tool } from "./tools.js";
import { StackViewport, type ViewportHost } from "./viewport.js";

export type Layout = "1x1" | "1x2" | "2x2" | "mpr";

const LAYOUTS: { layout: Layout; label: string; count: number }[] = [
  { layout: "1x1", label: "1×1", count: 1 },
  { layout: "1x2", label: "1×2", count: 2 },
  { layout: "2x2", label: "2×2", count: 4 },
  { layout: "mpr", label: "MPR", count: 3 },
];

interface Thumb {
  button: HTMLButtonElement;
  canvas: HTMLCanvasElement;
  bar: HTMLProgressElement;
  count: HTMLElement;
  state: "waiting" | "queued" | "done" | "failed";
}

export interface ReadingOptions {
  /** Series to show first (SeriesInstanceUID), when it is in the study. */
  seriesUid: string | null;
  /** The "Worklist" button. */
  onWorklist: () => void;
  /** Errors outside any viewport (shown by the page). */
  onError: (message: string) => void;
}

export class ReadingScreen {
  readonly element: HTMLElement;
  private grid: HTMLElement;
  private gridHost: HTMLElement;
  private stack: StackViewport[] = [];
  private layout: Layout = "1x1";
  private active = 0;
  private mpr: MprLayout | null = null;
  private mprActive = 0;
  private tool: Tool = "wl";
  private thumbs: Thumb[] = [];
  private thumbQueue: number[] = [];
  private thumbBusy = false;
  private unsubscribe: () => void;
  private keyHandler = (e: KeyboardEvent) => this.onKey(e);
  private cineTimer = 0;
  private firstImage = false;
  private seriesLoaded = false;
  private closed = false;
  private focus = "";
  private ui!: {
    layouts: Map<Layout, HTMLButtonElement>;
    tools: Map<Tool, HTMLButtonElement>;
    preset: HTMLSelectElement;
    invert: HTMLButtonElement;
    rotate: HTMLButtonElement;
    flipH: HTMLButtonElement;
    flipV: HTMLButtonElement;
    reset: HTMLButtonElement;
    cine: HTMLButtonElement;
    fps: HTMLInputElement;
    interp: HTMLButtonElement;
    slab: HTMLElement;
    slabMm: HTMLInputElement;
    slabMode: HTMLSelectElement;
    status: HTMLElement;
  };

  private stackHost: ViewportHost;
  private mprHost: MprHost;

  constructor(
    readonly study: Study,
    private options: ReadingOptions,
  ) {
    delete document.body.dataset.firstImage;
    delete document.body.dataset.seriesLoaded;
    const self = this;
    this.stackHost = {
      get study() {
        return self.study;
      },
      tool: () => this.tool,
      activate: (vp) => this.setActive(this.stack.indexOf(vp)),
      changed: (vp, what) => this.stackChanged(vp, what),
      rendered: (vp) => this.stackRendered(vp),
    };
    this.mprHost = {
      get study() {
        return self.study;
      },
      tool: () => this.tool,
      activate: (i) => this.setMprActive(i),
      changed: () => this.syncToolbar(),
      rendered: () => undefined,
    };

    const info = study.info;
    const header = h(
      "header",
      { class: "reading-header" },
      h("button", { type: "button", class: "back", "aria-label": "Back to the worklist", title: "Back to the worklist", text: "◀ Worklist", "data-action": "worklist" }),
      h(
        "div",
        { class: "study-title" },
        h("strong", { text: formatName(info.patient_name) || "(no name)" }),
        h("span", { text: info.patient_id ?? "" }),
        h("span", { text: formatDate(info.study_date) }),
        h("span", { text: info.study_description ?? "" }),
      ),
    );
    header.querySelector<HTMLButtonElement>("button.back")!.addEventListener("click", () => this.options.onWorklist());

    const seriesList = h("nav", { class: "series-list", "aria-label": "Series" });
    seriesList.addEventListener("mousedown", (e) => {
      if ((e.target as Element).closest("button")) e.preventDefault();
    });
    info.series.forEach((s, i) => seriesList.append(this.makeThumb(s, i)));
    if (!info.series.length) seriesList.append(h("p", { class: "hint", text: "This study has no series with images." }));

    this.grid = h("div", { class: "viewport-grid layout-1x1" });
    this.gridHost = h("div", { class: "grid-host" }, this.grid);
    this.element = h(
      "section",
      { class: "screen reading-screen", "aria-label": "Reading" },
      header,
      h("aside", { class: "series-panel" }, seriesList),
      h("div", { class: "reading-main" }, this.makeToolbar(), this.gridHost),
    );

    // The first series: the one asked for, else the first with images.
    let first = info.series.findIndex((s) => s.series_instance_uid === options.seriesUid);
    if (first < 0) first = info.series.findIndex((s) => s.images > 0);
    if (first < 0) first = 0;
    if (info.series.length) {
      this.stack.push(new StackViewport(this.stackHost, 0, first, 0));
      this.grid.append(this.stack[0].element);
      this.setActive(0);
    } else {
      this.grid.append(h("div", { class: "error-panel", role: "alert", "data-state": "error", text: "This study has no series." }));
    }

    this.unsubscribe = study.onChange((series, image) => this.onSlotChange(series, image));
    document.addEventListener("keydown", this.keyHandler);
    info.series.forEach((_, i) => {
      this.updateThumbProgress(i);
      this.maybeThumb(i);
    });
    this.setTool("wl");
    this.syncToolbar();
    this.checkSeriesLoaded();
  }

  // ---- series thumbnails ------------------------------------------------

  private makeThumb(s: SeriesInfo, i: number): HTMLButtonElement {
    const canvas = h("canvas", { width: 96, height: 96, class: "thumb-canvas", "aria-hidden": "true" });
    const bar = h("progress", { max: Math.max(1, s.images), value: 0, "aria-label": `Series ${s.series_number ?? i + 1} loaded` });
    const count = h("span", { class: "thumb-count" });
    const label = [s.series_number !== null ? `#${s.series_number}` : `#${i + 1}`, s.modality ?? ""].filter(Boolean).join(" ");
    const button = h(
      "button",
      {
        type: "button",
        class: "thumb",
        "data-series-uid": s.series_instance_uid,
        "data-series-index": i,
        title: s.volume === null && s.not_a_volume ? `Not a volume (no MPR): ${s.not_a_volume}` : `${s.series_description ?? ""} (${s.images} images)`,
        "aria-label": `Series ${label} ${s.series_description ?? ""}, ${s.images} images`.replace(/\s+/g, " "),
      },
      canvas,
      h("span", { class: "thumb-label" }, h("strong", { text: label }), " ", h("span", { text: s.series_description ?? "" })),
      h("span", { class: "thumb-meta" }, count, s.volume ? h("span", { class: "badge", text: "3D", title: "Forms a volume: MPR available" }) : null),
      bar,
    );
    button.addEventListener("click", () => this.showSeries(i));
    this.thumbs[i] = { button, canvas, bar, count, state: "waiting" };
    return button;
  }

  private updateThumbProgress(i: number): void {
    const t = this.thumbs[i];
    if (!t) return;
    const p = this.study.progress(i);
    t.bar.max = Math.max(1, p.total);
    t.bar.value = p.resident + p.failed;
    t.count.textContent = p.failed ? `${p.resident}/${p.total} (${p.failed} failed)` : `${p.resident}/${p.total}`;
    t.button.classList.toggle("has-failures", p.failed > 0);
  }

  private maybeThumb(i: number): void {
    const t = this.thumbs[i];
    if (!t || t.state !== "waiting" || !this.study.info.series[i]?.images) return;
    const slot = this.study.slot(i, 0);
    if (slot.state === "failed") {
      t.state = "failed";
      t.button.classList.add("thumb-failed");
      return;
    }
    if (slot.state !== "resident") return;
    t.state = "queued";
    this.thumbQueue.push(i);
    void this.pumpThumbs();
  }

  private async pumpThumbs(): Promise<void> {
    if (this.thumbBusy) return;
    this.thumbBusy = true;
    try {
      while (this.thumbQueue.length && !this.closed) {
        const i = this.thumbQueue.shift()!;
        const t = this.thumbs[i];
        const state: ViewportState = { series: i, image: 0, width: 96, height: 96 };
        try {
          await this.study.render(state, t.canvas);
          t.state = "done";
        } catch {
          // Evicted before its turn: try again when it is resident.
          t.state = this.study.slot(i, 0).state === "failed" ? "failed" : "waiting";
        }
      }
    } finally {
      this.thumbBusy = false;
    }
  }

  // ---- toolbar ----------------------------------------------------------

  private makeToolbar(): HTMLElement {
    const button = (label: string, title: string, attrs: Record<string, string | number | boolean> = {}) =>
      h("button", { type: "button", "aria-label": label, title, ...attrs });
    const layouts = new Map<Layout, HTMLButtonElement>();
    const layoutGroup = h("div", { class: "group", role: "group", "aria-label": "Layout" });
    for (const l of LAYOUTS) {
      const b = button(l.layout === "mpr" ? "MPR layout" : `${l.label} layout`, l.layout === "mpr" ? "MPR: axial, coronal, sagittal" : `${l.label} viewports`, {
        "data-layout": l.layout,
        "aria-pressed": "false",
      });
      b.textContent = l.label;
      b.addEventListener("click", () => this.setLayout(l.layout));
      layouts.set(l.layout, b);
      layoutGroup.append(b);
    }
    const tools = new Map<Tool, HTMLButtonElement>();
    const toolGroup = h("div", { class: "group", role: "group", "aria-label": "Tools" });
    for (const t of TOOLS) {
      const b = button(t.label, `${t.label} (${t.key})`, { "data-tool": t.tool, "aria-pressed": "false", "aria-keyshortcuts": t.key });
      b.textContent = t.label;
      b.addEventListener("click", () => this.setTool(t.tool));
      tools.set(t.tool, b);
      toolGroup.append(b);
    }
    const preset = h("select", { "aria-label": "Window preset", title: "Window preset (center/width)" });
    preset.addEventListener("change", () => {
      this.applyPreset(preset.value);
      preset.blur(); // the arrow keys go back to the images
    });

    const act = (label: string, key: string, text: string, fn: () => void, attrs: Record<string, string | number | boolean> = {}) => {
      const b = button(label, `${label} (${key})`, { "aria-keyshortcuts": key === "Space" ? "Space" : key, ...attrs });
      b.textContent = text;
      b.addEventListener("click", fn);
      return b;
    };
    const invert = act("Invert", SHORTCUTS.invert, "Invert", () => this.invert(), { "aria-pressed": "false" });
    const rotate = act("Rotate 90° clockwise", SHORTCUTS.rotate, "⟳ 90°", () => this.rotate());
    const flipH = act("Flip horizontal", SHORTCUTS.flipH, "⇆ Flip H", () => this.flip("h"), { "aria-pressed": "false" });
    const flipV = act("Flip vertical", SHORTCUTS.flipV, "⇅ Flip V", () => this.flip("v"), { "aria-pressed": "false" });
    const reset = act("Reset view", SHORTCUTS.reset, "Reset", () => this.reset());
    const cine = act("Play cine", SHORTCUTS.cine, "▶ Cine", () => this.toggleCine(), { "aria-pressed": "false" });
    const fps = h("input", { type: "number", min: 1, max: 60, step: 1, value: 10, "aria-label": "Cine frames per second", title: "Cine frames per second", class: "fps" });
    fps.addEventListener("change", () => {
      if (this.cineTimer) {
        this.stopCine();
        this.startCine();
      }
    });
    const interp = button("Interpolation", "Interpolation: linear or nearest neighbour", { "data-interpolation": "linear" });
    interp.textContent = "Linear";
    interp.addEventListener("click", () => this.toggleInterpolation());
    const slabMm = h("input", { type: "number", min: 0, max: 200, step: 1, value: 0, class: "slab-mm", "aria-label": "Slab thickness (mm)", title: "Slab thickness in mm (0: none)" });
    const slabMode = h(
      "select",
      { "aria-label": "Slab mode", title: "Slab projection" },
      h("option", { value: "mip", text: "MIP" }),
      h("option", { value: "minip", text: "MinIP" }),
      h("option", { value: "avg", text: "Average" }),
    );
    const applySlab = () => {
      const mm = Math.max(0, Number(slabMm.value) || 0);
      this.mpr?.update({ slab_mm: mm, slab_mode: slabMode.value as "mip" | "minip" | "avg" });
    };
    slabMm.addEventListener("change", applySlab);
    slabMode.addEventListener("change", applySlab);
    const slab = h("div", { class: "group slab", role: "group", "aria-label": "Slab", hidden: true }, h("span", { class: "hint", text: "Slab" }), slabMm, h("span", { class: "hint", text: "mm" }), slabMode);
    const status = h("span", { class: "reading-status", role: "status", "aria-live": "polite" });
    this.ui = { layouts, tools, preset, invert, rotate, flipH, flipV, reset, cine, fps, interp, slab, slabMm, slabMode, status };
    const toolbar = h(
      "div",
      { class: "toolbar", role: "toolbar", "aria-label": "Viewer tools" },
      layoutGroup,
      toolGroup,
      h("div", { class: "group" }, preset),
      h("div", { class: "group", role: "group", "aria-label": "View" }, invert, rotate, flipH, flipV, reset, interp),
      h("div", { class: "group", role: "group", "aria-label": "Cine" }, cine, fps, h("span", { class: "hint", text: "fps" })),
      slab,
      status,
    );
    // A mouse click on a button leaves the keyboard focus where it was, so that the
    // shortcuts (Space: cine, arrows: images) keep working; Tab still reaches them.
    toolbar.addEventListener("mousedown", (e) => {
      if ((e.target as Element).closest("button")) e.preventDefault();
    });
    return toolbar;
  }

  private activeViewport(): StackViewport | null {
    return this.layout === "mpr" ? null : (this.stack[this.active] ?? null);
  }

  /** Brings the toolbar in line with the active viewport and layout. */
  private syncToolbar(): void {
    if (this.closed) return;
    const ui = this.ui;
    const mpr = this.layout === "mpr";
    for (const [l, b] of ui.layouts) b.setAttribute("aria-pressed", String(l === this.layout));
    // MPR needs a volume in the active series.
    const series = mpr ? this.mpr!.shared.series : this.activeViewport()?.state.series;
    const s = series !== undefined ? this.study.info.series[series] : undefined;
    const mprButton = ui.layouts.get("mpr")!;
    if (!mpr) {
      mprButton.disabled = !s?.volume;
      mprButton.title = s?.volume
        ? "MPR: axial, coronal, sagittal of the active series"
        : `MPR is not available for this series: ${s?.not_a_volume ?? "it does not form a volume"}`;
    } else mprButton.disabled = false;
    for (const t of TOOLS) {
      const b = ui.tools.get(t.tool)!;
      b.disabled = mpr ? !t.mpr : !t.stack;
      b.setAttribute("aria-pressed", String(t.tool === this.tool));
    }
    for (const b of [ui.rotate, ui.flipH, ui.flipV]) b.disabled = mpr;
    ui.slab.hidden = !mpr;
    const vp = this.activeViewport();
    const window = mpr ? this.mpr!.shared.window : vp?.state.window;
    const info = vp?.info() ?? (mpr && s ? this.safeInfo(series!, 0) : null);
    const options = windowOptions(info);
    const signature = options.map((o) => o.value + o.label).join("|");
    if (ui.preset.dataset.signature !== signature) {
      ui.preset.replaceChildren(...options.map((o) => h("option", { value: o.value, text: o.label })), h("option", { value: "custom", text: "Custom", disabled: true }));
      ui.preset.dataset.signature = signature;
    }
    const match = window ? options.find((o) => o.window && o.window.center === window.center && o.window.width === window.width) : options[0];
    const custom = ui.preset.querySelector<HTMLOptionElement>('option[value="custom"]')!;
    custom.textContent = window ? `Custom (${num(window.center)}/${num(window.width)})` : "Custom";
    ui.preset.value = match ? match.value : "custom";
    const invert = mpr ? this.mpr!.shared.invert : !!vp?.state.invert;
    ui.invert.setAttribute("aria-pressed", String(invert));
    ui.flipH.setAttribute("aria-pressed", String(!!vp?.state.flip_horizontal));
    ui.flipV.setAttribute("aria-pressed", String(!!vp?.state.flip_vertical));
    const interp = mpr ? this.mpr!.shared.interpolation : (vp?.state.interpolation ?? "linear");
    ui.interp.textContent = interp === "nearest" ? "Nearest" : "Linear";
    ui.interp.dataset.interpolation = interp;
    ui.interp.setAttribute("aria-label", `Interpolation: ${interp}`);
    ui.cine.disabled = mpr;
    ui.cine.setAttribute("aria-pressed", String(!!this.cineTimer));
    ui.cine.textContent = this.cineTimer ? "⏸ Cine" : "▶ Cine";
    ui.cine.setAttribute("aria-label", this.cineTimer ? "Pause cine" : "Play cine");
    for (const [i, t] of this.thumbs.entries()) t.button.classList.toggle("current", i === series);
  }

  private safeInfo(series: number, image: number) {
    try {
      return this.study.imageInfo(series, image);
    } catch {
      return null;
    }
  }

  // ---- viewports --------------------------------------------------------

  private setActive(i: number): void {
    if (i < 0 || i >= this.stack.length) return;
    this.active = i;
    this.stack.forEach((vp, k) => vp.setActive(k === i));
    this.updateFocus();
    this.syncToolbar();
  }

  private setMprActive(i: number): void {
    this.mprActive = i;
    this.mpr?.views.forEach((v, k) => v.setActive(k === i));
  }

  /** Tells the core which image is in view, so that loading starts around it. */
  private updateFocus(): void {
    const vp = this.activeViewport();
    let series: number;
    let image: number;
    if (vp) {
      series = vp.state.series;
      image = vp.state.image;
    } else if (this.mpr) {
      series = this.mpr.shared.series;
      image = Math.floor((this.study.info.series[series]?.images ?? 0) / 2);
    } else return;
    const key = `${series}:${image}`;
    if (key === this.focus) return;
    this.focus = key;
    try {
      this.study.setFocus(series, image);
    } catch (e) {
      this.options.onError(errorMessage(e));
    }
  }

  private stackChanged(vp: StackViewport, what: "image" | "series" | "view"): void {
    if (this.closed) return;
    if (this.stack[this.active] === vp) {
      if (what !== "view") this.updateFocus();
      this.syncToolbar();
    }
    if (what === "series" && vp === this.stack[0]) this.checkSeriesLoaded();
  }

  private stackRendered(vp: StackViewport): void {
    if (this.firstImage || vp !== this.stack[0]) return;
    this.firstImage = true;
    performance.mark("lumen:first-image");
    document.body.dataset.firstImage = "1";
  }

  /** The series shown in the first viewport. */
  private displayedSeries(): number | null {
    if (this.layout === "mpr" && this.mpr) return this.mpr.shared.series;
    return this.stack[0]?.state.series ?? null;
  }

  private checkSeriesLoaded(): void {
    if (this.seriesLoaded) return;
    const s = this.displayedSeries();
    if (s === null) return;
    const p = this.study.progress(s);
    if (p.total > 0 && p.resident + p.failed >= p.total) {
      this.seriesLoaded = true;
      performance.mark("lumen:series-loaded");
      document.body.dataset.seriesLoaded = "1";
    }
  }

  private onSlotChange(series: number, image: number): void {
    if (this.closed) return;
    for (const vp of this.stack) vp.onSlotChange(series, image);
    this.mpr?.onSlotChange(series);
    this.updateThumbProgress(series);
    if (image === 0) this.maybeThumb(series);
    this.checkSeriesLoaded();
    const p = this.study.progress(series);
    this.ui.status.textContent = p.resident + p.failed < p.total ? `Loading series ${this.study.info.series[series]?.series_number ?? series + 1}: ${p.resident}/${p.total}` : "";
  }

  /** Puts series `i` in the active viewport (or rebuilds the MPR on it). */
  showSeries(i: number): void {
    if (this.layout === "mpr") {
      if (!this.study.info.series[i]?.volume) {
        this.setLayout("1x1");
        this.stack[this.active]?.setSeries(i, 0);
        return;
      }
      this.mpr?.destroy();
      this.mpr = null;
      this.stack[this.active]?.setSeries(i, 0);
      this.setLayout("mpr");
      return;
    }
    this.stack[this.active]?.setSeries(i, 0);
  }

  setLayout(layout: Layout): void {
    if (this.closed || !this.study.info.series.length) return;
    const current = this.stack[this.active];
    if (layout === "mpr") {
      const series = this.layout === "mpr" && this.mpr ? this.mpr.shared.series : current.state.series;
      const s = this.study.info.series[series];
      if (!s?.volume) {
        this.options.onError(`MPR is not available for this series: ${s?.not_a_volume ?? "it does not form a volume"}`);
        return;
      }
      if (this.layout === "mpr" && this.mpr) return;
      this.stopCine();
      let mpr: MprLayout;
      try {
        mpr = new MprLayout(this.mprHost, series, {
          window: current.state.window,
          invert: current.state.invert,
          interpolation: current.state.interpolation,
          slab_mm: Math.max(0, Number(this.ui.slabMm.value) || 0),
          slab_mode: this.ui.slabMode.value as "mip" | "minip" | "avg",
        });
      } catch (e) {
        this.options.onError(`MPR: ${errorMessage(e)}`);
        return;
      }
      this.mpr = mpr;
      this.layout = "mpr";
      const tool = TOOLS.find((t) => t.tool === this.tool);
      if (!tool?.mpr) this.tool = "crosshair";
      this.grid = mpr.element;
      this.gridHost.replaceChildren(this.grid);
      this.setMprActive(0);
      mpr.refresh();
      this.focus = "";
      this.updateFocus();
      this.setTool(this.tool);
      return;
    }
    const count = LAYOUTS.find((l) => l.layout === layout)!.count;
    if (this.mpr) {
      this.mpr.destroy();
      this.mpr = null;
    }
    const seriesCount = this.study.info.series.length;
    while (this.stack.length < count) {
      const shown = new Set(this.stack.map((v) => v.state.series));
      let next = this.study.info.series.findIndex((s, i) => s.images > 0 && !shown.has(i));
      if (next < 0) next = this.stack[this.stack.length - 1].state.series % seriesCount;
      const vp = new StackViewport(this.stackHost, this.stack.length, next, 0);
      vp.update({ interpolation: current.state.interpolation });
      this.stack.push(vp);
    }
    this.layout = layout;
    this.grid = h("div", { class: `viewport-grid layout-${layout}` }, ...this.stack.slice(0, count).map((v) => v.element));
    this.gridHost.replaceChildren(this.grid);
    for (const v of this.stack.slice(0, count)) v.refresh();
    if (this.active >= count) this.active = 0;
    if (!TOOLS.find((t) => t.tool === this.tool)?.stack) this.tool = "wl";
    this.focus = "";
    this.setActive(this.active);
    this.setTool(this.tool);
    this.checkSeriesLoaded();
  }

  setTool(tool: Tool): void {
    const spec = TOOLS.find((t) => t.tool === tool);
    if (!spec) return;
    if (this.layout === "mpr" ? !spec.mpr : !spec.stack) return;
    this.tool = tool;
    for (const vp of this.stack) vp.toolChanged(tool);
    if (this.mpr) for (const v of this.mpr.views) v.element.dataset.tool = tool;
    this.syncToolbar();
  }

  private applyPreset(value: string): void {
    const info = this.activeViewport()?.info() ?? null;
    const option = windowOptions(info).find((o) => o.value === value);
    if (!option) return;
    const w = option.window ?? undefined;
    if (this.mpr) this.mpr.setWindow(w);
    else this.activeViewport()?.update({ window: w });
  }

  private invert(): void {
    if (this.mpr) this.mpr.update({ invert: !this.mpr.shared.invert });
    else {
      const vp = this.activeViewport();
      vp?.update({ invert: !vp.state.invert });
    }
  }

  private rotate(): void {
    const vp = this.activeViewport();
    if (vp) vp.update({ rotation: ((vp.state.rotation ?? 0) + 90) % 360 });
  }

  private flip(axis: "h" | "v"): void {
    const vp = this.activeViewport();
    if (!vp) return;
    if (axis === "h") vp.update({ flip_horizontal: !vp.state.flip_horizontal });
    else vp.update({ flip_vertical: !vp.state.flip_vertical });
  }

  private reset(): void {
    if (this.mpr) this.mpr.reset();
    else this.activeViewport()?.resetView();
  }

  private toggleInterpolation(): void {
    if (this.mpr) {
      this.mpr.update({ interpolation: this.mpr.shared.interpolation === "nearest" ? "linear" : "nearest" });
      return;
    }
    const next = this.activeViewport()?.state.interpolation === "nearest" ? "linear" : "nearest";
    for (const vp of this.stack) vp.update({ interpolation: next });
  }

  private toggleCine(): void {
    if (this.cineTimer) this.stopCine();
    else this.startCine();
  }

  private startCine(): void {
    if (this.layout === "mpr" || this.closed) return;
    const fps = Math.min(60, Math.max(1, Number(this.ui.fps.value) || 10));
    this.cineTimer = window.setInterval(() => this.activeViewport()?.step(1, true), 1000 / fps);
    this.syncToolbar();
  }

  private stopCine(): void {
    if (!this.cineTimer) return;
    clearInterval(this.cineTimer);
    this.cineTimer = 0;
    this.syncToolbar();
  }

  private onKey(e: KeyboardEvent): void {
    if (this.closed || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (isTypingTarget(e.target)) return;
    if (e.target instanceof HTMLButtonElement && (e.key === " " || e.key === "Enter")) return;
    const vp = this.activeViewport();
    const mprView = this.mpr?.views[this.mprActive];
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const tool = TOOLS.find((t) => t.key === key);
    if (tool) this.setTool(tool.tool);
    else
      switch (key) {
        case "ArrowUp":
        case "PageUp":
          if (mprView) mprView.stepAlongNormal(-1);
          else vp?.step(-1);
          break;
        case "ArrowDown":
        case "PageDown":
          if (mprView) mprView.stepAlongNormal(1);
          else vp?.step(1);
          break;
        case "Home":
          vp?.setImage(0);
          break;
        case "End":
          vp?.setImage(vp.imageCount() - 1);
          break;
        case "i":
          this.invert();
          break;
        case "r":
          this.rotate();
          break;
        case "h":
          this.flip("h");
          break;
        case "v":
          this.flip("v");
          break;
        case "0":
          this.reset();
          break;
        case " ":
          this.toggleCine();
          break;
        default:
          return;
      }
    e.preventDefault();
  }

  /** For tests and hosts: each shown viewport's element and state. */
  viewports(): { element: HTMLElement; state: ViewportState | MprState }[] {
    if (this.mpr) return this.mpr.views.map((v) => ({ element: v.element, state: v.state() }));
    const count = LAYOUTS.find((l) => l.layout === this.layout)!.count;
    return this.stack.slice(0, count).map((v) => ({ element: v.element, state: { ...v.state } }));
  }

  /** Stops everything and closes the study. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopCine();
    document.removeEventListener("keydown", this.keyHandler);
    this.unsubscribe();
    for (const vp of this.stack) vp.destroy();
    this.mpr?.destroy();
    this.element.remove();
    try {
      this.study.close();
    } catch (e) {
      console.warn("lumen: closing the study failed", e);
    }
  }
}
