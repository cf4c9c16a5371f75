// Job list: multi-select actions and live refresh of the table.
import { getHTML, postJSON } from "./http.js";
import { flash, replaceContent, setBadge, throttled } from "./ui.js";
import { onLive } from "./live.js";

function selectedIds(table) {
  return [...table.querySelectorAll('input[name="jobs"]:checked')].map((box) => box.value);
}

function updateToolbar(table) {
  const ids = selectedIds(table);
  const count = table.querySelector(".selected-count");
  if (count) count.textContent = `${ids.length} selected`;
  for (const button of table.querySelectorAll("[data-job-action]")) button.disabled = ids.length === 0;
  const all = table.querySelector("[data-select-all]");
  const boxes = table.querySelectorAll('input[name="jobs"]');
  if (all) all.checked = boxes.length > 0 && ids.length === boxes.length;
}

function describe(result, label) {
  const done = result.done.length;
  let text = `${label}: ${done} job${done === 1 ? "" : "s"} done.`;
  if (result.skipped.length) {
    text += ` Skipped ${result.skipped.length}: ` + result.skipped.map((s) => s.reason).join("; ");
  }
  return text;
}

// The status filter: a drop-down of check boxes whose summary names the choice.
function initStatusFilter() {
  const dropdown = document.querySelector("[data-status-filter]");
  if (!dropdown) return;
  const summary = dropdown.querySelector("summary");
  dropdown.addEventListener("change", () => {
    const chosen = [...dropdown.querySelectorAll('input[name="status"]:checked')].map((box) => box.value);
    summary.textContent = chosen.length ? chosen.join(", ").replace(/-/g, " ") : "all but archived";
  });
  document.addEventListener("click", (event) => {
    if (dropdown.open && !dropdown.contains(event.target)) dropdown.open = false;
  });
  dropdown.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && dropdown.open) {
      dropdown.open = false;
      summary.focus();
    }
  });
}

export function initJobList() {
  initStatusFilter();
  const table = document.getElementById("job-table");
  if (!table) return;

  const refresh = throttled(async () => {
    const keep = new Set(selectedIds(table));
    try {
      replaceContent(table, await getHTML(table.dataset.rowsUrl));
    } catch (error) {
      flash(`Could not refresh the job list: ${error.message}`, "error");
      return;
    }
    for (const box of table.querySelectorAll('input[name="jobs"]')) box.checked = keep.has(box.value);
    updateToolbar(table);
  });

  table.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      for (const box of table.querySelectorAll('input[name="jobs"]')) box.checked = event.target.checked;
    }
    updateToolbar(table);
  });

  table.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-job-action]");
    if (!button) return;
    const ids = selectedIds(table);
    if (!ids.length) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const result = await postJSON(table.dataset.actionsUrl, { action: button.dataset.jobAction, jobs: ids });
      flash(describe(result, button.textContent.trim()), result.skipped.length ? "warning" : "info");
    } catch (error) {
      flash(`${button.textContent.trim()} failed: ${error.message}`, "error");
    }
    for (const box of table.querySelectorAll('input[name="jobs"]')) box.checked = false;
    refresh();
  });

  onLive("job", (event) => {
    const row = table.querySelector(`tr[data-job-id="${event._id}"]`);
    if (row) setBadge(row.querySelector(".job-status"), event.status);
    refresh();
  });
  onLive("task", (event) => {
    if (table.querySelector(`tr[data-job-id="${event.job}"]`)) refresh();
  });
  updateToolbar(table);
}
