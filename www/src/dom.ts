// Small DOM and formatting helpers shared by the viewer's screens.

/** Creates an element with attributes (`text` sets textContent) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined | null> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** The message of anything thrown or rejected. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

/** DICOM DA (YYYYMMDD) → YYYY-MM-DD; anything else unchanged. */
export function formatDate(da: string | null | undefined): string {
  if (!da) return "";
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/** DICOM PN (Family^Given^Middle^Prefix^Suffix, possibly with = groups) → "Family, Given Middle". */
export function formatName(pn: string | null | undefined): string {
  if (!pn) return "";
  const alphabetic = pn.split("=")[0];
  const [family = "", given = "", middle = "", prefix = "", suffix = ""] = alphabetic.split("^");
  const rest = [prefix, given, middle, suffix].filter(Boolean).join(" ");
  return family && rest ? `${family}, ${rest}` : family || rest || pn;
}

/** A number for display: at most `digits` decimals, no trailing zeros. */
export function num(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return String(v);
  return String(Math.round(v * 10 ** digits) / 10 ** digits);
}

/** Whether a key event comes from a text field or a select (the viewer's shortcuts stay out of those). */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = (target as HTMLInputElement).type;
    return !["button", "checkbox", "radio", "range", "submit", "reset"].includes(type);
  }
  return false;
}
