// Helpers every screen shares: building elements (data only ever goes in as text, never
// as HTML), calling the API, and showing times and failures in plain words.

export const KEY = "postback.key";
export const $ = (id) => document.getElementById(id);
/** What the screens share: the signed-in account, the server's info, known postbacks. */
export const state = { me: null, info: {}, postbacks: new Map(), cursor: null, delivery: null, editing: null };

/** An element with attributes (set as properties/attributes, never HTML) and children
 *  (strings become text nodes). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function show(el, visible) {
  el.hidden = !visible;
}

/** UTC, as the API gives it (for titles and tests). */
export function utc(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 19).replace("T", " ") + "Z";
}

/** A <time> in the browser's local time, with UTC on hover. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const local = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  return h("time", { datetime: d.toISOString(), title: utc(iso) + " (UTC)" }, local);
}

/** "in 40 s", "3 min ago": how far a moment is from now. */
export function relative(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  const s = Math.round(Math.abs(ms) / 1000);
  const span = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return ms >= 0 ? `in ${span}` : `${span} ago`;
}

export function badge(status) {
  return h("span", { class: "badge " + status }, status);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = Array.isArray(detail) ? detail.map((p) => (p && typeof p.message === "string" ? { ...p, message: plainMessage(p.message) } : p)) : detail;
  }
}

/** The validation library's stock phrases, in the screen's plain words. */
export function plainMessage(message) {
  if (/^String should have at least 1 character/.test(message) || message === "Field required") return "Required: this cannot be left blank.";
  const most = message.match(/^String should have at most (\d+) characters?/);
  if (most) return `Too long: at most ${most[1]} characters.`;
  return message;
}

let onRefused = () => {};
/** What to do when the key is refused (the app signs out). */
export function whenRefused(fn) {
  onRefused = fn;
}

export async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + (sessionStorage.getItem(KEY) || "") };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "The server cannot be reached (" + err.message + "). Check that it is running, then try again.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (response.status === 401 && path !== "/v1/accounts/me") onRefused("The key was refused; sign in again.");
  if (!response.ok) throw new ApiError(response.status, data && data.detail !== undefined ? data.detail : data);
  return data;
}

/** A message for any failure, problems lists included. */
export function describe(err) {
  if (err instanceof ApiError && Array.isArray(err.detail)) {
    return err.detail.map((p) => `${p.field}: ${p.message}`).join("; ");
  }
  if (err instanceof ApiError && (err.status === 404 || err.status === 405) && typeof err.detail !== "string") {
    return "This server does not offer that yet (it needs a newer version of Postback).";
  }
  return err.message || String(err);
}

/** A labelled field: <div class="field"><label for=id>text</label>control</div>. */
export function field(label, control, extra) {
  return h("div", { class: "field " + ((extra && extra.class) || "") }, h("label", { for: control.id }, label), control, extra && extra.hint ? h("p", { class: "hint small", id: control.id + "-hint" }, extra.hint) : null);
}

/** Problems from a 422 placed under the inputs they name (by data-field), or in `general`.
 *  Each is tied to its input (aria-describedby) and goes away once that input changes. */
