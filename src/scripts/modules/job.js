// Job view: actions, deletion, live summary and task table.
import { deleteItem, errorMessage, getHTML, postJSON } from "./http.js";
import { flash, flashOnNextPage, replaceContent, setBadge, throttled } from "./ui.js";
import { onLive } from "./live.js";

export function initJobView() {
  const live = document.getElementById("job-live");
  if (!live) return;
  const jobId = live.dataset.jobId;

  const refresh = throttled(async () => {
    try {
      replaceContent(live, await getHTML(live.dataset.liveUrl));
    } catch (error) {
      flash(`Could not refresh the job: ${error.message}`, "error");
    }
  });

  live.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-job-action]");
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const result = await postJSON(live.dataset.actionsUrl, { action: button.dataset.jobAction, jobs: [jobId] });
      if (result.skipped.length) flash(result.skipped[0].reason, "warning");
      else flash(`${button.textContent.trim()}: done.`);
    } catch (error) {
      flash(`${button.textContent.trim()} failed: ${error.message}`, "error");
    }
    refresh();
  });

  // Deletion goes through the REST API, whose rules decide; a job that may
  // still run says why at once instead of asking to confirm in vain.
  live.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-delete-job]");
    if (!button) return;
    if (button.dataset.blocked) {
      flash(button.dataset.blocked, "warning");
      return;
    }
    if (!window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    const response = await deleteItem(button.dataset.deleteJob, button.dataset.etag);
    if (response.ok) {
      flashOnNextPage("The job was deleted.");
      window.location.assign(button.dataset.doneUrl);
      return;
    }
    if (response.status === 412) flash("The job changed meanwhile: check its status and try again.", "warning");
    else flash(`Could not delete the job: ${await errorMessage(response)}`, "error");
    refresh();
  });

  onLive("job", (event) => {
    if (event._id !== jobId) return;
    setBadge(live.querySelector(".job-status-line"), event.status);
    refresh();
  });
  // A job this one waits for, or one waiting for it, changed: its status shows here too.
  onLive("job", (event) => {
    if (event._id !== jobId && live.querySelector(`[data-related-job="${event._id}"]`)) refresh();
  });
  onLive("task", (event) => {
    if (event.job !== jobId) return;
    const row = live.querySelector(`tr[data-task-id="${event._id}"]`);
    if (row) setBadge(row.querySelector(".task-status"), event.status);
    refresh();
  });
}
