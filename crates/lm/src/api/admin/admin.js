// The module's admin page: polls /admin/api/overview and drives the module's own API.
// Same origin only; the browser sends the Basic credentials it was asked for.
"use strict";

const $ = (id) => document.getElementById(id);
const SOLD_PAGE = 50;
let soldSkip = 0;
let initialising = false;
let greyMode = false;

function text(id, value) {
  $(id).textContent = value;
}

function when(ms) {
  return ms > 0 ? new Date(ms).toLocaleString() : "never";
}

function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "unknown";
  if (seconds < 60) return Math.ceil(seconds) + " s";
  if (seconds < 3600) return Math.ceil(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

function number(n) {
  return n == null ? "—" : Number(n).toLocaleString("en-US");
}

async function call(method, path, body, type) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = typeof body === "string" || body instanceof Blob ? body : JSON.stringify(body);
    options.headers["Content-Type"] = type || "application/json";
  }
  const response = await fetch(path, options);
  const raw = await response.text();
  let data = null;
  try { data = raw ? JSON.parse(raw) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const why = data && data.description ? data.description : raw || response.statusText;
    throw new Error(response.status + ": " + why);
  }
  return data;
}

function showError(err) {
  const box = $("error");
  if (err) {
    box.textContent = String(err.message || err);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

function renderLists(lists) {
  const body = $("lists").tBodies[0];
  body.replaceChildren();
  for (const list of lists) {
    const row = body.insertRow();
    row.insertCell().textContent = list.name;
    row.insertCell().textContent = number(list.docCount);
    row.insertCell().textContent = list.pulled ? "done" : "pending";
  }
}

function renderProgress(view) {
  const lists = view.lists.filter((l) => l.progress);
  const box = $("progress");
  if (!initialising && view.state !== "initialization") {
    if (view.state === "ready" && !box.hidden) {
      $("progress-bar").style.width = "100%";
      const docs = view.lists.reduce((sum, l) => sum + l.docCount, 0);
      text("progress-text", "ready: " + number(docs) + " documents");
    }
    return;
  }
  box.hidden = false;
  let received = 0, expected = 0, rate = 0, eta = 0;
  for (const list of lists) {
    received += list.progress.received;
    expected += list.progress.expected;
    rate += list.progress.docsPerMinute / 60;
    eta = Math.max(eta, list.progress.etaSeconds || 0);
  }
  if (view.state === "ready") {
    initialising = false;
    const docs = view.lists.reduce((sum, l) => sum + l.docCount, 0);
    $("progress-bar").style.width = "100%";
    text("progress-text", "ready: " + number(docs) + " documents in the lists");
    text("init-message", "initialised");
    return;
  }
  const percent = expected > 0 ? Math.min(100, (received * 100) / expected) : 0;
  $("progress-bar").style.width = percent.toFixed(1) + "%";
  text(
    "progress-text",
    view.state + ": " + number(received) + " / " + number(expected) + " documents (" +
      percent.toFixed(1) + " %), " + number(Math.round(rate)) + " docs/s, ~" +
      duration(eta) + " left"
  );
}

function renderTills(tills) {
  const body = $("tills").tBodies[0];
  body.replaceChildren();
  for (const till of tills) {
    const row = body.insertRow();
    row.insertCell().textContent = till.clientId || "(no X-ClientId)";
    row.insertCell().textContent = number(till.requests);
    row.insertCell().textContent = number(till.errors);
    for (const result of ["ok", "blocked", "sold", "invalid", "not_ready"]) {
      row.insertCell().textContent = number(till.results[result] || 0);
    }
    const list = document.createElement("ul");
    list.className = "recent";
    for (const check of till.recent.slice(0, 5)) {
      const item = document.createElement("li");
      item.textContent = new Date(check.at).toLocaleTimeString() + " " + check.result + " " + check.ki;
      list.append(item);
    }
    row.insertCell().append(list);
  }
}

function render(view) {
  const state = $("state");
  state.textContent = view.state;
  state.className = "badge " + view.state;
  text("version", view.version);
  text("inn", view.inn || "—");
  text("inst", view.inst || "—");
  text("service-url", view.serviceUrl);
  text("last-sync", when(view.lastSync));
  text("last-update", when(view.lastUpdate));
  text("db-version", view.dbVersion || "—");
  text("mode", view.greyMode ? "grey GTIN" : "normal (blocked KIs)");
  text("sold-count", number(view.soldCount));
  text("sold-total", number(view.soldCount));
  greyMode = view.greyMode;
  text("grey-now", view.greyMode ? "on" : "off");
  $("grey-toggle").textContent = view.greyMode ? "Switch grey-GTIN mode off" : "Switch grey-GTIN mode on";
  $("default-login").hidden = !view.defaultLogin;
  renderLists(view.lists);
  renderProgress(view);
  renderTills(view.tills);
}

async function refresh() {
  try {
    render(await call("GET", "/admin/api/overview"));
    showError(null);
  } catch (err) {
    showError(err);
  }
  setTimeout(refresh, initialising ? 300 : 2000);
}

async function loadSold() {
  try {
    const page = await call("GET", "/admin/api/sold?skip=" + soldSkip + "&limit=" + SOLD_PAGE);
    const body = $("sold").tBodies[0];
    body.replaceChildren();
    for (const entry of page.entries) {
      const row = body.insertRow();
      const ki = row.insertCell();
      ki.className = "ki";
      ki.textContent = entry.ki;
      row.insertCell().textContent = when(entry.soldAt);
    }
    const last = Math.min(page.total, soldSkip + page.entries.length);
    text("sold-page", page.total ? soldSkip + 1 + "–" + last + " of " + page.total : "empty");
    $("sold-prev").disabled = soldSkip === 0;
    $("sold-next").disabled = last >= page.total;
  } catch (err) {
    showError(err);
  }
}

$("init-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const grey = $("init-grey").checked;
  if (grey && !$("grey-accept").checked) {
    text("init-message", "grey-GTIN mode: tick “I understand and accept these risks” first");
    return;
  }
  text("init-message", "registering…");
  $("init-submit").disabled = true;
  try {
    await call("POST", "/api/v2/init", {
      token: $("token").value.trim(),
      clearSold: $("init-clear-sold").checked,
      enableGreyList: grey,
    });
    initialising = true;
    $("progress").hidden = false;
    $("progress-bar").style.width = "0%";
    text("init-message", "registered; pulling the lists…");
  } catch (err) {
    text("init-message", "refused: " + err.message);
  } finally {
    $("init-submit").disabled = false;
  }
});

$("grey-toggle").addEventListener("click", async () => {
  const enable = !greyMode;
  if (enable && !$("grey-accept").checked) {
    text("grey-message", "tick “I understand and accept these risks” first");
    return;
  }
  try {
    await call("POST", "/api/v2/greyList", { enableGreyList: enable });
    initialising = true;
    text("grey-message", enable ? "switched on; re-syncing" : "switched off; re-syncing");
  } catch (err) {
    text("grey-message", "refused: " + err.message);
  }
});

$("import").addEventListener("click", async () => {
  const file = $("import-file").files[0];
  if (!file) {
    text("import-message", "choose a JSON or CSV export first");
    return;
  }
  const csv = file.name.toLowerCase().endsWith(".csv") || file.type === "text/csv";
  try {
    const done = await call("POST", "/admin/api/sold/import", file, csv ? "text/csv" : "application/json");
    text("import-message", "added " + done.added + ", already there " + done.present + ", expired " + done.expired);
    loadSold();
  } catch (err) {
    text("import-message", "refused: " + err.message);
  }
});

$("sold-prev").addEventListener("click", () => {
  soldSkip = Math.max(0, soldSkip - SOLD_PAGE);
  loadSold();
});
$("sold-next").addEventListener("click", () => {
  soldSkip += SOLD_PAGE;
  loadSold();
});

$("credentials-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = $("password").value;
  if (password !== $("password-again").value) {
    text("credentials-message", "the two passwords differ");
    return;
  }
  try {
    await call("POST", "/admin/api/credentials", { login: $("login").value.trim(), password });
    text("credentials-message", "changed: the browser will ask for the new login");
  } catch (err) {
    text("credentials-message", "refused: " + err.message);
  }
});

refresh();
loadSold();