export function placeProblems(form, err, general) {
  for (const el of form.querySelectorAll("[aria-invalid]")) untie(el);
  general.replaceChildren();
  show(general, false);
  if (!err) return;
  const problems = err instanceof ApiError && Array.isArray(err.detail) ? err.detail : [{ field: "", message: describe(err) }];
  let first = null;
  for (const p of problems) {
    const name = String(p.field || "").split(/[.[]/)[0];
    const input = name ? form.querySelector(`[data-field="${CSS.escape(name)}"]`) : null;
    if (input) {
      const id = input.id + "-problem";
      if (!document.getElementById(id)) {
        const described = input.getAttribute("aria-describedby");
        input.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
        input.closest(".field").append(h("p", { class: "field-problem", id, role: "alert" }, p.message));
      }
      input.setAttribute("aria-invalid", "true");
      const fixed = () => untie(input);
      input.addEventListener("input", fixed, { once: true });
      input.addEventListener("change", fixed, { once: true });
      first = first || input;
    } else {
      general.append(h("p", {}, p.field ? `${p.field}: ${p.message}` : p.message));
      show(general, true);
    }
  }
  if (first) first.focus();
}

/** An input without its problem: the message removed, no longer described by it. */
function untie(input) {
  const id = input.id + "-problem";
  const left = (input.getAttribute("aria-describedby") || "").split(" ").filter((t) => t && t !== id);
  if (left.length) input.setAttribute("aria-describedby", left.join(" "));
  else input.removeAttribute("aria-describedby");
  input.removeAttribute("aria-invalid");
  const shown = document.getElementById(id);
  if (shown) shown.remove();
}

// -- requests and replies, as shown everywhere -------------------------------------------
/** Failure reasons in plain words (the code stays visible on hover). */
export const REASONS = {
  delivered: "Delivered: the receiver answered with success.",
  timeout: "The receiver did not answer in time.",
  connection: "The receiver could not be reached (connection refused or dropped).",
  dns: "The receiver's host name does not resolve.",
  status: "The receiver answered with an error status.",
  success_text_missing: "The reply did not contain the success text this postback expects.",
  error_text_found: "The reply contained this postback's error text.",
  blocked_address: "The URL points at an address Postback may not send to (a private network).",
  invalid_url: "The rendered URL is not a valid address.",
  protocol: "The receiver's reply was not valid HTTP.",
  skipped: "Not sent: the receiver's address was not answering (its connections failed or timed out), so Postback held this delivery back until its next try. This does not use up a retry.",
};

export function plain(code) {
  return h("span", { title: code }, REASONS[code] || code);
}

export function headerLines(headers) {
  return (headers || []).map(([name, value]) => `${name}: ${value}\n`).join("");
}

export function requestView(req, title) {
  return h(
    "div",
    { class: "exchange" },
    h("h3", {}, title),
    h("pre", { class: "http", tabindex: 0, "aria-label": title }, `${req.method} ${req.url}\n${headerLines(req.headers)}${req.body ? "\n" + req.body : ""}`),
  );
}

export function replyView(reply) {
  return h(
    "div",
    { class: "exchange" },
    h("h3", {}, "Reply"),
    h(
      "pre",
      { class: "http", tabindex: 0, "aria-label": "Reply" },
      `HTTP ${reply.status}\n${headerLines(reply.headers)}\n${reply.body}${reply.truncated ? "\n… (truncated)" : ""}`,
    ),
  );
}

export function noReply() {
  return h("div", { class: "exchange" }, h("h3", {}, "Reply"), h("p", { class: "muted" }, "No reply."));
}

export function previewView(result) {
  const parts = [requestView(result.request, "Rendered request")];
  for (const w of result.warnings || []) parts.push(h("p", { class: "warning" }, typeof w === "string" ? w : `${w.field}: ${w.message}`));
  parts.push(
    h("details", {}, h("summary", {}, "Parameters used"), h("pre", { class: "params" }, JSON.stringify(result.params, null, 2))),
  );
  return parts;
}

export function testView(result) {
  const ms = Math.round(result.duration_ms);
  const verdict = result.delivered
    ? h("p", { class: "verdict ok", role: "status" }, `Delivered in ${ms} ms`)
    : h("p", { class: "verdict bad", role: "status" }, "Not delivered: ", plain(result.reason || "failed"), result.detail ? ` (${result.detail})` : "", ` — ${ms} ms`);
  return [verdict, h("div", { class: "pair" }, requestView(result.request, "Request"), result.reply ? replyView(result.reply) : noReply())];
}

/** A delivery's last error (a reason code, or the sender's own text) as a reason code. The
 *  patterns follow the texts of delivery/transport.py and delivery/outcome.py. */
const TEXTS = [
  [/circuit breaker is open/, "skipped"],
  [/^HTTP \d+/, "status"],
  [/^cannot resolve/, "dns"],
  [/^(cannot connect|temporary DNS failure)|connection/i, "connection"],
  [/not an allowed address/, "blocked_address"],
  [/^reply does not contain/, "success_text_missing"],
  [/^reply contains/, "error_text_found"],
  [/time ?out|in time/i, "timeout"],
  [/reply|HTTP token|line break/i, "protocol"],
  [/URL|scheme/, "invalid_url"],
];

export function reasonOf(text) {
  if (!text || REASONS[text]) return text;
  const found = TEXTS.find(([pattern]) => pattern.test(text));
  return found ? found[1] : null;
}

/** The last error in words, e.g. "The receiver answered with an error status (HTTP 500)." */
export function inWords(text) {
  const code = reasonOf(text);
  return code ? REASONS[code] : text;
}
