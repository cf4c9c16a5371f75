// The last-rendered image: the job page swaps in a job's newer frame when its
// live event carries a new `last_rendered` stamp; the farm page (no project,
// so no event stream) polls for the newest frame of the user's projects.
// Image URLs carry the stamp, so a new frame is a new URL and never a stale cache.
import { getJSON } from "./http.js";
import { onLive, setLiveState } from "./live.js";

function showImage(container, url, stamp) {
  const image = container.querySelector(".last-rendered-image");
  image.src = url;
  image.hidden = false;
  container.dataset.stamp = stamp;
  const empty = container.querySelector(".last-rendered-empty");
  if (empty) empty.hidden = true;
}

function initJobImage() {
  const container = document.querySelector("[data-last-rendered]");
  if (!container) return;
  onLive("job", (event) => {
    if (event._id !== container.dataset.jobId || !event.last_rendered) return;
    if (event.last_rendered === container.dataset.stamp) return;
    const url = `${container.dataset.imageUrl}?v=${encodeURIComponent(event.last_rendered)}`;
    showImage(container, url, event.last_rendered);
  });
}

function showNewest(container, newest) {
  if (!newest || newest.at === container.dataset.stamp) return;
  showImage(container, newest.image_url, newest.at);
  const link = container.querySelector(".last-rendered-job");
  link.href = newest.job_url;
  link.textContent = newest.job_name;
  container.querySelector(".last-rendered-project").textContent = newest.project_name;
  container.querySelector(".last-rendered-caption").hidden = false;
}

function initFarmImage() {
  const container = document.querySelector("[data-farm-last-rendered]");
  if (!container) return;
  const interval = Number(container.dataset.pollMs) || 5000;
  const poll = async () => {
    try {
      showNewest(container, (await getJSON(container.dataset.pollUrl)).newest);
      setLiveState("on", "live");
    } catch (_) {
      setLiveState("off", "reconnecting…");
    }
    setTimeout(poll, interval);
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  initJobImage();
  initFarmImage();
});
