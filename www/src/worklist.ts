// The worklist: QIDO-RS study search through `core.searchStudies`, server paging
// (limit/offset), client-side sorting of the page, keyboard navigation.
//
// DOM contract (tests rely on it): the table is `#worklist` with `data-state`
// ("loading" | "ready" | "error"), `data-offset` (offset of the page shown) and
// `data-query` (the QIDO parameters of the page shown, JSON); each
// row is `<tr data-study-uid="…">`; Next/Previous are `#wl-next` / `#wl-prev`; the
// filter inputs are `#wl-name`, `#wl-id`, `#wl-accession`, `#wl-date`, `#wl-from`,
// `#wl-to`, `#wl-modality`, `#wl-description`.
import type { Core, ServerConfig, StudyRow } from "./api.js";
import { errorMessage, formatDate, formatName, h } from "./dom.js";

export const PAGE_SIZE = 50;

type SortKey = "date" | "name" | "id" | "description" | "modality";

interface Column {
  key: SortKey | null;
  label: string;
  cell: (r: StudyRow) => string;
}

const COLUMNS: Column[] = [
  { key: "name", label: "Patient name", cell: (r) => formatName(r.patient_name) },
  { key: "id", label: "Patient ID", cell: (r) => r.patient_id ?? "" },
  { key: "date", label: "Study date", cell: (r) => formatDate(r.study_date) },
  { key: null, label: "Accession", cell: (r) => r.accession_number ?? "" },
  { key: "description", label: "Description", cell: (r) => r.study_description ?? "" },
  { key: "modality", label: "Modalities", cell: (r) => r.modalities_in_study.join(", ") },
  {
    key: null,
    label: "Series / images",
    cell: (r) => `${r.number_of_series ?? "?"} / ${r.number_of_instances ?? "?"}`,
  },
];

function sortValue(r: StudyRow, key: SortKey): string {
  switch (key) {
    case "date":
      return r.study_date ?? "";
    case "name":
      return (r.patient_name ?? "").toLowerCase();
    case "id":
      return (r.patient_id ?? "").toLowerCase();
    case "description":
      return (r.study_description ?? "").toLowerCase();
    case "modality":
      return r.modalities_in_study.join(",");
  }
}

/** YYYYMMDD of a local date. */
function da(d: Date): string {
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, "0")}${String(d.getDate()).padStart(2, "0")}`;
}

/** `<input type=date>` value (YYYY-MM-DD) → YYYYMMDD, or "" */
function fromDateInput(v: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(v) ? v.replaceAll("-", "") : "";
}

function toDateInput(v: string): string {
  return v ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}` : "";
}

/** A prefix match unless the user wrote wildcards. */
function prefix(v: string): string {
  return /[*?]/.test(v) ? v : `${v}*`;
}

export class Worklist {
  readonly element: HTMLElement;
  private table: HTMLTableElement;
  private tbody: HTMLTableSectionElement;
  private status: HTMLElement;
  private errorBox: HTMLElement;
  private prev: HTMLButtonElement;
  private next: HTMLButtonElement;
  private inputs: Record<string, HTMLInputElement | HTMLSelectElement> = {};
  private rows: StudyRow[] = [];
  private offset = 0;
  private selected = -1;
  private sort: { key: SortKey; dir: 1 | -1 } | null = null;
  private generation = 0;
  private loaded = false;

  constructor(
    private core: Core,
    private server: ServerConfig,
    private open: (uid: string) => void,
  ) {
    const field = (id: string, label: string, input: HTMLInputElement | HTMLSelectElement) => {
      input.id = id;
      this.inputs[id] = input;
      return h("label", { class: "field" }, h("span", { text: label }), input);
    };
    const dateSelect = h(
      "select",
      {},
      h("option", { value: "any", text: "Any date" }),
      h("option", { value: "today", text: "Today" }),
      h("option", { value: "week", text: "Last 7 days" }),
      h("option", { value: "range", text: "From/to" }),
    );
    const modality = h("input", { type: "text", list: "wl-modalities", placeholder: "CT, MR…", size: 6, autocomplete: "off" });
    const modalities = h("datalist", { id: "wl-modalities" });
    for (const m of ["CT", "MR", "CR", "DX", "US", "NM", "PT", "XA", "RF", "MG", "OT", "SC", "SM"]) modalities.append(h("option", { value: m }));
    const form = h(
      "form",
      { class: "wl-filters", role: "search", "aria-label": "Study search" },
      field("wl-name", "Patient name", h("input", { type: "search", placeholder: "DOE^JOHN", autocomplete: "off" })),
      field("wl-id", "Patient ID", h("input", { type: "search", autocomplete: "off" })),
      field("wl-accession", "Accession", h("input", { type: "search", autocomplete: "off" })),
      field("wl-date", "Study date", dateSelect),
      field("wl-from", "From", h("input", { type: "date" })),
      field("wl-to", "To", h("input", { type: "date" })),
      field("wl-modality", "Modality", modality),
      modalities,
      field("wl-description", "Description", h("input", { type: "search", autocomplete: "off" })),
      h("div", { class: "wl-actions" }, h("button", { type: "submit", text: "Search" }), h("button", { type: "reset", text: "Clear" })),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.offset = 0;
      void this.search();
    });
    form.addEventListener("reset", () => {
      setTimeout(() => {
        this.offset = 0;
        void this.search();
      });
    });
    dateSelect.addEventListener("change", () => this.applyDatePreset(dateSelect.value));
    for (const id of ["wl-from", "wl-to"])
      this.inputs[id].addEventListener("change", () => {
        dateSelect.value = "range";
      });

