// The sample-file page (samples.html): loads the decoder (wasm in a worker), shows its
// version, lists the bundled sample files and previews any one of them, or a local file.
import { Decoder, type DecodedFrame } from "./decoder.js";
import { drawPreview } from "./preview.js";

interface Sample {
  path: string;
  transfer_syntax: string;
  kind: string;
  frames: number;
}

// The decoder plugin as a host would use it: the decoder-only module, hashes on.
const decoder = new Decoder({ hash: true });
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function show(name: string, bytes: ArrayBuffer, frame = 1): Promise<DecodedFrame> {
  const status = $("status");
  status.textContent = `decoding ${name} …`;
  status.dataset.state = "busy";
  try {
    const decoded = await decoder.decodeFile(bytes, frame);
    drawPreview($<HTMLCanvasElement>("preview"), decoded);
    status.textContent = `${name}: ${JSON.stringify(decoded.info)}`;
    status.dataset.state = "ok";
    return decoded;
  } catch (e) {
    status.textContent = `${name}: ${(e as Error).message}`;
    status.dataset.state = "error";
    throw e;
  }
}

async function showUrl(url: string, frame = 1): Promise<DecodedFrame> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return show(url, await res.arrayBuffer(), frame);
}

async function listSamples(): Promise<void> {
  const list = $("samples");
  const res = await fetch("samples/index.json").catch(() => null);
  if (!res || !res.ok) {
    list.textContent = "no sample data (run npm start)";
    return;
  }
  const samples: Sample[] = await res.json();
  for (const s of samples) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.textContent = `${s.path.split("/").pop()}`;
    button.title = `${s.transfer_syntax} · ${s.kind} · ${s.frames} frame(s)`;
    button.dataset.path = s.path;
    button.onclick = () => void showUrl(`samples/${s.path}`).catch(() => undefined);
    li.append(button, ` ${s.kind} · ${s.transfer_syntax}`);
    list.append(li);
  }
}

$<HTMLInputElement>("file").onchange = async (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) await show(file.name, await file.arrayBuffer()).catch(() => undefined);
};

decoder.ready.then((version) => {
  const el = $("version");
  el.textContent = `Lumen ${version}`;
  el.dataset.version = version;
});
void listSamples();

// For tests and embedding hosts.
(window as unknown as { lumen: object }).lumen = { decoder, showUrl };
