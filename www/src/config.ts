// The viewer's configuration: `config.json` next to the page (optional), then URL
// parameters on top of it.
//
// config.json: { "dicomweb": { "base_url": "/dicom-web", "bearer_token"?: "...",
//   "headers"?: [["k", "v"]], "wado_uri_url"?: "...", "timeout_ms"?: 30000 },
//   "budget_mb": 1024, "max_in_flight"?: 6 }
// URL: ?dicomweb=<base URL>&study=<StudyInstanceUID>&series=<SeriesInstanceUID>
//      &backend=webgpu|webgl2|cpu|auto
import type { ServerConfig } from "./api.js";
import { errorMessage } from "./dom.js";

export type Backend = "auto" | "webgpu" | "webgl2" | "cpu";

export interface ViewerConfig {
  /** The DICOMweb server (base_url made absolute against the page). */
  server: ServerConfig;
  /** Byte budget of an opened study, in MiB. */
  budgetMb: number;
  /** Requests in flight (else chosen from the connection's protocol). */
  maxInFlight?: number;
  backend: Backend;
  /** Problems with config.json that fell back to defaults (shown, never fatal). */
  warnings: string[];
}

export const DEFAULT_CONFIG = { dicomweb: { base_url: "/dicom-web" }, budget_mb: 1024 } as const;

function absolute(url: string): string {
  try {
    return new URL(url, location.href).href.replace(/\/+$/, "");
  } catch {
    return url;
  }
}

function serverFrom(raw: unknown, warnings: string[]): ServerConfig {
  const server: ServerConfig = { base_url: DEFAULT_CONFIG.dicomweb.base_url };
  if (raw === undefined) return server;
  if (!raw || typeof raw !== "object") {
    warnings.push("config.json: \"dicomweb\" is not an object");
    return server;
  }
  const r = raw as Record<string, unknown>;
  if (typeof r.base_url === "string" && r.base_url) server.base_url = r.base_url;
  else if (r.base_url !== undefined) warnings.push("config.json: dicomweb.base_url is not a string");
  if (typeof r.bearer_token === "string" && r.bearer_token) server.bearer_token = r.bearer_token;
  if (Array.isArray(r.headers)) {
    const headers = r.headers.filter(
      (p): p is [string, string] => Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && typeof p[1] === "string",
    );
    if (headers.length !== r.headers.length) warnings.push("config.json: dicomweb.headers must be [[name, value], …]");
    if (headers.length) server.headers = headers;
  }
  if (typeof r.wado_uri_url === "string" && r.wado_uri_url) server.wado_uri_url = r.wado_uri_url;
  if (typeof r.timeout_ms === "number" && r.timeout_ms > 0) server.timeout_ms = r.timeout_ms;
  return server;
}

async function fetchConfigJson(warnings: string[]): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch("config.json", { cache: "no-store" });
  } catch (e) {
    warnings.push(`config.json: ${errorMessage(e)}; using defaults`);
    return {};
  }
  if (!res.ok) {
    if (res.status !== 404) warnings.push(`config.json: HTTP ${res.status}; using defaults`);
    return {};
  }
  try {
    const json: unknown = await res.json();
    if (!json || typeof json !== "object" || Array.isArray(json)) throw new Error("not a JSON object");
    return json as Record<string, unknown>;
  } catch (e) {
    warnings.push(`config.json is not valid: ${errorMessage(e)}; using defaults`);
    return {};
  }
}

export function parseBackend(v: string | null): Backend {
  return v === "webgpu" || v === "webgl2" || v === "cpu" ? v : "auto";
}

/** config.json (optional) with the URL parameters applied. */
export async function loadConfig(params: URLSearchParams): Promise<ViewerConfig> {
  const warnings: string[] = [];
  const json = await fetchConfigJson(warnings);
  const server = serverFrom(json.dicomweb, warnings);
  let budgetMb: number = DEFAULT_CONFIG.budget_mb;
  if (typeof json.budget_mb === "number" && json.budget_mb > 0) budgetMb = json.budget_mb;
  else if (json.budget_mb !== undefined) warnings.push("config.json: budget_mb must be a positive number");
  let maxInFlight: number | undefined;
  if (typeof json.max_in_flight === "number" && Number.isInteger(json.max_in_flight) && json.max_in_flight >= 1 && json.max_in_flight <= 64) maxInFlight = json.max_in_flight;
  else if (json.max_in_flight !== undefined) warnings.push("config.json: max_in_flight must be an integer from 1 to 64");
  let backend = parseBackend(typeof json.backend === "string" ? json.backend : null);
  const dicomweb = params.get("dicomweb");
  if (dicomweb) server.base_url = dicomweb;
  server.base_url = absolute(server.base_url);
  if (params.has("backend")) backend = parseBackend(params.get("backend"));
  return { server, budgetMb, maxInFlight, backend, warnings };
}
