// The HR desk page: say that the file is uploading, then follow the box's check of it.
//
// The job page carries #desk-job[data-progress-url]. This module asks that URL about once a
// second ({state, done, total, counts, error, download}) and moves progress#desk-progress,
// the status line and the counts; when the job is done it shows a#desk-download. The
// results can be downloaded once, so after the click the page says the box has forgotten them.
// Without JavaScript the page reloads itself instead (a <noscript> refresh).

const POLL_MS = 1000;
const RETRY_MS = 3000; // after a network error: the box may be busy or restarting

const lang = document.documentElement.lang === "fa" ? "fa-IR" : "en";
const number = (value) => Number(value ?? 0).toLocaleString(lang);

function message(state, values = {}) {
  const template = document.querySelector(`#desk-messages [data-state="${state}"]`);
  if (!template) return "";
  return template.textContent.replace(/\{(\w+)\}/g, (_, name) => number(values[name]));
}

function watchUpload() {
  const form = document.getElementById("desk-form");
  if (!form) return;
  form.addEventListener("submit", () => {
    document.getElementById("desk-uploading")?.removeAttribute("hidden");
    const button = document.getElementById("desk-submit");
    // Disabled after the submit has been sent, so the file is not posted twice by a double click.
    if (button) setTimeout(() => { button.disabled = true; }, 0);
  });
}

function show(job, progress) {
  const bar = document.getElementById("desk-progress");
  const status = document.getElementById("desk-status");
  job.dataset.state = progress.state;
  if (bar) {
    if (progress.total == null) {
      bar.removeAttribute("value"); // indeterminate while the rows are being counted
    } else {
      bar.max = Math.max(progress.total, 1);
      bar.value = progress.state === "done" ? bar.max : progress.done;
    }
  }
  if (status) status.textContent = message(progress.state, progress);
  for (const [key, value] of Object.entries(progress.counts ?? {})) {
    const cell = job.querySelector(`[data-count="${key}"]`);
    if (cell) cell.textContent = number(value);
  }
  if (progress.state === "failed" && progress.error) {
    const failure = document.getElementById("desk-failure");
    if (failure) {
      failure.textContent = lang === "fa-IR" ? progress.error.message_fa : progress.error.message;
      failure.hidden = false;
    }
  }
  if (progress.state === "done" && progress.download) {
    const link = document.getElementById("desk-download");
    if (link) {
      link.href = progress.download;
      link.hidden = false;
    }
  }
}

async function poll(job) {
  let progress;
  try {
    const response = await fetch(job.dataset.progressUrl, {
      headers: { Accept: "application/json" },
      cache: "no-store",
      credentials: "same-origin",
    });
    if (response.status === 404) {
      if (job.dataset.downloaded !== "true") {
        document.getElementById("desk-status").textContent = message("gone");
      }
      return; // downloaded or forgotten: nothing more to follow
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    progress = await response.json();
  } catch {
    document.getElementById("desk-status").textContent = message("network");
    setTimeout(() => poll(job), RETRY_MS);
    return;
  }
  show(job, progress);
  if (progress.state === "queued" || progress.state === "counting" || progress.state === "running") {
    setTimeout(() => poll(job), POLL_MS);
  }
}

function watchDownload(job) {
  const link = document.getElementById("desk-download");
  link?.addEventListener("click", () => {
    job.dataset.downloaded = "true";
    // Let the browser start the download first; the box forgets the results as it sends them.
    setTimeout(() => {
      link.hidden = true;
      document.getElementById("desk-once")?.setAttribute("hidden", "");
      document.getElementById("desk-downloaded")?.removeAttribute("hidden");
    }, 0);
  });
}

watchUpload();
const job = document.getElementById("desk-job");
if (job?.querySelector("#desk-progress")) {
  watchDownload(job);
  if (job.dataset.state !== "done" && job.dataset.state !== "failed") poll(job);
}
