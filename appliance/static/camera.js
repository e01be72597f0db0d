// Read a diploma's QR code with the device's camera, decoded in the page by ZXing (WebAssembly).
//
//   import { cameraAvailability, openCamera } from "/static/camera.js";
//   if (cameraAvailability() === "ok") {
//     const camera = await openCamera(videoElement, { onCode: (text) => …, onError: (reason) => … });
//     … camera.stop();   // e.g. when the person cancels
//   }
//
// onCode(text) is called at most once, with the first QR read; the camera is then released.
// onError(reason) is called at most once, reason one of:
//   "insecure"     the page is not a secure context (a phone on plain http over the LAN): browsers
//                  only offer cameras to https pages and to localhost
//   "unsupported"  no getUserMedia or no WebAssembly in this browser
//   "denied"       the person (or a policy) refused the camera
//   "no_camera"    there is no camera to open
//   "failed"       anything else: the camera is busy, the decoder did not load, …
// Nothing is fetched from outside: the decoder's .wasm comes from the box's own /static/vendor/.

import { prepareZXingModule, readBarcodes } from "./vendor/zxing-wasm/es/reader/index.js";
import { primeFeedback, signalRead } from "./feedback.js";

const SCAN_INTERVAL_MS = 200; // about five decodes a second: plenty for a QR held still
const MAX_FRAME_SIDE = 1280; // larger camera frames are scaled down before decoding
const READER_OPTIONS = { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1 };

// zxing-wasm would fetch its .wasm from a CDN; the box serves it next to this module instead.
const WASM_URL = new URL("./vendor/zxing-wasm/reader/zxing_reader.wasm", import.meta.url).href;
const ZXING_OVERRIDES = {
  locateFile: (path, prefix) => (path.endsWith(".wasm") ? WASM_URL : prefix + path),
};
prepareZXingModule({ overrides: ZXING_OVERRIDES, fireImmediately: false });

export function cameraAvailability() {
  if (!globalThis.isSecureContext) return "insecure";
  if (!navigator.mediaDevices?.getUserMedia || typeof WebAssembly !== "object") return "unsupported";
  return "ok";
}

function reasonFor(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "no_camera";
    default:
      return "failed";
  }
}

export async function openCamera(video, { onCode, onError = () => {} } = {}) {
  // Still inside the click that asked for the camera: the only moment a page may unlock sound.
  primeFeedback();

  let stream = null;
  let timer = null;
  let frame = null;
  let finished = false;
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });

  function stop() {
    finished = true;
    clearTimeout(timer);
    cancelAnimationFrame(frame);
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
  }

  function fail(reason) {
    if (finished) return;
    stop();
    onError(reason);
  }

  const handle = { stop };
  const availability = cameraAvailability();
  if (availability !== "ok") {
    fail(availability);
    return handle;
  }

  // Load the decoder while the person answers the permission prompt.
  const decoderReady = prepareZXingModule({ overrides: ZXING_OVERRIDES, fireImmediately: true });
  decoderReady.catch(() => {}); // reported below, once the camera is open

  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (error) {
    fail(reasonFor(error));
    return handle;
  }
  if (finished) {
    // stop() was called while the prompt was open.
    stream.getTracks().forEach((track) => track.stop());
    stream = null;
    return handle;
  }

  video.muted = true;
  video.setAttribute("playsinline", ""); // iOS would otherwise go full screen
  video.srcObject = stream;
  try {
    await video.play();
    await decoderReady;
  } catch {
    fail("failed");
    return handle;
  }

  async function scan() {
    if (finished) return;
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (width && height) {
      const scale = Math.min(1, MAX_FRAME_SIDE / Math.max(width, height));
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      let results;
      try {
        results = await readBarcodes(context.getImageData(0, 0, canvas.width, canvas.height), READER_OPTIONS);
      } catch {
        fail("failed");
        return;
      }
      const read = results.find((result) => result.isValid && result.text);
      if (read && !finished) {
        stop();
        signalRead();
        onCode(read.text);
        return;
      }
    }
    schedule();
  }

  // setTimeout paces the decodes; requestAnimationFrame pauses them while the page is hidden.
  function schedule() {
    if (finished) return;
    timer = setTimeout(() => {
      frame = requestAnimationFrame(scan);
    }, SCAN_INTERVAL_MS);
  }

  scan();
  return handle;
}
