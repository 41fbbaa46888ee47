// A plain preview of a canonical frame on a 2D canvas: min/max scaling for grey,
// palette indices shown as grey. The real display path (LUTs, W/L on the GPU) is the
// render module's job; this only proves the pixels arrived.
import type { DecodedFrame } from "./decoder.js";

export function drawPreview(canvas: HTMLCanvasElement, frame: DecodedFrame): void {
  const { rows, columns, samples_per_pixel: spp, bits_allocated: ba, pixel_representation: pr } = frame.info;
  const bytes = ba <= 8 ? 1 : ba <= 16 ? 2 : 4;
  const view = new DataView(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  const read = (i: number): number => {
    const o = i * bytes;
    if (bytes === 1) return pr ? view.getInt8(o) : view.getUint8(o);
    if (bytes === 2) return pr ? view.getInt16(o, true) : view.getUint16(o, true);
    return pr ? view.getInt32(o, true) : view.getUint32(o, true);
  };
  const n = rows * columns * spp;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = read(i);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = max > min ? 255 / (max - min) : 0;
  const invert = frame.info.photometric_interpretation === "MONOCHROME1";
  canvas.width = columns;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const image = ctx.createImageData(columns, rows);
  for (let p = 0; p < rows * columns; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (read(p * spp + (spp === 3 ? c : 0)) - min) * scale;
      image.data[p * 4 + c] = invert ? 255 - v : v;
    }
    image.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
