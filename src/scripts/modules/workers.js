// Workers page: poll the worker registry (GET /api/flamenco/workers) and
// redraw the rows that changed, so a worker going to sleep or silent shows
// without a reload; buttons queue actions (POST .../actions) that reach the
// worker through its Manager on the Manager's next sync.
import { getJSON, postJSON } from "./http.js";
import { setLiveState } from "./live.js";
import { flash } from "./ui.js";
import { initTagEditing, resourcesCell, tagsCell } from "./worker_tags.js";

const ACTION_LABELS = { sleep: "Sleep", wake: "Wake", shutdown: "Shut down", "remove-from-blocklist": "Unblock",
                        "set-tags": "New tags" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.dataset[key.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fillUrl(template, values) {
  return Object.entries(values).reduce((url, [key, value]) => url.replace(key, encodeURIComponent(value)), template);
}

export function agoText(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit} ago`;
  }
  return `${seconds}s ago`;
}

function lastSeenCell(worker) {
  const time = el("time", { class: "last-seen", datetime: worker.last_seen }, agoText(worker.last_seen));
  if (worker.last_seen) time.title = new Date(worker.last_seen).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  return el("td", {}, time);
}

function statusCell(worker) {
  const badge = el("span", { class: `worker-status worker-status-${worker.status}`, "data-status": worker.status },
    worker.status);
  const cell = el("td", {}, badge);
  if (worker.status === "offline" && worker.reported_status && worker.reported_status !== "offline") {
    badge.title = `Not seen recently; its Manager last said "${worker.reported_status}"`;
  }
  if (worker.status_requested) {
    const when = worker.lazy_status_request ? " after its task" : "";
    cell.append(el("span", { class: "requested" }, `${worker.status_requested} requested${when}`));
  }
  for (const action of worker.pending_actions) {
    cell.append(el("span", { class: "pending", "data-action": action.action },
      `${ACTION_LABELS[action.action] || action.action}: waiting for the Manager`));
  }
  return cell;
}

function taskCell(worker, urls) {
  const task = worker.current_task;
  if (!task) return el("td", {}, "–");
  const label = task.name || task._id;
  const link = task.project_url ? el("a", { href: fillUrl(urls.task, { PROJECT: task.project_url, TASK: task._id }) }, label)
    : label;
  return el("td", { class: "current-task" }, link, el("span", { class: "requested" }, task.status));
}

function actionButton(worker, action, extra = {}) {
  const label = extra.label || ACTION_LABELS[action];
  const attrs = { type: "button", "data-action": action, "data-manager": worker.manager._id,
                  "data-worker": worker.worker_id, "data-nickname": worker.nickname };
  if (action === "shutdown") {
    attrs.class = "danger";
    attrs["data-confirm"] = `Shut down worker ${worker.nickname}? It stops after its current task and does not come back by itself.`;
  }
  if (extra.job) attrs["data-job"] = extra.job;
  if (extra.taskType) attrs["data-task-type"] = extra.taskType;
  if (extra.title) attrs.title = extra.title;
  return el("button", attrs, label);
}

function blocklistCell(worker) {
  if (!worker.blocklist.length) return el("td", { class: "blocklist" }, "–");
  const cell = el("td", { class: "blocklist" });
  for (const entry of worker.blocklist) {
    const line = el("div", {}, `job …${entry.job.slice(-6)} (${entry.task_type})`);
    line.title = `job ${entry.job}`;
    if (worker.may_act) {
      line.append(actionButton(worker, "remove-from-blocklist", {
        label: "×", job: entry.job, taskType: entry.task_type,
        title: `Remove ${worker.nickname} from the blocklist of job ${entry.job} (${entry.task_type})` }));
    }
    cell.append(line);
  }
  return cell;
}

function actionsCell(worker) {
  if (!worker.may_act) return el("td", {}, "–");
  const buttons = el("div", { class: "worker-actions" });
  if (worker.status === "asleep") buttons.append(actionButton(worker, "wake"));
  else buttons.append(actionButton(worker, "sleep"));
  buttons.append(actionButton(worker, "shutdown"));
  return el("td", {}, buttons);
}

function renderRow(worker, urls) {
  const manager = el("a", { href: fillUrl(urls.manager, { MANAGER: worker.manager._id }) }, worker.manager.name);
  const name = el("td", { class: "nickname" }, worker.nickname || worker.worker_id);
  name.title = [worker.address, worker.software].filter(Boolean).join(" · ");
  return el("tr", { "data-worker-key": worker._id, "data-worker-id": worker.worker_id, "data-status": worker.status,
                    "data-manager-id": worker.manager._id, "data-nickname": worker.nickname },
    el("td", {}, manager), name, statusCell(worker), taskCell(worker, urls), lastSeenCell(worker),
    el("td", {}, worker.platform || "–"),
    el("td", { class: "task-types" }, worker.supported_task_types.join(", ") || "–"),
    tagsCell(worker, el), resourcesCell(worker, el), blocklistCell(worker), actionsCell(worker));
}

// What a row shows, apart from the time since last seen (redrawn in place).
function signature(worker) {
  const { last_seen: _ignored, ...rest } = worker;
  return JSON.stringify(rest);
}

function showWorkers(table, data, urls, drawn) {
  const tbody = table.tBodies[0];
  const keep = new Set();
  data._items.forEach((worker, index) => {
    keep.add(worker._id);
    let entry = drawn.get(worker._id);
    const sig = signature(worker);
    // A row whose tag editor is open stays as it is until the editor closes (then it is redrawn).
    const editing = entry && entry.row.dataset.editing !== undefined;
    if (!entry || (!editing && (entry.sig !== sig || entry.row.dataset.stale !== undefined))) {
      const row = renderRow(worker, urls);
      if (entry) entry.row.replaceWith(row);
      entry = { row, sig };
      drawn.set(worker._id, entry);
    } else {
      entry.row.replaceChild(lastSeenCell(worker), entry.row.cells[4]);
    }
    if (tbody.children[index] !== entry.row) tbody.insertBefore(entry.row, tbody.children[index] || null);
  });
  for (const [key, entry] of drawn) {
    if (!keep.has(key)) { entry.row.remove(); drawn.delete(key); }
  }
  const n = data._items.length;
  table.caption.textContent = n ? `${n} worker${n === 1 ? "" : "s"}; updated ${new Date().toLocaleTimeString()}`
    : "No Manager you may see has reported workers yet.";
  table.setAttribute("aria-busy", "false");
}

async function queueAction(button, table, refresh) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const body = { action: button.dataset.action };
  if (button.dataset.job) body.job = button.dataset.job;
  if (button.dataset.taskType) body.task_type = button.dataset.taskType;
  const url = fillUrl(table.dataset.actionsUrl, { MANAGER: button.dataset.manager, WORKER: button.dataset.worker });
  button.disabled = true;
  try {
    await postJSON(url, body);
    flash(`${ACTION_LABELS[body.action]} queued for ${button.dataset.nickname}; its Manager picks it up on its next sync.`);
    refresh();
  } catch (error) {
    flash(`Could not queue the action: ${error.message}`, "error");
    button.disabled = false;
  }
}

// Queue an action for the row's worker from the tag editor; true when the server took it.
async function queueRowAction(table, row, body) {
  const url = fillUrl(table.dataset.actionsUrl, { MANAGER: row.dataset.managerId, WORKER: row.dataset.workerId });
  try {
    await postJSON(url, body);
    flash(`New tags queued for ${row.dataset.nickname}; its Manager picks them up on its next sync.`);
    return true;
  } catch (error) {
    flash(`Could not change the tags: ${error.message}`, "error");
    return false;
  }
}

export function initWorkerList() {
  const table = document.querySelector("table.workers[data-workers-url]");
  if (!table) return;
  const urls = { task: table.dataset.taskUrl, manager: table.dataset.managerUrl };
  const interval = Number(table.dataset.pollMs) || 3000;
  const drawn = new Map();
  let timer = null;
  let running = false;
  const poll = async () => {
    clearTimeout(timer);
    timer = null;
    running = true;
    try {
      showWorkers(table, await getJSON(table.dataset.workersUrl), urls, drawn);
      setLiveState("on", "live");
    } catch (error) {
      table.caption.textContent = `Could not refresh the workers (${error.message}); retrying…`;
      setLiveState("off", "reconnecting…");
    } finally {
      running = false;
    }
    if (!document.hidden) timer = setTimeout(poll, interval);
  };
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) queueAction(button, table, () => { if (!running) poll(); });
  });
  initTagEditing(table, el, (row, body) => queueRowAction(table, row, body), (row) => {
    row.dataset.stale = "";
    if (!running) poll();
  });
  // A hidden tab stops polling, and polls at once when shown again.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !running && timer === null) poll();
  });
  poll();
}
