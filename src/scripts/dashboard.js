// Entry point of the dashboard's script (bundled by esbuild via gulp).
import { connectLive } from "./modules/live.js";
import { initJobList } from "./modules/joblist.js";
import { initJobView } from "./modules/job.js";
import { initTaskView } from "./modules/task.js";
import { initDepsgraph } from "./modules/depsgraph.js";
import { initManagerPresence } from "./modules/managers.js";
import { showPendingFlash } from "./modules/ui.js";

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
  initDepsgraph();
  initManagerPresence();
  connectLive();
});
