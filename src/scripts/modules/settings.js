// The Settings page: sends a Manager's variable, secret and sleep-schedule changes to the REST API.
// The server checks everything (and names the field when it refuses); the page reloads to show what is saved.
import { csrfToken, errorMessage, postJSON } from "./http.js";

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

function showError(element, error) {
  element.textContent = error.message;
  element.hidden = false;
}

function variableUrl(section, name) {
  return `${section.dataset.settingsUrl}/variables/${encodeURIComponent(name)}`;
}

function initVariableForm(section) {
  const form = section.querySelector(".variable-form");
  const errorBox = form.querySelector(".form-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const values = {};
    for (const input of form.querySelectorAll('input[name^="value-"]')) {
      if (input.value.trim()) values[input.name.slice("value-".length)] = input.value.trim();
    }
    const body = { direction: form.elements.direction.value, values };
    try {
      await send("PUT", variableUrl(section, form.elements.name.value.trim()), body);
      window.location.reload();
    } catch (error) {
      showError(errorBox, error);
    }
  });
  section.querySelectorAll(".edit-variable").forEach((button) => button.addEventListener("click", () => {
    const row = button.closest("tr");
    form.elements.name.value = row.dataset.variable;
    form.elements.direction.value = row.dataset.direction;
    row.querySelectorAll("td[data-platform]").forEach((cell) => {
      form.elements[`value-${cell.dataset.platform}`].value = cell.dataset.value;
    });
    form.elements[`value-${row.querySelector("td[data-platform]").dataset.platform}`].focus();
  }));
  section.querySelectorAll(".remove-variable").forEach((button) => button.addEventListener("click", async () => {
    if (!window.confirm(button.dataset.confirm)) return;
    try {
      await send("DELETE", variableUrl(section, button.closest("tr").dataset.variable));
      window.location.reload();
    } catch (error) {
      showError(errorBox, error);
    }
  }));
}

function initSecretRotation(section) {
  const button = section.querySelector(".rotate-secret");
  const errorBox = section.querySelector(".secret-error");
  button.addEventListener("click", async () => {
    if (!window.confirm(button.dataset.confirm)) return;
    errorBox.hidden = true;
    try {
      const answer = await postJSON(`${section.dataset.settingsUrl}/registration-secret`, {});
      const box = section.querySelector(".new-secret");
      box.querySelector(".secret-value").textContent = answer.worker_registration_secret;
      box.hidden = false;
    } catch (error) {
      showError(errorBox, error);
    }
  });
}

function initScheduleForms(section) {
  section.querySelectorAll(".schedule-form").forEach((form) => form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorBox = form.querySelector(".form-error");
    errorBox.hidden = true;
    const workerId = form.closest("tr").dataset.workerId;
    const schedule = {
      schedule_active: form.elements.schedule_active.checked,
      days_of_week: form.elements.days_of_week.value.trim(),
      time_start: form.elements.time_start.value.trim(),
      time_end: form.elements.time_end.value.trim(),
    };
    try {
      await postJSON(section.dataset.actionsUrl.replace("WORKER", workerId),
        { action: "set-sleep-schedule", schedule });
      window.location.reload();
    } catch (error) {
      showError(errorBox, error);
    }
  }));
}

export function initSettings() {
  document.querySelectorAll(".manager-settings").forEach((section) => {
    initVariableForm(section);
    initSecretRotation(section);
    initScheduleForms(section);
  });
}
