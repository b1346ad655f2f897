// The alert feed: one row per SKU (per SKU and channel for a stalled channel) with its
// current level and state, its notifications folded under it, and one Ack for the alert.
"use strict";

import { api } from "./api.js";
import { clock, evidenceLines, rank } from "./evidence.js";
import { prefill, silencesKnown, silencesMatching } from "./silences.js";

const MAX_EVENTS_PER_ROW = 100;
const rows = new Map();
const names = new Map();
let scheduled = false;

const $ = (id) => document.getElementById(id);

export function rowKey(alert) {
  return alert.level === "CHANNEL_STALLED" ? `${alert.sku}|${alert.channel}` : alert.sku;
}

function rowOf(alert) {
  const key = rowKey(alert);
  let row = rows.get(key);
  if (!row) {
    row = { key, sku: alert.sku, channel: alert.level === "CHANNEL_STALLED" ? alert.channel : "",
            alerts: new Map(), events: [], updated: 0 };
    rows.set(key, row);
  }
  return row;
}

/** Remember a notification (from the history or the live stream). */
export function addNotification(eventId, record) {
  const alert = record.alert;
  const row = rowOf(alert);
  if (eventId && row.events.some((e) => e.eventId === eventId)) return;
  const known = row.alerts.get(alert.id);
  // an ack made after this notification was recorded stays
  row.alerts.set(alert.id, known && known.acked_by && !alert.acked_by
    ? Object.assign({}, alert, { acked_by: known.acked_by, acked_wall: known.acked_wall }) : alert);
  row.events.push({ eventId, at: alert.updated_wall, kind: record.kind, level: alert.level,
                    status: alert.status, inhibited: record.inhibited, silenced: record.silenced,
                    quiet: Boolean(record.quiet),
                    alertId: alert.id });
  if (row.events.length > MAX_EVENTS_PER_ROW) row.events.shift();
  row.updated = Math.max(row.updated, alert.updated_wall || 0);
  schedule();
}

/** The open alerts as the service has them now (acknowledgements made elsewhere too). */
export function setOpen(openAlerts) {
  const open = new Set(openAlerts.map((a) => a.id));
  for (const alert of openAlerts) {
    const row = rowOf(alert);
    row.alerts.set(alert.id, alert);
    row.updated = Math.max(row.updated, alert.updated_wall || 0);
  }
  // a firing alert the service no longer has open has resolved (its notification may be
  // older than the history this page read)
  for (const row of rows.values()) {
    for (const [id, alert] of row.alerts) {
      if (alert.status !== "resolved" && alert.status !== "pending" && !open.has(id)) {
        row.alerts.set(id, Object.assign({}, alert, { status: "resolved" }));
      }
    }
  }
  schedule();
}

export function setNames(skus) { skus.forEach((s) => names.set(s.sku, s.name)); }

export function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

function summary(row) {
  const alerts = [...row.alerts.values()];
  const open = alerts.filter((a) => a.status !== "resolved");
  const byLevel = (a, b) => rank(b.level) - rank(a.level) || (b.updated_wall || 0) - (a.updated_wall || 0);
  const current = (open.length ? open : alerts).sort(byLevel)[0];
  const latest = [...row.events].reverse().find((e) => e.alertId === current.id);
  return {
    current,
    open,
    state: open.length ? current.status : "resolved",
    acked: open.length > 0 && open.every((a) => a.acked_by),
    inhibited: Boolean(latest && latest.inhibited) && open.length > 0,
    silences: open.length ? silencesMatching(current) : [],
    silencedNote: Boolean(latest && latest.silenced),
  };
}

function tag(text, className) {
  const span = document.createElement("span");
  span.className = `tag ${className}`;
  span.textContent = text;
  return span;
}

