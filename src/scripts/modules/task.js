// Task view: actions and live details (the log itself: tasklog.js).
import { errorMessage, getHTML, patchOp, postJSON } from "./http.js";
import { flash, replaceContent, throttled } from "./ui.js";
import { onLive } from "./live.js";

export function initTaskView() {
  const live = document.getElementById("task-live");
  if (!live) return;
  const taskId = live.dataset.taskId;

  const refresh = throttled(async () => {
    try {
      replaceContent(live, await getHTML(live.dataset.liveUrl));
    } catch (error) {
      flash(`Could not refresh the task: ${error.message}`, "error");
    }
  });

  // The Manager keeps full logs; this asks it to upload one (it shows up with the next update).
  live.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-request-log]");
    if (!button) return;
    button.disabled = true;
    const response = await patchOp(button.dataset.requestLog, { op: "request-task-log-file" });
    if (response.status === 409 && response.headers.get("Location")) {
      window.location.href = response.headers.get("Location");
    } else if (response.ok) {
      flash("Asked the Manager for the full log; a download link appears once it is uploaded.");
    } else {
      flash(`Could not ask for the log: ${await errorMessage(response)}`, "error");
      button.disabled = false;
    }
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
}
