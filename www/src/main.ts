// The Lumen viewer page (index.html): configuration, the core, and routing between
// the worklist (no `study` parameter) and the reading screen (`?study=<uid>`).
//
// window.lumen, for tests and embedding hosts:
//   core          the Core from createCore(), null until it has started
//   study         the Study open in the reading screen, or null
//   viewports()   [{ element, state }] of the viewports shown: ViewportState for
//                 stacks, MprState in the MPR layout ([] on the worklist)
//   openStudy(uid, seriesUid?)  opens a study (pushes ?study= to the history)
//   config        the effective configuration (config.json + URL parameters)
//
// URL parameters: dicomweb=<DICOMweb base URL>, study=<StudyInstanceUID>,
// series=<SeriesInstanceUID>, backend=webgpu|webgl2|auto (see config.ts).
// Every failure is shown on the page (role="alert"); nothing is left uncaught.
import type { Core, MprState, Study, ViewportState } from "./api.js";
import { loadConfig, type ViewerConfig } from "./config.js";
import { errorMessage, h } from "./dom.js";
import { ReadingScreen } from "./reading.js";
import { Worklist } from "./worklist.js";

export interface LumenGlobal {
  readonly core: Core | null;
  readonly study: Study | null;
  viewports(): { element: HTMLElement; state: ViewportState | MprState }[];
  openStudy(uid: string, seriesUid?: string): void;
  readonly config: ViewerConfig | null;
}

const screens = document.getElementById("screens")!;
const notices = document.getElementById("notices")!;

let core: Core | null = null;
let config: ViewerConfig | null = null;
let worklist: Worklist | null = null;
let reading: ReadingScreen | null = null;
let routeGeneration = 0;
let transient: HTMLElement | null = null; // "Opening study…" or its error

const lumen: LumenGlobal = {
  get core() {
    return core;
  },
  get study() {
    return reading?.study ?? null;
  },
  viewports: () => reading?.viewports() ?? [],
  openStudy: (uid, seriesUid) => openStudy(uid, seriesUid ?? null),
  get config() {
    return config;
  },
};
(window as unknown as { lumen: LumenGlobal }).lumen = lumen;

/** A dismissible notice at the top of the page (errors outside any panel). */
function notify(message: string, kind: "error" | "warning" = "error"): void {
  const close = h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss", text: "×" });
  const el = h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", { text: message }), close);
  close.addEventListener("click", () => el.remove());
  notices.append(el);
  while (notices.childElementCount > 4) notices.firstElementChild?.remove();
}

/** A full-screen error panel, with optional actions. */
function errorScreen(title: string, message: string, actions: HTMLElement[] = []): HTMLElement {
  return h(
    "section",
    { class: "screen message-screen" },
    h("div", { class: "error-panel", role: "alert", "data-state": "error" }, h("h2", { text: title }), h("p", { class: "error-text", text: message }), ...actions),
  );
}

// The safety net: anything that escapes is shown rather than lost in the console.
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  notify(errorMessage(e.reason));
});
window.addEventListener("error", (e) => notify(e.message || errorMessage(e.error)));

function urlFor(study: string | null, series: string | null = null): string {
  const u = new URL(location.href);
  u.searchParams.delete("study");
  u.searchParams.delete("series");
  if (study) u.searchParams.set("study", study);
  if (study && series) u.searchParams.set("series", series);
  return u.pathname + u.search + u.hash;
}

function openStudy(uid: string, seriesUid: string | null): void {
  history.pushState({ lumen: "study", fromWorklist: !reading && !!worklist && !worklist.element.hidden }, "", urlFor(uid, seriesUid));
  void route();
}

function backToWorklist(): void {
  const state = history.state as { fromWorklist?: boolean } | null;
  if (state?.fromWorklist) history.back();
  else {
    history.pushState({ lumen: "worklist" }, "", urlFor(null));
    void route();
  }
}

function closeReading(): void {
  if (reading) {
    reading.close();
    reading = null;
  }
  transient?.remove();
  transient = null;
  delete document.body.dataset.firstImage;
  delete document.body.dataset.seriesLoaded;
}

function showWorklist(): void {
  if (!core || !config) return;
  if (!worklist) {
    worklist = new Worklist(core, config.server, (uid) => openStudy(uid, null));
    screens.append(worklist.element);
  }
  document.title = "Lumen: worklist";
  document.body.dataset.screen = "worklist";
  worklist.show();
}

async function route(): Promise<void> {
  if (!core || !config) return;
  const generation = ++routeGeneration;
  const params = new URLSearchParams(location.search);
  const uid = params.get("study");
  closeReading();
  if (!uid) {
    showWorklist();
    return;
  }
  worklist?.hide();
  document.body.dataset.screen = "reading";
  document.title = "Lumen: opening study…";
  transient = h("section", { class: "screen message-screen" }, h("p", { class: "opening", role: "status", text: `Opening study ${uid} …` }));
  screens.append(transient);
  const back = () => {
    const b = h("button", { type: "button", text: "◀ Worklist", "aria-label": "Back to the worklist" });
    b.addEventListener("click", backToWorklist);
    return b;
  };
  let study: Study;
  try {
    study = await core.openStudy(config.server, uid, { budgetBytes: Math.round(config.budgetMb * 1024 * 1024), maxInFlight: config.maxInFlight });
  } catch (e) {
    if (generation !== routeGeneration) return;
    transient?.remove();
    transient = errorScreen("Cannot open the study", errorMessage(e), [back()]);
    screens.append(transient);
    document.title = "Lumen: error";
    return;
  }
  if (generation !== routeGeneration) {
    try {
      study.close();
    } catch {
      /* already gone */
    }
    return;
  }
  transient?.remove();
  transient = null;
  try {
    reading = new ReadingScreen(study, {
      seriesUid: params.get("series"),
      onWorklist: backToWorklist,
      onError: (m) => notify(m),
    });
  } catch (e) {
    try {
      study.close();
    } catch {
      /* ignore */
    }
    transient = errorScreen("Cannot show the study", errorMessage(e), [back()]);
    screens.append(transient);
    return;
  }
  screens.append(reading.element);
  const name = study.info.patient_name?.split("=")[0].replaceAll("^", " ").trim();
  document.title = `Lumen: ${name || study.info.study_description || uid}`;
}

async function boot(): Promise<void> {
  const starting = document.getElementById("boot");
  config = await loadConfig(new URLSearchParams(location.search));
  for (const w of config.warnings) notify(w, "warning");
  try {
    const { createCore } = await import("./core.js");
    core = await createCore({ backend: config.backend });
  } catch (e) {
    starting?.remove();
    screens.append(errorScreen("The viewer could not start", errorMessage(e)));
    document.body.dataset.state = "error";
    return;
  }
  starting?.remove();
  const version = document.getElementById("lumen-version");
  if (version) {
    version.textContent = `${core.version} · ${core.backend}`;
    version.dataset.version = core.version;
    version.dataset.backend = core.backend;
  }
  document.body.dataset.state = "ready";
  window.addEventListener("popstate", () => void route().catch((e) => notify(errorMessage(e))));
  await route();
}

boot().catch((e) => {
  screens.append(errorScreen("The viewer could not start", errorMessage(e)));
  document.body.dataset.state = "error";
});
