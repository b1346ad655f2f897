// The operators' live screen: the SKU table, the selected SKU's chart and live-room hint,
// the alert feed (history, then the SSE stream GET /v1/alerts/stream from where the
// history ended) and the silences panel; all without reloading. No build step.
"use strict";

import { api, hideAuth, installTokenForms, onTokenChange, showAuth, token } from "./api.js";
import { drawHistory, resizeChart } from "./chart.js";
import { addNotification, levels, schedule as scheduleFeed, setNames, setOpen } from "./feed.js";
import { installSilenceForm, loadSilences, onSilencesChange } from "./silences.js";

const REFRESH_MS = 2000;
const HISTORY_REFRESH_MS = 30000;
const HISTORY_PAGES = 20;
const state = { selected: null, skus: [], source: null, lastEventId: null, timer: null,
                history: null, historyAt: 0, historySku: null, started: false };
const $ = (id) => document.getElementById(id);
const text = (value) => (value === null || value === undefined ? "-" : String(value));

function setConnection(label, on) {
  $("connection").textContent = label;
  $("connection").className = `badge ${on ? "on" : "off"}`;
}

function renderSkus(page) {
  state.skus = page.items;
  setNames(page.items);
  const feedLevels = levels();
  $("sku-count").textContent = `(${page.total})`;
  const body = $("skus").querySelector("tbody");
  body.replaceChildren(...page.items.map((sku) => {
    const level = sku.alert_level || feedLevels.get(sku.sku) || null;
    const row = document.createElement("tr");
    row.dataset.sku = sku.sku;
    row.className = `level-${level || "none"}` + (sku.sku === state.selected ? " selected" : "");
    const velocity = sku.velocity_per_min === null || sku.velocity_per_min === undefined
      ? null : Number(sku.velocity_per_min).toFixed(1);
    const eta = sku.eta_minutes === null || sku.eta_minutes === undefined ? null
      : Number(sku.eta_minutes).toFixed(sku.eta_minutes < 10 ? 1 : 0);
    [sku.sku, sku.name, sku.available, sku.sold, sku.reserved, velocity, eta, sku.sellable_orders, level]
      .forEach((value, index) => {
        const cell = document.createElement("td");
        cell.textContent = text(value);
        if (index === 1) { cell.className = "name"; cell.title = sku.name; }
        row.appendChild(cell);
      });
    row.addEventListener("click", () => select(sku.sku));
    return row;
  }));
  if (!state.selected && page.items.length) select(page.items[0].sku);
}

function select(sku) {
  state.selected = sku;
  state.history = null;
  document.querySelectorAll("#skus tr.selected").forEach((r) => r.classList.remove("selected"));
  const row = document.querySelector(`#skus tr[data-sku="${CSS.escape(sku)}"]`);
  if (row) row.classList.add("selected");
  renderSelected(true);
}

async function loadHistory(sku) {
  state.history = await api(`/v1/skus/${encodeURIComponent(sku)}/history?minutes=360`);
  state.historyAt = Date.now();
  state.historySku = sku;
}

async function renderSelected(reloadHistory = false) {
  const sku = state.selected;
  $("selected").textContent = text(sku);
  if (!sku) return;
  const current = state.skus.find((s) => s.sku === sku);
  $("selected-name").textContent = current ? current.name : "";
  if (reloadHistory || state.historySku !== sku || Date.now() - state.historyAt > HISTORY_REFRESH_MS) {
    await loadHistory(sku);
  }
  if (state.selected !== sku) return;
  const live = current ? { at: Date.now() / 1000, available: current.available } : null;
  const count = drawHistory($("chart"), state.history, live);
  $("chart-note").textContent = count < 2
    ? "Not enough history yet: the chart fills as orders arrive (one point per minute)."
    : (state.history.complete ? "" : "Older minutes not shown (read limit reached).");
  renderChannels(current);
  const [hint] = await api(`/v1/live/hints?skus=${encodeURIComponent(sku)}`);
  $("host-line").textContent = hint.host_line;
  $("chat-hint").textContent = hint.chat_hint || "-";
  $("substitute").textContent = hint.substitute || "-";
}

function renderChannels(sku) {
  const visible = sku && sku.visible;
  if (!visible || !Object.keys(visible).length) {
    $("channels").replaceChildren();
    return;
  }
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th>channel 渠道</th><th>units the platform may show</th></tr></thead>";
  const body = document.createElement("tbody");
  Object.entries(visible).forEach(([channel, units]) => {
    const row = document.createElement("tr");
    row.dataset.channel = channel;
    [channel, units].forEach((value) => {
      const cell = document.createElement("td");
      cell.textContent = text(value);
      row.append(cell);
    });
    body.append(row);
  });
  table.append(body);
  $("channels").replaceChildren(table);
}

async function refresh() {
  try {
    const [page, open] = await Promise.all([api("/v1/skus?limit=500"), api("/v1/alerts?state=open")]);
    hideAuth();
    setOpen(open.items);
    renderSkus(page);
    await renderSelected();
  } catch (error) {
    if (error.status !== 401) console.warn(error);
  }
}

async function loadFeedHistory() {
  let after = "-";
  for (let page = 0; page < HISTORY_PAGES; page += 1) {
    const answer = await api(`/v1/alerts?state=history&limit=1000&after=${encodeURIComponent(after)}`);
    answer.items.forEach((item) => addNotification(item.event_id, item));
    if (answer.items.length) after = answer.items[answer.items.length - 1].event_id;
    if (answer.items.length < 1000) break;
  }
  state.lastEventId = after === "-" ? "0-0" : after;
}

function connect() {
  if (state.source) state.source.close();
  const query = new URLSearchParams();
  if (state.lastEventId) query.set("after", state.lastEventId);
  if (token()) query.set("access_token", token());
  const source = new EventSource(`/v1/alerts/stream?${query}`);
  let opened = false;
  source.onopen = () => { opened = true; setConnection("live", true); };
  source.onerror = async () => {
    setConnection(opened ? "reconnecting…" : "connecting…", false);
    try {
      await api("/v1/skus?limit=1");  // a refused token: the banner says so
    } catch (error) {
      if (error.status === 401) { source.close(); }
    }
  };
  source.addEventListener("alert", (event) => {
    const record = JSON.parse(event.data);
    state.lastEventId = event.lastEventId;
    addNotification(event.lastEventId, record);
    if (record.alert.sku === state.selected) state.historyAt = 0;  // redraw with the new marker
  });
  state.source = source;
}

async function start() {
  if (state.source) state.source.close();
  clearInterval(state.timer);
  try {
    await api("/v1/skus?limit=1");
  } catch (error) {
    if (error.status !== 401) {
      setConnection("service unreachable", false);
      setTimeout(start, 5000);
    } else if (!token()) {
      showAuth("required");
    }
    return;
  }
  hideAuth();
  await loadFeedHistory();
  connect();
  loadSilences();
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

installTokenForms();
installSilenceForm();
onTokenChange(start);
onSilencesChange(scheduleFeed);
window.addEventListener("resize", () => resizeChart($("chart")));
start();
