// The contract between the reading/worklist UI and the core (wasm on the main
// thread for the study state and the GPU, a pool of Workers for retrieval and
// decoding). Types only: `core.ts` implements them. The UI never touches wasm
// directly, so an embedding host can drive the same core.

/** A DICOMweb server. `base_url` is absolute or relative to the page (`/dicom-web`). */
export interface ServerConfig {
  base_url: string;
  bearer_token?: string;
  headers?: [string, string][];
  wado_uri_url?: string;
  timeout_ms?: number;
}

/** One QIDO-RS study row (names decoded whatever the character set). */
export interface StudyRow {
  study_instance_uid: string;
  patient_name: string | null;
  patient_id: string | null;
  study_date: string | null; // YYYYMMDD
  accession_number: string | null;
  study_description: string | null;
  modalities_in_study: string[];
  number_of_series: number | null;
  number_of_instances: number | null;
}

/** A window (VOI) as the file states it. */
export interface WindowPreset {
  center: number;
  width: number;
  explanation: string | null;
}

export interface SeriesInfo {
  index: number;
  series_instance_uid: string;
  series_number: number | null;
  modality: string | null;
  series_description: string | null;
  /** Images in display order: one per frame (a multi-frame instance gives several). */
  images: number;
  /** Set when the series forms a volume (MPR possible). */
  volume: { dimensions: [number, number, number]; spacing_mm: [number, number, number]; gantry_tilt_degrees: number; notes: string[] } | null;
  /** Why the series is not a volume (stays viewable as a stack), when `volume` is null. */
  not_a_volume: string | null;
}

export interface StudyInfo {
  study_instance_uid: string;
  patient_name: string | null;
  patient_id: string | null;
  study_date: string | null;
  study_description: string | null;
  accession_number: string | null;
  series: SeriesInfo[];
}

export interface ImageInfo {
  sop_instance_uid: string;
  frame: number; // 1-based frame of the instance
  instance_number: number | null;
  rows: number;
  columns: number;
  photometric_interpretation: string;
  /** Row spacing, column spacing in mm, when known. */
  pixel_spacing: [number, number] | null;
  slice_location: number | null;
  image_position: [number, number, number] | null;
  windows: WindowPreset[];
  /** Units of the modality value ("HU" for CT), or null. */
  units: string | null;
  /**
   * Optional (added for the UI): the window `render` applies when `ViewportState.window`
   * is omitted (the file's first window, else the full range of modality values). The
   * UI starts W/L drags from it and shows it; without it the UI uses `windows[0]`.
   */
  default_window?: { center: number; width: number } | null;
}

export type SlotState =
  | { state: "missing" | "queued" | "loading" | "resident" }
  | { state: "failed"; error: string };

export interface Progress {
  series: number;
  resident: number;
  failed: number;
  total: number;
}

/** What one 2-D viewport shows. Screen units are canvas pixels. */
export interface ViewportState {
  series: number;
  image: number; // 0-based, display order
  width: number; // canvas size in pixels
  height: number;
  /** Explicit window; omitted: the image's first window (or its full range). */
  window?: { center: number; width: number };
  voi_function?: "linear" | "linear_exact" | "sigmoid";
  invert?: boolean;
  /** "fit" or output pixels per image column. */
  zoom?: "fit" | number;
  pan?: [number, number];
  rotation?: number; // degrees clockwise
  flip_horizontal?: boolean;
  flip_vertical?: boolean;
  interpolation?: "linear" | "nearest";
}

export type MprView = "axial" | "coronal" | "sagittal";

/** One MPR viewport: a standard plane through `center` (patient mm). */
export interface MprState {
  series: number;
  /** A standard plane, or "oblique" through `center` perpendicular to `normal`. */
  view: MprView | "oblique";
  /** Patient axes; only for `view: "oblique"`: a normal, or the in-plane axes (screen right and down). */
  normal?: [number, number, number];
  right?: [number, number, number];
  down?: [number, number, number];
  /** The planes whose reference lines `renderMpr`'s overlay draws (default: the other standard planes). */
  others?: { view: MprView; right: [number, number, number]; down: [number, number, number] }[];
  center: [number, number, number];
  width: number;
  height: number;
  window?: { center: number; width: number };
  invert?: boolean;
  /** Millimetres per screen pixel; omitted: the volume fits. */
  mm_per_pixel?: number;
  pan?: [number, number];
  slab_mm?: number;
  slab_mode?: "mip" | "minip" | "avg";
  interpolation?: "linear" | "nearest";
}

/** Reference lines of the other two planes in this MPR viewport, in canvas pixels. */
export interface MprOverlay {
  lines: { view: MprView; from: [number, number]; to: [number, number] }[];
  /** The crosshair centre in canvas pixels. */
  center: [number, number];
  mm_per_pixel: number;
}

/** The pixel under the cursor. */
export interface Probe {
  column: number;
  row: number;
  inside: boolean;
  stored: number[] | null; // one per sample
  modality_value: number | null; // after the Modality LUT (HU for CT)
  units: string | null;
  patient: [number, number, number] | null;
}

export interface Study {
  readonly info: StudyInfo;
  imageInfo(series: number, image: number): ImageInfo;
  /** The image in view: loading re-prioritises around it and cancels what is no longer wanted. */
  setFocus(series: number, image: number): void;
  slot(series: number, image: number): SlotState;
  progress(series: number): Progress;
  /** Called whenever an image becomes resident or fails. */
  onChange(listener: (series: number, image: number) => void): () => void;
  /** Draws a viewport into `canvas` (sized to state.width × state.height). Rejects when the image is not resident. */
  render(state: ViewportState, canvas: HTMLCanvasElement): Promise<void>;
  /** Canvas pixel (x, y) → image pixel and its values. */
  probe(state: ViewportState, x: number, y: number): Promise<Probe>;
  /** Length between two canvas points: millimetres when the pixel spacing is known, else pixels. */
  measure(state: ViewportState, from: [number, number], to: [number, number]): { value: number; units: "mm" | "px" };
  /** Default MPR centre (volume centre) for a series with a volume. */
  volumeCenter(series: number): [number, number, number];
  /** Draws an MPR viewport (builds the volume on first use; rejects until the series is loaded). */
  renderMpr(state: MprState, canvas: HTMLCanvasElement): Promise<MprOverlay>;
  /** Canvas pixel in an MPR viewport → patient position (for moving the crosshair). */
  mprPoint(state: MprState, x: number, y: number): [number, number, number];
  /** Bytes held: decoded frames on the GPU, volumes on the GPU, wasm heap. */
  memory(): { gpu_bytes: number; frame_bytes: number; volume_bytes: number; heap_bytes: number; budget_bytes: number; backend: string; device_losses: number };
  /** Fault injection (tests): destroys the GPU device as a driver reset would; rendering recovers by itself. */
  loseDevice(): void;
  /** Whether the GPU device is lost (recovery begins at the next render). */
  deviceLost(): boolean;
  close(): void;
}

export interface Core {
  readonly version: string;
  /** The backend actually in use: "webgpu", "webgl2" or "cpu". */
  readonly backend: string;
  searchStudies(server: ServerConfig, params: [string, string][]): Promise<StudyRow[]>;
  /** `maxInFlight`: requests kept in flight (default: 6 on HTTP/1.1, 16 on HTTP/2 or 3; the loader adapts below it). */
  openStudy(server: ServerConfig, studyUid: string, options?: { budgetBytes?: number; maxInFlight?: number }): Promise<Study>;
}