function renderRow(row) {
  const s = summary(row);
  const a = s.current;
  const item = document.createElement("li");
  item.className = `row ${a.level} ${s.state}` + (s.acked ? " acked" : "");
  item.dataset.row = row.key;
  item.dataset.sku = row.sku;
  item.dataset.level = a.level;
  item.dataset.state = s.state;

  const head = document.createElement("div");
  head.className = "row-head";
  const level = tag(a.level, `level ${a.level}`);
  const title = document.createElement("b");
  title.textContent = row.sku + (row.channel ? ` · ${row.channel}` : "");
  const name = document.createElement("span");
  name.className = "sku-name";
  name.textContent = names.get(row.sku) || "";
  head.append(level, title, name, tag(s.state, `state ${s.state}`));
  if (s.inhibited) head.append(tag("inhibited", "inhibited"));
  // muted now: by an active silence, or (when this token cannot read silences) as the
  // latest notification says
  const muted = silencesKnown() ? s.silences.length > 0 : s.silencedNote && s.state !== "resolved";
  if (muted) head.append(tag("silenced", "silenced"));
  if (s.acked) head.append(tag(`acked by ${[...new Set(s.open.map((x) => x.acked_by))].join(", ")}`, "acked"));
  const since = document.createElement("span");
  since.className = "since";
  since.textContent = s.state === "resolved" ? `resolved ${clock(a.resolved_wall || a.updated_wall)}`
    : `since ${clock(a.opened_wall || a.updated_wall)}`;
  head.append(since);
  item.append(head);

  if (s.state !== "resolved" && !s.acked) {
    const ack = document.createElement("button");
    ack.className = "ack";
    ack.textContent = "Ack";
    ack.title = "acknowledge this alert (every open level of this row)";
    ack.addEventListener("click", () => acknowledge(row, s.open, ack));
    head.append(ack);
  }
  if (s.state !== "resolved") {
    const mute = document.createElement("button");
    mute.className = "mute";
    mute.textContent = "Silence…";
    mute.title = "fill the silences form for this SKU and level";
    mute.addEventListener("click", () => prefill(row.sku, a.level));
    head.append(mute);
  }
  if (!s.acked || s.state === "resolved") {
    const reason = document.createElement("div");
    reason.className = "reason";
    reason.textContent = a.reason || "";
    const evidence = document.createElement("ul");
    evidence.className = "evidence";
    evidenceLines(a.evidence).forEach((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      evidence.append(li);
    });
    item.append(reason, evidence);
    if (a.playbook || a.hint) {
      const playbook = document.createElement("div");
      playbook.className = "playbook";
      playbook.textContent = [a.playbook && `应对 Playbook: ${a.playbook}`, a.hint && `弹幕: ${a.hint}`]
        .filter(Boolean).join(" · ");
      item.append(playbook);
    }
  }
  const history = document.createElement("details");
  history.className = "history";
  const label = document.createElement("summary");
  label.textContent = `history (${row.events.length} notification${row.events.length === 1 ? "" : "s"})`;
  const list = document.createElement("ol");
  [...row.events].reverse().forEach((e) => {
    const li = document.createElement("li");
    li.textContent = `${clock(e.at)} ${e.level} ${e.kind} (${e.status})`;
    if (e.inhibited) li.append(" ", tag("inhibited", "inhibited"));
    if (e.silenced) li.append(" ", tag("silenced", "silenced"));
    if (e.quiet) li.append(" ", tag("quiet: not sent", "quiet"));
    list.append(li);
  });
  history.append(label, list);
  item.append(history);
  return item;
}

async function acknowledge(row, open, button) {
  button.disabled = true;
  button.textContent = "acking…";
  try {
    for (const alert of open.filter((x) => !x.acked_by)) {
      const acked = await api(`/v1/alerts/${encodeURIComponent(alert.id)}/ack`, { method: "POST", body: "{}" });
      row.alerts.set(acked.id, acked);
    }
  } catch (error) {
    button.disabled = false;
    button.textContent = error.status === 403 ? "Ack (needs an operator token)" : "Ack failed: retry";
    button.title = `not acknowledged: ${error.message}`;
    button.classList.add("failed");
    return;
  }
  schedule();
}

function render() {
  const order = [...rows.values()].map((row) => ({ row, s: summary(row) })).sort((x, y) =>
    (x.s.state === "resolved") - (y.s.state === "resolved")
    || x.s.acked - y.s.acked
    || rank(y.s.current.level) - rank(x.s.current.level)
    || y.row.updated - x.row.updated);
  const open = new Set([...document.querySelectorAll("#alerts details[open]")]
    .map((d) => d.closest("li.row").dataset.row));
  $("alerts").replaceChildren(...order.map(({ row }) => {
    const item = renderRow(row);
    if (open.has(row.key)) item.querySelector("details").open = true;
    return item;
  }));
  $("feed-empty").hidden = rows.size > 0;
}

/** The highest open level per SKU, for the table. */
export function levels() {
  const result = new Map();
  for (const row of rows.values()) {
    const s = summary(row);
    if (s.state !== "resolved" && rank(s.current.level) > rank(result.get(row.sku))) {
      result.set(row.sku, s.current.level);
    }
  }
  return result;
}
