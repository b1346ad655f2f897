// Calls to the flashstock HTTP API with the operator's token, and what the page says when
// the token is missing, refused or not allowed to do something.
"use strict";

const KEY = "flashstock-token";
const listeners = [];

export const token = () => localStorage.getItem(KEY) || "";

export function setToken(value) {
  localStorage.setItem(KEY, value.trim());
  listeners.forEach((listener) => listener());
}

/** Call ``listener`` whenever the token changes. */
export function onTokenChange(listener) { listeners.push(listener); }

export class ApiError extends Error {
  constructor(status, body, path) {
    super((body && body.message) || `${path}: HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

export async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    const failure = new ApiError(response.status, body, path);
    if (response.status === 401) showAuth(token() ? "refused" : "required");
    throw failure;
  }
  return response.status === 204 ? null : response.json();
}

const $ = (id) => document.getElementById(id);

/** Say that a token is needed ("required") or was not accepted ("refused"), and ask for one. */
export function showAuth(reason) {
  $("auth").hidden = false;
  $("auth").dataset.reason = reason;
  document.body.classList.add("signed-out");
  if (reason === "refused") {
    $("auth-title").textContent = "Token refused.";
    $("auth-detail").textContent =
      "The service did not accept this token (unknown or revoked). Paste a valid token:";
  } else {
    $("auth-title").textContent = "Token required.";
    $("auth-detail").textContent =
      "This service asks for an access token (viewer to watch, operator to ack and silence). Paste yours:";
  }
  $("connection").textContent = "signed out";
  $("connection").className = "badge off";
  $("auth-token").focus();
}

export function hideAuth() {
  $("auth").hidden = true;
  document.body.classList.remove("signed-out");
}

export function installTokenForms() {
  $("token").value = token();
  for (const [form, input] of [["token-form", "token"], ["auth-form", "auth-token"]]) {
    $(form).addEventListener("submit", (event) => {
      event.preventDefault();
      setToken($(input).value);
      $("token").value = token();
      $("auth-token").value = "";
    });
  }
}
