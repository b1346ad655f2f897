// The operators' live screen: SKU table, selected SKU's chart and live-room hint, and the
// alert feed from the SSE stream (GET /v1/alerts/stream), all without reloading.
"use strict";

const state = { selected: null, history: {}, skus: [], source: null };
const $ = (id) => document.getElementById(id);

function token() { return localStorage.getItem("flashstock-token") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.status === 204 ? null : response.json();
}

function text(value) { return value === null || value === undefined ? "-" : String(value); }

function renderSkus(page) {
  state.skus = page.items;
  const body = $("skus").querySelector("tbody");
  body.replaceChildren(...page.items.map((sku) => {
    const row = document.createElement("tr");
    row.dataset.sku = sku.sku;
    row.className = `level-${sku.alert_level || "none"}` + (sku.sku === state.selected ? " selected" : "");
    [sku.sku, sku.name, sku.available, sku.sold, sku.reserved, sku.velocity_per_min,
     sku.eta_minutes, sku.sellable_orders, sku.alert_level].forEach((value) => {
      const cell = document.createElement("td");
      cell.textContent = text(value);
      row.appendChild(cell);
    });
    row.addEventListener("click", () => { state.selected = sku.sku; refresh(); });
    return row;
  }));
  const now = Date.now() / 1000;
  page.items.forEach((sku) => {
    const points = state.history[sku.sku] || (state.history[sku.sku] = []);
    points.push([now, sku.velocity_per_min || 0, sku.available]);
    if (points.length > 600) points.shift();
  });
  if (!state.selected && page.items.length) state.selected = page.items[0].sku;
}

async function renderSelected() {
  const sku = state.selected;
  $("selected").textContent = text(sku);
  if (!sku) return;
  const points = state.history[sku] || [];
  drawChart($("chart"), [
    { label: "velocity /min", color: "#2563eb", points: points.map((p) => [p[0], p[1]]) },
    { label: "available", color: "#16a34a", points: points.map((p) => [p[0], p[2]]) },
  ]);
  const [hint] = await api(`/v1/live/hints?skus=${encodeURIComponent(sku)}`);
  $("host-line").textContent = hint.host_line;
  $("chat-hint").textContent = hint.chat_hint || "-";
  $("substitute").textContent = hint.substitute || "-";
}

async function refresh() {
  try {
    renderSkus(await api("/v1/skus?limit=500"));
    await renderSelected();
  } catch (error) {
    console.warn(error);
  }
}

function addAlert(eventId, record) {
  const alert = record.alert;
  const item = document.createElement("li");
  item.className = `${alert.level} ${alert.status}`;
  item.dataset.alertId = alert.id;
  item.dataset.eventId = eventId;
  const title = document.createElement("div");
  title.innerHTML = "<b></b> <span class='kind'></span> <span class='reason'></span>";
  title.querySelector("b").textContent = `${alert.level} · ${alert.sku}`;
  title.querySelector(".kind").textContent = `[${record.kind}]`;
  title.querySelector(".reason").textContent = alert.reason;
  const playbook = document.createElement("div");
  playbook.textContent = `${alert.playbook} ${alert.hint ? "· 弹幕: " + alert.hint : ""}`;
  const evidence = document.createElement("div");
  evidence.className = "evidence";
  evidence.textContent = JSON.stringify(alert.evidence);
  item.append(title, playbook, evidence);
  if (alert.status !== "resolved") {
    const ack = document.createElement("button");
    ack.textContent = alert.acked_by ? `acked by ${alert.acked_by}` : "Ack";
    ack.disabled = Boolean(alert.acked_by);
    ack.className = "ack";
    ack.addEventListener("click", async () => {
      const acked = await api(`/v1/alerts/${encodeURIComponent(alert.id)}/ack`,
                              { method: "POST", body: "{}" });
      ack.textContent = `acked by ${acked.acked_by}`;
      ack.disabled = true;
    });
    item.appendChild(ack);
  }
  $("alerts").prepend(item);
}

function connect() {
  if (state.source) state.source.close();
  const query = token() ? `?access_token=${encodeURIComponent(token())}` : "";
  const source = new EventSource(`/v1/alerts/stream${query}`);
  source.onopen = () => { $("connection").textContent = "SSE: live"; $("connection").className = "badge on"; };
  source.onerror = () => { $("connection").textContent = "SSE: reconnecting"; $("connection").className = "badge off"; };
  source.addEventListener("alert", (event) => {
    addAlert(event.lastEventId, JSON.parse(event.data));
    refresh();
  });
  state.source = source;
}

async function loadOpenAlerts() {
  try {
    const open = await api("/v1/alerts?state=open");
    open.items.forEach((alert) => addAlert("", { kind: "open", alert }));
  } catch (error) { console.warn(error); }
}

$("token").value = token();
$("token").addEventListener("change", () => {
  localStorage.setItem("flashstock-token", $("token").value);
  connect(); refresh();
});
connect();
loadOpenAlerts();
refresh();
setInterval(refresh, 2000);
