// Managers pages: poll the Managers' presence (online, last heard from) and
// show it without a reload. Managers belong to no project, so the project
// event streams do not reach these pages; a small JSON poll does.
import { getJSON } from "./http.js";
import { setLiveState } from "./live.js";

function showPresence(container, manager) {
  const badge = container.querySelector(".presence");
  if (badge) {
    badge.className = `presence presence-${manager.presence}`;
    badge.dataset.presence = manager.presence;
    badge.textContent = manager.presence === "never" ? "never heard from" : manager.presence;
  }
  const time = container.querySelector(".last-heard");
  if (time) {
    time.textContent = manager.last_contact_text;
    if (manager.last_contact) time.setAttribute("datetime", manager.last_contact);
  }
  const workers = container.querySelector(".nr-of-workers");
  if (workers && manager.nr_of_workers != null) workers.textContent = String(manager.nr_of_workers);
}

export function initManagerPresence() {
  const root = document.querySelector("[data-presence-url]");
  if (!root) return;
  const interval = Number(root.dataset.pollMs) || 5000;
  let timer = null;
  let running = false;
  const poll = async () => {
    timer = null;
    running = true;
    try {
      const data = await getJSON(root.dataset.presenceUrl);
      setLiveState("on", "live");
      for (const manager of data.managers) {
        const selector = `[data-manager-id="${manager._id}"]`;
        const container = root.matches(selector) ? root : root.querySelector(selector);
        if (container) showPresence(container, manager);
      }
    } catch (_) {
      setLiveState("off", "reconnecting…");
    } finally {
      running = false;
    }
    if (!document.hidden) timer = setTimeout(poll, interval);
  };
  // A hidden tab stops polling, and polls at once when shown again.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !running && timer === null) poll();
  });
  poll();
}
