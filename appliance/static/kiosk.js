// The kiosk page: scan after scan with no mouse. The code field keeps focus; a USB scanner's
// code (fast keystrokes + Enter) replaces the verdict at once; the verdict clears itself after
// a pause so no holder's data lingers; Escape clears now. Without JavaScript the same forms
// post and the box answers with the whole page.

const FRAGMENT_HEADER = "X-Sehat-Fragment";

const form = document.getElementById("check-form");
const codeField = document.getElementById("code");
const nationalIdField = document.getElementById("national_id");
const sourceField = document.getElementById("source");
const verdictArea = document.getElementById("verdict");
const uploadForm = document.getElementById("upload-form");
const uploadInput = document.getElementById("upload-photo");
const cameraPanel = document.getElementById("camera-panel");
const cameraView = document.getElementById("camera-view");
const cameraMessage = document.getElementById("camera-message");
const clearSeconds = Number(form.dataset.clearSeconds || "0");

let clearTimer = null;
let camera = null;
let busy = false;

function message(reason, values = {}) {
  const node = document.querySelector(`#kiosk-messages [data-reason="${reason}"]`);
  let text = node ? node.textContent : reason;
  for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, value);
  return text;
}

function showNotice(text) {
  verdictArea.replaceChildren();
  const notice = document.createElement("p");
  notice.className = "notice";
  notice.setAttribute("role", "status");
  notice.textContent = text;
  verdictArea.append(notice);
}

function focusCode() {
  if (document.activeElement !== codeField) codeField.focus({ preventScroll: true });
}

function clearVerdict() {
  window.clearTimeout(clearTimer);
  clearTimer = null;
  verdictArea.replaceChildren();
  codeField.value = "";
  if (nationalIdField) nationalIdField.value = "";
  sourceField.value = "typed";
  document.getElementById("countdown")?.remove();
  focusCode();
}

function scheduleClear() {
  window.clearTimeout(clearTimer);
  if (clearSeconds > 0 && verdictArea.children.length) {
    clearTimer = window.setTimeout(clearVerdict, clearSeconds * 1000);
  }
}

function showVerdict(html) {
  verdictArea.innerHTML = html;
  const first = verdictArea.querySelector(".verdict");
  if (first && first.dataset.finding === "invalid_format") {
    codeField.select(); // kept for correction; typing (or the next scan) replaces it
  } else {
    codeField.value = "";
    if (nationalIdField) nationalIdField.value = "";
  }
  sourceField.value = "typed";
  verdictArea.scrollIntoView({ block: "nearest" });
  focusCode();
  scheduleClear();
}

async function send(url, body) {
  if (busy) return;
  busy = true;
  window.clearTimeout(clearTimer);
  showNotice(message("checking"));
  try {
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { [FRAGMENT_HEADER]: "1" },
      credentials: "same-origin",
    });
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After") || "60";
      showNotice(message("rate_limited", { seconds: wait }));
    } else if (!response.ok && !response.headers.get("Content-Type")?.startsWith("text/html")) {
      showNotice(message("network"));
    } else {
      const html = await response.text();
      if (response.ok) {
        showVerdict(html);
      } else {
        // An error page from the box: show its message, not the whole page inside the page.
        const page = new DOMParser().parseFromString(html, "text/html");
        showNotice(page.querySelector("main h1, main .headline")?.textContent?.trim() || message("network"));
      }
    }
  } catch {
    showNotice(message("network"));
  } finally {
    busy = false;
    focusCode();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!codeField.value.trim()) {
    focusCode();
    return;
  }
  send(form.action, new FormData(form));
});

uploadInput.addEventListener("change", () => {
  if (!uploadInput.files.length) return;
  const body = new FormData(uploadForm);
  uploadInput.value = "";
  send(uploadForm.action, body);
});

// The field keeps focus: a scanner types wherever focus is, so focus must never wander off to
// the page. Other controls may take it while a person uses them.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    stopCamera();
    clearVerdict();
    return;
  }
  const target = event.target;
  const typingElsewhere = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement
    || target instanceof HTMLSelectElement;
  if (!typingElsewhere && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
    codeField.focus({ preventScroll: true }); // the key's character lands in the field
  }
  if (!typingElsewhere && event.key === "Enter" && codeField.value.trim()) {
    form.requestSubmit();
  }
});
document.addEventListener("focusout", () => {
  window.setTimeout(() => {
    if (document.activeElement === document.body || document.activeElement === null) focusCode();
  }, 0);
});
// Any interaction postpones the auto-clear: someone is still reading.
for (const kind of ["pointerdown", "input"]) {
  document.addEventListener(kind, () => { if (clearTimer) scheduleClear(); });
}

// --- camera -------------------------------------------------------------------------------------

function stopCamera() {
  camera?.stop();
  camera = null;
  cameraPanel.hidden = true;
}

async function startCamera() {
  cameraPanel.hidden = false;
  cameraMessage.textContent = message("starting");
  let module;
  try {
    module = await import("./camera.js");
  } catch {
    cameraMessage.textContent = message("unsupported");
    return;
  }
  const availability = module.cameraAvailability();
  if (availability !== "ok") {
    cameraMessage.textContent = message(availability);
    return;
  }
  camera = await module.openCamera(cameraView, {
    onCode(text) {
      stopCamera();
      codeField.value = text;
      sourceField.value = "camera";
      send(form.action, new FormData(form));
    },
    onError(reason) {
      camera = null;
      cameraMessage.textContent = message(reason);
    },
  });
}

document.querySelector('[data-action="camera"]').addEventListener("click", () => {
  if (camera) stopCamera();
  else startCamera();
});
document.querySelector('[data-action="camera-stop"]').addEventListener("click", () => {
  stopCamera();
  focusCode();
});

// A verdict rendered by the server (no-script path, or a full page load) also clears itself.
scheduleClear();
focusCode();
if (codeField.value) codeField.select();
