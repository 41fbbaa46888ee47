// Cornerstone3D's decoders, called the way @cornerstonejs/dicom-image-loader 5.14.0 calls
// them (dist/esm/shared/decoders/decode*.js), in Node and in the browser alike.
//
// Each peer's decode(bytes, desc) returns a JS-owned typed array of the decoded samples,
// like our decodeFrame returns a JS-owned Uint8Array: the wasm codecs' output is copied
// out of their heap once. (The loader's own wrappers copy once more for JPEG 2000 and
// HTJ2K into a buffer they never use; that copy is left out here, in their favour.)
//
// `host` says how to load the emscripten factories in this environment:
//   host.factory(pkg, jsFile)  -> the emscripten module factory (a function)
//   host.wasmUrl(pkg, wasmFile) -> what locateFile returns for the .wasm
//   host.losslessDecoder()     -> the Decoder class of @cornerstonejs/jpeg-lossless-decoder-js
import decodeRLE from "./cornerstone-rle.mjs";

const TS = {
  JPEG_BASELINE: "1.2.840.10008.1.2.4.50",
  JPEG_LOSSLESS: "1.2.840.10008.1.2.4.57",
  JPEG_SV1: "1.2.840.10008.1.2.4.70",
  JLS: "1.2.840.10008.1.2.4.80",
  JLS_NEAR: "1.2.840.10008.1.2.4.81",
  J2K_LOSSLESS: "1.2.840.10008.1.2.4.90",
  J2K: "1.2.840.10008.1.2.4.91",
  HTJ2K_LOSSLESS: "1.2.840.10008.1.2.4.201",
  HTJ2K_RPCL: "1.2.840.10008.1.2.4.202",
  HTJ2K: "1.2.840.10008.1.2.4.203",
  RLE: "1.2.840.10008.1.2.5",
};

/** The peer packages: npm name, the files the loader loads (JS glue, wasm). */
export const PACKAGES = {
  "libjpeg-turbo": { pkg: "@cornerstonejs/codec-libjpeg-turbo-8bit", js: "dist/libjpegturbowasm_decode.js", wasm: "dist/libjpegturbowasm_decode.wasm" },
  charls: { pkg: "@cornerstonejs/codec-charls", js: "dist/charlswasm_decode.js", wasm: "dist/charlswasm_decode.wasm" },
  openjpeg: { pkg: "@cornerstonejs/codec-openjpeg", js: "dist/openjpegwasm_decode.js", wasm: "dist/openjpegwasm_decode.wasm" },
  openjph: { pkg: "@cornerstonejs/codec-openjph", js: "dist/openjphjs.js", wasm: "dist/openjphjs.wasm" },
  "jpeg-lossless-decoder-js": { pkg: "@cornerstonejs/jpeg-lossless-decoder-js", js: "release/lossless.js" },
  "cornerstone-rle": { pkg: "@cornerstonejs/dicom-image-loader", js: "scripts/bench/cornerstone-rle.mjs (port of 5.14.0 decodeRLE.js)" },
};

/** Transfer syntax -> peer name. Syntaxes not listed have no peer in this harness. */
export const PEER_FOR = {
  [TS.JPEG_BASELINE]: "libjpeg-turbo",
  [TS.JPEG_LOSSLESS]: "jpeg-lossless-decoder-js",
  [TS.JPEG_SV1]: "jpeg-lossless-decoder-js",
  [TS.JLS]: "charls",
  [TS.JLS_NEAR]: "charls",
  [TS.J2K_LOSSLESS]: "openjpeg",
  [TS.J2K]: "openjpeg",
  [TS.HTJ2K_LOSSLESS]: "openjph",
  [TS.HTJ2K_RPCL]: "openjph",
  [TS.HTJ2K]: "openjph",
  [TS.RLE]: "cornerstone-rle",
};

/**
 * Largest |ours - theirs| accepted per lossy syntax, and why. Lossless syntaxes: 0.
 * JPEG baseline: IDCT and chroma upsampling are implementation-defined (ISO 10918-1 sets an
 * accuracy, not bits); the README's note: ours stays within 3 of libjpeg-turbo.
 * JPEG-LS near-lossless decoding is fully specified: exact. Lossy JPEG 2000 / HTJ2K: the 9/7
 * wavelet is float arithmetic, rounded differently by different implementations: within 1.
 */
export const TOLERANCE = {
  [TS.JPEG_BASELINE]: 3,
  [TS.JLS_NEAR]: 0,
  [TS.J2K]: 1,
  [TS.HTJ2K]: 1,
};

