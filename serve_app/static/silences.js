// The silences panel: active silences (GET /v1/silences), a form to create one with
// matchers (SKU pattern, level, channel) and a button to expire one early.
"use strict";

import { api } from "./api.js";
import { clock, duration } from "./evidence.js";

let active = [];
let known = false;
let onChange = () => {};
const $ = (id) => document.getElementById(id);

/** Same rule as policies/silences.py: ``*`` any run of characters, ``?`` one character. */
function skuMatches(pattern, sku) {
  const source = [...pattern].map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&"))).join("");
  return new RegExp(`^${source}$`, "s").test(sku);
}

export function silencesMatching(alert) {
  const now = Date.now() / 1000;
  return active.filter((s) => s.until_wall > now && skuMatches(s.sku, alert.sku)
    && (s.level === "*" || s.level === alert.level)
    && (s.channel === "*" || s.channel === (alert.channel || "")));
}

/** Whether this page could read the silences (a viewer's token may not). */
export const silencesKnown = () => known;

export function onSilencesChange(listener) { onChange = listener; }

export async function loadSilences() {
  try {
    active = await api("/v1/silences");
    known = true;
  } catch (error) {
    if (error.status === 403) {
      $("silence-error").textContent = "Your token may not see or change silences (needs operator).";
    }
    return;
  }
  render();
}

function render() {
  const now = Date.now() / 1000;
  $("silence-list").querySelector("tbody").replaceChildren(...active.map((s) => {
    const row = document.createElement("tr");
    row.dataset.silenceId = s.id;
    const left = duration((s.until_wall - now) / 60);
    [s.sku, s.level, s.channel, `${clock(s.until_wall)} (${left} left)`, s.created_by, s.comment || ""]
      .forEach((value) => {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      });
    const cell = document.createElement("td");
    const expire = document.createElement("button");
    expire.className = "expire";
    expire.textContent = "Expire now";
    expire.addEventListener("click", async () => {
      expire.disabled = true;
      try {
        await api(`/v1/silences/${encodeURIComponent(s.id)}`, { method: "DELETE" });
      } catch (error) {
        $("silence-error").textContent = error.message;
      }
      await loadSilences();
    });
    cell.append(expire);
    row.append(cell);
    return row;
  }));
  $("silences-empty").hidden = active.length > 0;
  onChange();
}

export function installSilenceForm() {
  $("silence-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {
      sku: form.get("sku").trim() || "*",
      level: form.get("level"),
      channel: form.get("channel").trim() || "*",
      minutes: Number(form.get("minutes")),
      comment: form.get("comment"),
    };
    $("silence-error").textContent = "";
    try {
      await api("/v1/silences", { method: "POST", body: JSON.stringify(body) });
    } catch (error) {
      $("silence-error").textContent = `Not silenced: ${error.message}`;
      return;
    }
    event.target.reset();
    await loadSilences();
  });
}

/** Prefill the form to silence one SKU (from a feed row). */
export function prefill(sku, level) {
  const form = $("silence-form");
  form.elements.sku.value = sku;
  form.elements.level.value = level;
  form.elements.sku.focus();
}
