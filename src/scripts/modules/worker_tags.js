// Workers page, issue 15: a worker's tags and detected resources, and the tag editor of those who may
// act on its Manager. Saving queues a "set-tags" action (POST .../actions); the Manager applies it on
// its next sync, and the admin's tags then replace the worker's own until "Use its own tags" clears them.

// Tags as the server takes them: split on spaces or commas, lower-cased (it checks each one).
export function parseTags(text) {
  return [...new Set(text.split(/[\s,]+/).map((tag) => tag.trim().toLowerCase()).filter(Boolean))];
}

function gigabytes(bytes) {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

// "16 cores · 67.1 GB RAM · NVIDIA RTX A6000 (51.5 GB)", or "unknown" for a worker that reports none.
export function resourcesText(resources) {
  if (!resources) return "unknown";
  const parts = [`${resources.cpu_cores} cores`, `${gigabytes(resources.ram_bytes)} RAM`];
  for (const gpu of resources.gpus) parts.push(`${gpu.model || "GPU"} (${gigabytes(gpu.memory_bytes)})`);
  return parts.join(" · ");
}

export function resourcesCell(worker, el) {
  const cell = el("td", { class: "resources" }, resourcesText(worker.resources));
  if (!worker.resources) cell.title = "The worker did not report its resources (a Flamenco 2 worker): it meets no minimum.";
  return cell;
}

export function tagsCell(worker, el) {
  const cell = el("td", { class: "tags" });
  const list = el("span", { class: "tag-list" });
  for (const tag of worker.tags) list.append(el("span", { class: "tag", "data-tag": tag }, tag));
  cell.append(worker.tags.length ? list : el("span", { class: "tag-list muted" }, "–"));
  if (worker.tags_set_by_admin) {
    const own = worker.own_tags.length ? worker.own_tags.join(", ") : "none";
    cell.append(el("span", { class: "tags-source", title: `The worker's own tags: ${own}` }, "set by admin"));
  }
  if (worker.may_act) {
    cell.append(el("button", { type: "button", class: "edit-tags", "data-edit-tags": "",
                               title: `Edit the tags of ${worker.nickname}` }, "Edit tags"));
  }
  return cell;
}

function openEditor(cell, el) {
  const row = cell.closest("tr");
  const current = [...cell.querySelectorAll(".tag")].map((tag) => tag.dataset.tag).join(" ");
  const form = el("form", { class: "tag-editor" },
    el("input", { type: "text", name: "tags", value: current, "aria-label": "Tags, separated by spaces",
                  placeholder: "gpu big-ram" }),
    el("button", { type: "submit" }, "Save tags"));
  if (cell.querySelector(".tags-source")) form.append(el("button", { type: "button", "data-own-tags": "" }, "Use its own tags"));
  form.append(el("button", { type: "button", "data-cancel-tags": "" }, "Cancel"));
  cell.replaceChildren(form);
  row.dataset.editing = "tags";
  form.elements.tags.focus();
}

// Clicks and submits inside the table: open, save, reset or cancel the editor. ``queue(row, body)``
// posts the action for the row's worker; ``redraw(row)`` draws the row anew from the next poll.
export function initTagEditing(table, el, queue, redraw) {
  const close = (row) => { delete row.dataset.editing; redraw(row); };
  table.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-edit-tags], button[data-own-tags], button[data-cancel-tags]");
    if (!button) return;
    const row = button.closest("tr");
    if (button.matches("[data-edit-tags]")) openEditor(button.closest("td"), el);
    else if (button.matches("[data-cancel-tags]")) close(row);
    else if (await queue(row, { action: "set-tags", tags: null })) close(row);
  });
  table.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.tag-editor");
    if (!form) return;
    event.preventDefault();
    const row = form.closest("tr");
    if (await queue(row, { action: "set-tags", tags: parseTags(form.elements.tags.value) })) close(row);
  });
}
