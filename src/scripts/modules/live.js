// Live updates: one EventSource per page on the project's SSE stream.
// Handlers registered with onLive(kind, fn) get the parsed event. Pages
// outside a project poll instead and report through setLiveState.

const handlers = { job: [], task: [] };

export function onLive(kind, fn) {
  handlers[kind].push(fn);
}

export function setLiveState(state, text) {
  document.body.dataset.live = state;
  const label = document.querySelector(".live-text");
  if (label) label.textContent = text;
}

export function connectLive() {
  const url = document.body.dataset.eventsUrl;
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  source.addEventListener("hello", () => setLiveState("on", "live"));
  source.addEventListener("error", () => setLiveState("off", "reconnecting…"));
  for (const kind of Object.keys(handlers)) {
    source.addEventListener(kind, (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (_) { return; }
      for (const fn of handlers[kind]) fn(event);
    });
  }
  window.addEventListener("pagehide", () => source.close());
}
