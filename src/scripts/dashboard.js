// Entry point of the dashboard's script (bundled by esbuild via gulp).
import { connectLive } from "./modules/live.js";
import { initJobList } from "./modules/joblist.js";
import { initJobView } from "./modules/job.js";
import { initTaskView } from "./modules/task.js";
import { initTaskLog } from "./modules/tasklog.js";
import { initPriorityEdit } from "./modules/priority.js";
import { initJobBlocklist } from "./modules/jobblocklist.js";
import { initDepsgraph } from "./modules/depsgraph.js";
import { initManagerPresence } from "./modules/managers.js";
import { initWorkerList } from "./modules/workers.js";
import { initSettings } from "./modules/settings.js";
import { showPendingFlash } from "./modules/ui.js";
import "./modules/last_rendered.js";

function initConfirmForms() {
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  initConfirmForms();
  showPendingFlash();
  initJobList();
  initJobView();
  initTaskView();
  initTaskLog();
  initPriorityEdit();
  initJobBlocklist();
  initDepsgraph();
  initManagerPresence();
  initWorkerList();
  initSettings();
  connectLive();
});
