// Page-wide helpers: status messages, throttled refreshes, status badges.

let flashTimer = null;

export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.className = `flash flash-${kind}`;
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

// A message for the page the browser goes to next (after a deletion, say).
const PENDING_FLASH_KEY = "flamenco-flash";

export function flashOnNextPage(message) {
  sessionStorage.setItem(PENDING_FLASH_KEY, message);
}

export function showPendingFlash() {
  const message = sessionStorage.getItem(PENDING_FLASH_KEY);
  if (!message) return;
  sessionStorage.removeItem(PENDING_FLASH_KEY);
  flash(message);
}

// Run `fn` at most once per `intervalMs`: at once when idle, else once more
// after the interval, however many calls came in between. Live updates can
// arrive by the hundred per second; pages refresh at most once a second.
export function throttled(fn, intervalMs = 1000) {
  let last = 0;
  let timer = null;
  let running = false;
  const run = async () => {
    timer = null;
    running = true;
    last = Date.now();
    try { await fn(); } finally { running = false; }
  };
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + intervalMs - Date.now());
    if (wait === 0 && !running) { run(); return; }
    timer = setTimeout(run, Math.max(wait, running ? intervalMs : 0));
  };
}

export function setBadge(container, status) {
  const badge = container && container.querySelector(".status");
  if (!badge || !status) return;
  badge.className = `status status-${status}`;
  badge.dataset.status = status;
  badge.textContent = status.replace(/-/g, " ");
}

// Replace an element's content with fresh server-rendered HTML.
export function replaceContent(element, html) {
  element.innerHTML = html;
  element.dispatchEvent(new CustomEvent("content-replaced", { bubbles: true }));
}
