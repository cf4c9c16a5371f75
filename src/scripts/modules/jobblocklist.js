// Job page: the Blocklist section, as the job's Manager last reported it,
// with "Remove" for the Manager's owners (a remove-from-blocklist worker action).
import { getHTML, postJSON } from "./http.js";
import { flash } from "./ui.js";

// Managers report their workers every few seconds to half a minute and no
// live event announces a report, so the section re-reads it this often.
const POLL_MS = 15000;

export function initJobBlocklist() {
  const section = document.getElementById("job-blocklist");
  if (!section) return;
  const rows = section.querySelector("[data-blocklist-rows]");

  async function load() {
    try {
      rows.innerHTML = await getHTML(section.dataset.url);
    } catch (error) {
      rows.textContent = `Could not load the blocklist: ${error.message}`;
    }
  }

  section.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-remove-blocklist]");
    if (!button) return;
    const url = button.closest("[data-actions-url]").dataset.actionsUrl
      .replace("WORKER", encodeURIComponent(button.dataset.workerId));
    button.disabled = true;
    try {
      await postJSON(url, { action: "remove-from-blocklist", job: section.dataset.jobId,
                            task_type: button.dataset.taskType });
      flash(`Asked the Manager to let ${button.dataset.workerName} run ${button.dataset.taskType} tasks of this job again.`);
    } catch (error) {
      flash(`Could not remove ${button.dataset.workerName} from the blocklist: ${error.message}`, "error");
    }
    load();
  });

  load();
  setInterval(load, POLL_MS);
}