    const headRow = h("tr");
    for (const c of COLUMNS) {
      if (!c.key) {
        headRow.append(h("th", { scope: "col", text: c.label }));
        continue;
      }
      const key = c.key;
      const button = h("button", { type: "button", class: "sort", text: c.label, title: `Sort by ${c.label.toLowerCase()}` });
      button.addEventListener("click", () => this.sortBy(key));
      headRow.append(h("th", { scope: "col", "data-sort": key, "aria-sort": "none" }, button));
    }
    this.tbody = h("tbody");
    this.table = h(
      "table",
      { id: "worklist", class: "worklist", tabindex: 0, "aria-label": "Studies", "data-state": "loading", "aria-describedby": "wl-help" },
      h("thead", {}, headRow),
      this.tbody,
    );
    this.table.addEventListener("keydown", (e) => this.onKey(e));
    this.status = h("p", { class: "wl-status", role: "status", "aria-live": "polite" });
    this.errorBox = h("div", { class: "error-panel", role: "alert", hidden: true });
    this.prev = h("button", { id: "wl-prev", type: "button", text: "◀ Previous", disabled: true, title: "Previous page" });
    this.next = h("button", { id: "wl-next", type: "button", text: "Next ▶", disabled: true, title: "Next page" });
    this.prev.addEventListener("click", () => {
      this.offset = Math.max(0, this.offset - PAGE_SIZE);
      void this.search();
    });
    this.next.addEventListener("click", () => {
      this.offset += PAGE_SIZE;
      void this.search();
    });
    this.element = h(
      "section",
      { class: "screen worklist-screen", "aria-label": "Worklist" },
      form,
      this.errorBox,
      h("div", { class: "wl-table-wrap" }, this.table),
      h(
        "div",
        { class: "wl-pager" },
        this.prev,
        this.status,
        this.next,
        h("span", { id: "wl-help", class: "hint", text: "↑/↓ select · Enter or double-click opens" }),
      ),
    );
  }

  /** Shows the worklist; the first time, runs the search. */
  show(): void {
    this.element.hidden = false;
    if (!this.loaded) {
      this.loaded = true;
      void this.search();
    }
    const row = this.tbody.rows[this.selected];
    (row ?? this.table).focus({ preventScroll: false });
  }

  hide(): void {
    this.element.hidden = true;
  }

  private applyDatePreset(v: string): void {
    const from = this.inputs["wl-from"] as HTMLInputElement;
    const to = this.inputs["wl-to"] as HTMLInputElement;
    const today = new Date();
    if (v === "any") from.value = to.value = "";
    else if (v === "today") from.value = to.value = toDateInput(da(today));
    else if (v === "week") {
      const start = new Date(today);
      start.setDate(today.getDate() - 6);
      from.value = toDateInput(da(start));
      to.value = toDateInput(da(today));
    }
  }

  /** The QIDO-RS parameters of the filters and page. */
  params(): [string, string][] {
    const v = (id: string) => this.inputs[id].value.trim();
    const p: [string, string][] = [];
    if (v("wl-name")) p.push(["PatientName", prefix(v("wl-name"))]);
    if (v("wl-id")) p.push(["PatientID", prefix(v("wl-id"))]);
    if (v("wl-accession")) p.push(["AccessionNumber", v("wl-accession")]);
    const from = fromDateInput(v("wl-from"));
    const to = fromDateInput(v("wl-to"));
    if (from || to) p.push(["StudyDate", from === to ? from : `${from}-${to}`]);
    if (v("wl-modality")) p.push(["ModalitiesInStudy", v("wl-modality").toUpperCase()]);
    if (v("wl-description")) {
      const d = v("wl-description");
      p.push(["StudyDescription", /[*?]/.test(d) ? d : `*${d}*`]);
    }
    p.push(["limit", String(PAGE_SIZE)], ["offset", String(this.offset)]);
    for (const f of ["StudyDescription", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"]) p.push(["includefield", f]);
    return p;
  }

  /** Runs the query for the current filters and offset. */
  async search(): Promise<void> {
    const generation = ++this.generation;
    this.table.dataset.state = "loading";
    this.table.setAttribute("aria-busy", "true");
    this.status.textContent = "Searching…";
    this.prev.disabled = this.next.disabled = true;
    try {
      const params = this.params();
      const rows = await this.core.searchStudies(this.server, params);
      if (generation !== this.generation) return;
      this.errorBox.hidden = true;
      this.rows = rows;
      this.applySort();
      this.selected = rows.length ? 0 : -1;
      this.renderRows();
      const first = this.offset + 1;
      this.status.textContent = rows.length
        ? `Studies ${first}–${this.offset + rows.length}${rows.length === PAGE_SIZE ? "" : " (last page)"}`
        : this.offset
          ? "No more studies"
          : "No studies match";
      this.prev.disabled = this.offset === 0;
      this.next.disabled = rows.length < PAGE_SIZE;
      this.table.dataset.offset = String(this.offset);
      this.table.dataset.query = JSON.stringify(params);
      this.table.dataset.state = "ready";
    } catch (e) {
      if (generation !== this.generation) return;
      this.rows = [];
      this.renderRows();
      this.errorBox.hidden = false;
      this.errorBox.replaceChildren(
        h("strong", { text: "Cannot search the DICOMweb server" }),
        h("p", { text: errorMessage(e) }),
        h("p", { class: "hint", text: `Server: ${this.server.base_url}` }),
      );
      this.status.textContent = "Search failed";
      this.prev.disabled = this.offset === 0;
      this.table.dataset.offset = String(this.offset);
      this.table.dataset.state = "error";
    } finally {
      if (generation === this.generation) this.table.removeAttribute("aria-busy");
    }
  }

  private sortBy(key: SortKey): void {
    const selectedUid = this.rows[this.selected]?.study_instance_uid;
    this.sort = this.sort?.key === key ? { key, dir: this.sort.dir === 1 ? -1 : 1 } : { key, dir: key === "date" ? -1 : 1 };
    this.applySort();
    this.selected = Math.max(0, this.rows.findIndex((r) => r.study_instance_uid === selectedUid));
    this.renderRows();
  }

  private applySort(): void {
    const sort = this.sort;
    this.table.tHead?.querySelectorAll<HTMLElement>("th[data-sort]").forEach((th) =>
      th.setAttribute("aria-sort", sort && th.dataset.sort === sort.key ? (sort.dir === 1 ? "ascending" : "descending") : "none"),
    );
    if (!sort) return;
    const { key, dir } = sort;
    this.rows.sort((a, b) => dir * sortValue(a, key).localeCompare(sortValue(b, key)));
  }

  private renderRows(): void {
    const body: HTMLTableRowElement[] = this.rows.map((r, i) => {
      const tr = h("tr", { "data-study-uid": r.study_instance_uid, "aria-selected": i === this.selected ? "true" : "false", tabindex: -1 });
      for (const c of COLUMNS) tr.append(h("td", { text: c.cell(r) }));
      tr.addEventListener("click", () => this.select(i));
      tr.addEventListener("dblclick", () => this.open(r.study_instance_uid));
      return tr;
    });
    if (!body.length) {
      const empty = h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length, text: this.table.dataset.state === "error" ? "" : "No studies" }));
      this.tbody.replaceChildren(empty);
    } else this.tbody.replaceChildren(...body);
  }

  private select(i: number): void {
    if (i < 0 || i >= this.rows.length) return;
    this.tbody.rows[this.selected]?.setAttribute("aria-selected", "false");
    this.selected = i;
    const row = this.tbody.rows[i];
    row.setAttribute("aria-selected", "true");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === "ArrowDown") this.select(Math.min(this.rows.length - 1, this.selected + 1));
    else if (e.key === "ArrowUp") this.select(Math.max(0, this.selected - 1));
    else if (e.key === "Home") this.select(0);
    else if (e.key === "End") this.select(this.rows.length - 1);
    else if (e.key === "Enter") {
      const r = this.rows[this.selected];
      if (r) this.open(r.study_instance_uid);
    } else return;
    e.preventDefault();
  }
}
