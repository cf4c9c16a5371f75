// Inline priority edit (job list and job page): Enter or leaving the field
// saves through the API's set-job-priority op, Escape undoes. The server's
// job event updates every open page; the job list re-renders its rows on
// events, so an edit in progress is carried over into the fresh row.
import { errorMessage, patchOp } from "./http.js";
import { flash } from "./ui.js";
import { onLive } from "./live.js";

const INPUT = "input[data-priority-url]";
let editing = null; // {jobId, value, start, end} of the field being typed in

function inputFor(jobId) {
  return document.querySelector(`${INPUT}[data-job-priority="${jobId}"]`);
}

async function save(input) {
  const value = input.value.trim();
  if (value === input.dataset.saved || input.dataset.saving) return;
  const priority = Number(value);
  if (value === "" || !Number.isInteger(priority)) {
    flash(`Priority of ${input.dataset.jobName}: must be a whole number.`, "error");
    input.value = input.dataset.saved;
    return;
  }
  input.dataset.saving = "1";
  input.setAttribute("aria-busy", "true");
  try {
    const response = await patchOp(input.dataset.priorityUrl, { op: "set-job-priority", priority });
    if (response.ok) {
      input.dataset.saved = String(priority);
      flash(`Priority of ${input.dataset.jobName} set to ${priority}.`);
    } else {
      flash(`Priority of ${input.dataset.jobName} not changed: ${await errorMessage(response)}`, "error");
      input.value = input.dataset.saved;
    }
  } catch (error) {
    flash(`Priority of ${input.dataset.jobName} not changed: ${error.message}`, "error");
    input.value = input.dataset.saved;
  } finally {
    delete input.dataset.saving;
    input.removeAttribute("aria-busy");
  }
}

function rememberEdit(input) {
  editing = { jobId: input.dataset.jobPriority, value: input.value,
              start: input.selectionStart, end: input.selectionEnd };
}

// A live refresh replaced the rows: put the half-typed value back and keep the focus.
function restoreEdit() {
  if (!editing) return;
  const input = inputFor(editing.jobId);
  if (!input || input === document.activeElement) return;
  input.value = editing.value;
  input.focus();
}

export function initPriorityEdit() {
  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches(INPUT)) return;
    if (event.key === "Enter") {
      event.preventDefault();
      editing = null;
      save(input);
    } else if (event.key === "Escape") {
      editing = null;
      input.value = input.dataset.saved;
      input.blur();
    }
  });
  document.addEventListener("input", (event) => {
    if (event.target.matches(INPUT)) rememberEdit(event.target);
  });
  document.addEventListener("focusout", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches(INPUT)) return;
    setTimeout(() => {
      if (!input.isConnected) return; // replaced by a live refresh: restoreEdit carried the edit over
      editing = null;
      save(input);
    }, 0);
  });
  document.addEventListener("content-replaced", restoreEdit);
  onLive("job", (event) => {
    if (event.priority === undefined) return;
    for (const el of document.querySelectorAll(`[data-job-priority="${event._id}"]`)) {
      if (el.matches(INPUT)) {
        el.dataset.saved = String(event.priority);
        if (el !== document.activeElement) el.value = event.priority;
      } else {
        el.textContent = event.priority;
      }
    }
  });
}
