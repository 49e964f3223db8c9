// The console's only script: served by the console itself (CSP script-src 'self'), no framework.
"use strict";

// Filters submit on change (an inline handler would break the CSP).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}

// Drop a file anywhere on a drop label.
for (const label of document.querySelectorAll("label.drop")) {
  const input = label.querySelector("input[type=file]");
  label.addEventListener("dragover", (event) => {
    event.preventDefault();
    label.classList.add("over");
  });
  label.addEventListener("dragleave", () => label.classList.remove("over"));
  label.addEventListener("drop", (event) => {
    event.preventDefault();
    label.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length > 0) input.files = event.dataTransfer.files;
  });
}

// Live progress from server-sent events; the page reloads once the run ends to show the results.
const progress = document.querySelector("#progress[data-running=true]");
if (progress) {
  const field = (name) => progress.querySelector(`[data-field=${name}]`);
  const events = new EventSource(progress.dataset.events);
  events.onmessage = (message) => {
    const s = JSON.parse(message.data);
    if (!s) return;
    const percent = s.total > 0 ? Math.floor((s.settled / s.total) * 100) : 0;
    field("bar").value = percent;
    field("percent").textContent = `${percent} %`;
    for (const name of ["issued", "failed", "pending", "rate", "retries"]) field(name).textContent = String(s[name]);
    field("eta").textContent = s.etaSeconds === undefined ? "—" : `${s.etaSeconds} s`;
    field("chart").setAttribute("points", chartPoints(s.history));
    if (s.state === "ended") {
      events.close();
      location.reload();
    }
  };
}

// The same drawing as the server's first render (run-section.ts): newest point at the right.
function chartPoints(history) {
  const max = Math.max(1, ...history);
  // Up to 120 points across the width; a short run's few points spread over it too.
  const step = 240 / Math.max(1, history.length - 1);
  return history.map((v, i) => `${(i * step).toFixed(1)},${(58 - (v / max) * 56).toFixed(1)}`).join(" ");
}
