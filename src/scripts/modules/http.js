// Small fetch helpers: CSRF header for state changes, readable errors.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Turn an error response into one readable sentence.
export async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body._issues) {
      return Object.entries(body._issues).map(([field, reason]) => `${field}: ${reason}`).join("; ");
    }
    if (body._message) return body._message;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

// PATCH operation of the REST API (Pillar style: {"op": ...}); returns the raw response.
export function patchOp(url, body) {
  return fetch(url, {
    method: "PATCH",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
}

// DELETE of a REST API item; Eve wants the item's current ETag. Returns the raw response.
export function deleteItem(url, etag) {
  return fetch(url, {
    method: "DELETE",
    credentials: "same-origin",
    headers: { Accept: "application/json", "If-Match": etag, "X-CSRFToken": csrfToken() },
  });
}

export async function getHTML(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (response.redirected && new URL(response.url).pathname === "/login") {
    throw new Error("Your session ended: please log in again.");
  }
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.text();
}

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}
