// Task page: the log a page at a time ("Load earlier"), new lines live.
// The server decides the source (flamenco/web/task_log_views.py): "chunks" are
// tailed with ?after=<cursor>, "tail" (the last lines only) is re-read whole,
// "file" (the complete uploaded log) does not change.
import { getJSON } from "./http.js";
import { flash, throttled } from "./ui.js";
import { onLive } from "./live.js";

// Task statuses during which new log lines can arrive.
const RUNNING = new Set(["claimed-by-manager", "active", "cancel-requested"]);
// Pages fetched in a row to catch up; beyond, the next event or poll continues.
const MAX_CATCH_UP_PAGES = 20;

function taskStatus() {
  const badge = document.querySelector("#task-live .status");
  return badge ? badge.dataset.status : "";
}

export function initTaskLog() {
  const viewer = document.getElementById("task-log-viewer");
  if (!viewer) return;
  const log = viewer.querySelector("#task-log");
  const empty = viewer.querySelector("#task-log-empty");
  const earlier = viewer.querySelector("[data-log-earlier]");
  const baseUrl = viewer.dataset.logUrl;
  const state = { source: viewer.dataset.source, start: viewer.dataset.start, end: viewer.dataset.end };

  const following = () => log.hidden || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const pageUrl = (param, cursor) => `${baseUrl}?${param}=${encodeURIComponent(cursor)}`;

  function showSource(page) {
    state.source = page.source;
    for (const note of viewer.querySelectorAll("[data-log-source]")) note.hidden = note.dataset.logSource !== page.source;
  }

  function showText(write) {
    const follow = following();
    write();
    log.hidden = log.textContent === "";
    empty.hidden = !log.hidden;
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function replaceWith(page) {
    showSource(page);
    state.start = page.start || "";
    state.end = page.end || "";
    earlier.hidden = !page.earlier;
    showText(() => { log.textContent = page.text; });
  }

  async function catchUp() {
    if (state.source !== "chunks" || !state.end) {
      replaceWith(await getJSON(baseUrl));
      return;
    }
    for (let i = 0; i < MAX_CATCH_UP_PAGES; i += 1) {
      const page = await getJSON(pageUrl("after", state.end));
      if (page.text) showText(() => log.append(document.createTextNode(page.text)));
      state.end = page.end;
      if (!page.later) return;
    }
  }

  const refresh = throttled(async () => {
    if (state.source === "file") return;
    try {
      await catchUp();
    } catch (error) {
      flash(`Could not update the log: ${error.message}`, "error");
    }
  });

  earlier.addEventListener("click", async () => {
    earlier.disabled = true;
    try {
      const page = await getJSON(pageUrl("before", state.start));
      const fromBottom = log.scrollHeight - log.scrollTop;
      log.prepend(document.createTextNode(page.text));
      log.scrollTop = log.scrollHeight - fromBottom;
      state.start = page.start;
      earlier.hidden = !page.earlier;
    } catch (error) {
      flash(`Could not load the earlier log: ${error.message}`, "error");
    }
    earlier.disabled = false;
  });

  onLive("task", (event) => { if (event._id === viewer.dataset.taskId) refresh(); });
  // Live events are best-effort: while the task runs, also ask now and then.
  setInterval(() => { if (RUNNING.has(taskStatus())) refresh(); }, Number(viewer.dataset.pollMs) || 10000);
  log.scrollTop = log.scrollHeight;
}