// dist/esm/shared/decoders/getPixelData.js + isSignedPixelData.js (5.14.0)
function getPixelData(frameInfo, decodedBuffer, signedOverride) {
  const isSigned = signedOverride ?? frameInfo?.isSigned;
  const signed = (isSigned === true || isSigned === 1) && frameInfo.componentCount === 1;
  const { buffer, byteOffset, byteLength } = decodedBuffer;
  if (frameInfo?.bitsPerSample > 8) {
    return signed ? new Int16Array(buffer, byteOffset, byteLength / 2) : new Uint16Array(buffer, byteOffset, byteLength / 2);
  }
  return signed ? new Int8Array(buffer, byteOffset, byteLength) : new Uint8Array(buffer, byteOffset, byteLength);
}

async function emscripten(host, name) {
  const p = PACKAGES[name];
  const factory = await host.factory(p.pkg, p.js);
  const wasm = host.wasmUrl(p.pkg, p.wasm);
  // print/printErr silenced: Cornerstone's OpenJPEG build logs three [INFO] lines per frame
  // to the console; logging is not decoding (and stdout is the report).
  const quiet = () => {};
  return factory({ locateFile: (f) => (f.endsWith(".wasm") ? wasm : f), print: quiet, printErr: quiet });
}

/** Loads every peer; returns name -> { decode(bytes: Uint8Array, desc) -> typed array }. */
export async function loadPeers(host) {
  const peers = {};

  // decodeJPEGBaseline8Bit.js: one JPEGDecoder, reused.
  {
    const codec = await emscripten(host, "libjpeg-turbo");
    const decoder = new codec.JPEGDecoder();
    peers["libjpeg-turbo"] = {
      decode(bytes) {
        decoder.getEncodedBuffer(bytes.length).set(bytes);
        decoder.decode();
        const frameInfo = decoder.getFrameInfo();
        return getPixelData(frameInfo, decoder.getDecodedBuffer()).slice();
      },
    };
  }

  // decodeJPEGLS.js: one JpegLSDecoder, reused; signed from the data set.
  {
    const codec = await emscripten(host, "charls");
    const decoder = new codec.JpegLSDecoder();
    peers.charls = {
      decode(bytes, desc) {
        try {
          decoder.getEncodedBuffer(bytes.length).set(bytes);
          decoder.decode();
        } catch (e) {
          throw new Error(typeof e === "number" ? codec.getExceptionMessage(e) : String(e));
        }
        const frameInfo = decoder.getFrameInfo();
        return getPixelData(frameInfo, decoder.getDecodedBuffer(), desc.pixel_representation === 1).slice();
      },
    };
  }

  // decodeJPEG2000.js: one J2KDecoder, reused; signed from the codestream.
  {
    const codec = await emscripten(host, "openjpeg");
    const decoder = new codec.J2KDecoder();
    peers.openjpeg = {
      decode(bytes) {
        decoder.getEncodedBuffer(bytes.length).set(bytes);
        decoder.decode();
        const frameInfo = decoder.getFrameInfo();
        return getPixelData(frameInfo, decoder.getDecodedBuffer()).slice();
      },
    };
  }

  // decodeHTJ2K.js: a new HTJ2KDecoder per frame, decodeSubResolution(0). (The loader never
  // deletes it; deleted here so that hundreds of runs do not grow the heap.)
  {
    const codec = await emscripten(host, "openjph");
    peers.openjph = {
      decode(bytes) {
        const decoder = new codec.HTJ2KDecoder();
        try {
          decoder.getEncodedBuffer(bytes.length).set(bytes);
          decoder.decodeSubResolution(0);
          const frameInfo = decoder.getFrameInfo();
          return getPixelData(frameInfo, decoder.getDecodedBuffer()).slice();
        } finally {
          decoder.delete();
        }
      },
    };
  }

  // decodeJPEGLossless.js: a new Decoder per frame; output is already JS-owned.
  {
    const Decoder = await host.losslessDecoder();
    peers["jpeg-lossless-decoder-js"] = {
      decode(bytes, desc) {
        const decoder = new Decoder();
        const byteOutput = desc.bits_allocated <= 8 ? 1 : 2;
        const out = decoder.decode(bytes.buffer, bytes.byteOffset, bytes.length, byteOutput);
        if (desc.pixel_representation === 0) {
          return desc.bits_allocated === 16 ? new Uint16Array(out.buffer) : new Uint8Array(out.buffer);
        }
        return new Int16Array(out.buffer);
      },
    };
  }

  // decodeRLE.js, ported; output is JS-owned.
  peers["cornerstone-rle"] = {
    decode(bytes, desc) {
      const imageFrame = {
        rows: desc.rows,
        columns: desc.columns,
        samplesPerPixel: desc.samples_per_pixel,
        bitsAllocated: desc.bits_allocated,
        pixelRepresentation: desc.pixel_representation,
        planarConfiguration: desc.planar_configuration,
      };
      return decodeRLE(imageFrame, bytes).pixelData;
    },
  };
  return peers;
}
