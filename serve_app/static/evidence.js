// An alert's evidence as sentences an operator reads at a glance (never raw JSON).
"use strict";

const LEVEL_RANK = { TREND: 1, THRESHOLD: 2, CHANNEL_STALLED: 2, EMERGENCY: 3 };
export const rank = (level) => LEVEL_RANK[level] || 0;

const number = (value, digits = 1) =>
  value === null || value === undefined || Number.isNaN(Number(value))
    ? null : Number(value).toFixed(digits).replace(/\.0+$/, "");

/** Minutes as "45 min", "2 h 30 min" or "3 d". */
export function duration(minutes) {
  if (minutes === null || minutes === undefined) return null;
  const m = Math.max(0, Number(minutes));
  if (m < 90) return `${number(m, m < 10 ? 1 : 0)} min`;
  if (m < 48 * 60) {
    const h = Math.floor(m / 60), rest = Math.round(m % 60);
    return rest ? `${h} h ${rest} min` : `${h} h`;
  }
  return `${number(m / 1440, 1)} d`;
}

export function clock(epochSeconds) {
  if (!epochSeconds) return "-";
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

const KNOWN = new Set(["available", "inbound", "last_rate", "previous_rate", "ratio", "last_orders",
  "previous_orders", "projected_rate", "rate_bounds", "eta_minutes", "eta_bounds_minutes",
  "lead_time_minutes", "safety_line", "critical_floor", "p_value"]);

/** The lines of readable evidence of an alert. */
export function evidenceLines(evidence) {
  const e = evidence || {};
  const lines = [];
  if (e.last_rate !== undefined) {
    let rate = `Selling ${number(e.last_rate)} units/min now`;
    if (e.previous_rate !== undefined) rate += ` vs ${number(e.previous_rate)} before`;
    if (e.ratio) rate += ` (×${number(e.ratio)})`;
    if (e.last_orders !== undefined && e.previous_orders !== undefined) {
      rate += `, ${e.last_orders} orders vs ${e.previous_orders}`;
    }
    lines.push(rate);
  }
  if (e.eta_minutes !== undefined && e.eta_minutes !== null) {
    let eta = `Sold out in about ${duration(e.eta_minutes)}`;
    const [early, late] = e.eta_bounds_minutes || [];
    if (early !== undefined && early !== null) {
      eta += late === null || late === undefined
        ? ` (at the earliest ${duration(early)})`
        : ` (between ${duration(early)} and ${duration(late)})`;
    }
    lines.push(eta);
  } else if (e.last_rate !== undefined) {
    lines.push("No stock-out in sight at this rate");
  }
  const stock = [];
  if (e.available !== undefined) stock.push(`${e.available} available`);
  if (e.safety_line !== undefined) stock.push(`safety line ${e.safety_line}`);
  if (e.critical_floor) stock.push(`critical floor ${e.critical_floor}`);
  if (stock.length) lines.push(stock.join(" · "));
  const supply = [];
  if (e.lead_time_minutes !== undefined) supply.push(`restock lead time ${duration(e.lead_time_minutes)}`);
  if (e.inbound !== undefined) supply.push(e.inbound ? `${e.inbound} units inbound` : "nothing inbound");
  if (supply.length) lines.push(supply.join(" · "));
  const other = Object.entries(e)
    .filter(([key, value]) => !KNOWN.has(key) && value !== null && typeof value !== "object")
    .map(([key, value]) => `${key.replace(/_/g, " ")} ${value}`);
  if (other.length) lines.push(other.join(" · "));
  return lines;
}
