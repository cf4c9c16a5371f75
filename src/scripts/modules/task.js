// Task view: actions and the live log tail.
import { getHTML, postJSON } from "./http.js";
import { flash, replaceContent, throttled } from "./ui.js";
import { onLive } from "./live.js";

function scrollLogToEnd(container) {
  const log = container.querySelector("#task-log");
  if (log) log.scrollTop = log.scrollHeight;
}

export function initTaskView() {
  const live = document.getElementById("task-live");
  if (!live) return;
  const taskId = live.dataset.taskId;

  const refresh = throttled(async () => {
    const log = live.querySelector("#task-log");
    const following = !log || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    try {
      replaceContent(live, await getHTML(live.dataset.liveUrl));
    } catch (error) {
      flash(`Could not refresh the task: ${error.message}`, "error");
      return;
    }
    if (following) scrollLogToEnd(live);
  });

  live.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-task-action]");
    if (!button) return;
    button.disabled = true;
    try {
      const result = await postJSON(live.dataset.actionsUrl, { action: button.dataset.taskAction });
      if (result.skipped.length) flash(result.skipped[0].reason, "warning");
      else flash(`${button.textContent.trim()}: done.`);
    } catch (error) {
      flash(`${button.textContent.trim()} failed: ${error.message}`, "error");
    }
    refresh();
  });

  onLive("task", (event) => { if (event._id === taskId) refresh(); });
  scrollLogToEnd(live);
}
