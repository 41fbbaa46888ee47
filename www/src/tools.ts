// Tools, window presets and keyboard shortcuts of the reading screen.
import type { ImageInfo, WindowPreset } from "./api.js";

/** What a primary-button drag (or click) does in a viewport. */
export type Tool = "wl" | "pan" | "zoom" | "scroll" | "length" | "probe" | "crosshair" | "oblique";

export interface ToolSpec {
  tool: Tool;
  label: string;
  key: string;
  /** Available in stack viewports / in MPR viewports. */
  stack: boolean;
  mpr: boolean;
}

export const TOOLS: ToolSpec[] = [
  { tool: "wl", label: "Window/Level", key: "w", stack: true, mpr: true },
  { tool: "pan", label: "Pan", key: "p", stack: true, mpr: true },
  { tool: "zoom", label: "Zoom", key: "z", stack: true, mpr: true },
  { tool: "scroll", label: "Scroll", key: "s", stack: true, mpr: true },
  { tool: "length", label: "Length", key: "l", stack: true, mpr: false },
  { tool: "probe", label: "Probe", key: "b", stack: true, mpr: false },
  { tool: "crosshair", label: "Crosshair", key: "c", stack: false, mpr: true },
  /** Drag around the crosshair: the other two planes turn about this view's normal (oblique MPR). */
  { tool: "oblique", label: "Oblique", key: "o", stack: false, mpr: true },
];

/** Named windows (center/width) for CT. */
export const WINDOW_PRESETS: { id: string; label: string; center: number; width: number }[] = [
  { id: "brain", label: "CT brain", center: 40, width: 80 },
  { id: "subdural", label: "CT subdural", center: 75, width: 215 },
  { id: "stroke", label: "CT stroke", center: 40, width: 40 },
  { id: "lung", label: "CT lung", center: -600, width: 1500 },
  { id: "mediastinum", label: "CT mediastinum", center: 50, width: 350 },
  { id: "abdomen", label: "CT abdomen", center: 60, width: 400 },
  { id: "liver", label: "CT liver", center: 60, width: 160 },
  { id: "bone", label: "CT bone", center: 400, width: 1800 },
];

export interface WindowOption {
  /** `default`, `preset:<id>` or `file:<n>`. */
  value: string;
  label: string;
  window: { center: number; width: number } | null;
}

/** The options of the window preset select for an image (its own windows after the named ones). */
export function windowOptions(info: ImageInfo | null): WindowOption[] {
  const out: WindowOption[] = [{ value: "default", label: "Default window", window: null }];
  for (const p of WINDOW_PRESETS)
    out.push({ value: `preset:${p.id}`, label: `${p.label} (${p.center}/${p.width})`, window: { center: p.center, width: p.width } });
  (info?.windows ?? []).forEach((w: WindowPreset, i) =>
    out.push({
      value: `file:${i}`,
      label: `File ${i + 1}: ${w.explanation || `${w.center}/${w.width}`}`,
      window: { center: w.center, width: w.width },
    }),
  );
  return out;
}

/** The window an image is shown with when none is chosen, when the core or the file says. */
export function defaultWindow(info: ImageInfo | null): { center: number; width: number } | null {
  if (!info) return null;
  if (info.default_window) return info.default_window;
  const w = info.windows[0];
  return w ? { center: w.center, width: w.width } : null;
}

/** Keyboard shortcuts other than the tools', for titles and the help text. */
export const SHORTCUTS = {
  previous: "ArrowUp / PageUp",
  next: "ArrowDown / PageDown",
  first: "Home",
  last: "End",
  invert: "i",
  rotate: "r",
  flipH: "h",
  flipV: "v",
  reset: "0",
  cine: "Space",
} as const;
