// Postback's web screen: vanilla JS over the JSON API. Data goes into the page only as
// text (textContent, text nodes, input values), never as HTML.
"use strict";

const KEY = "postback.key";
const $ = (id) => document.getElementById(id);
const state = { me: null, postbacks: new Map(), cursor: null, delivery: null, editing: null };

// -- DOM helpers ------------------------------------------------------------------------
/** An element with attributes (set as properties/attributes, never HTML) and children
 *  (strings become text nodes). */
function h(tag, attrs, ...children) {
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

function show(el, visible) {
  el.hidden = !visible;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 19).replace("T", " ") + "Z";
}

function badge(status) {
  return h("span", { class: "badge " + status }, status);
}

// -- the API ------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

async function api(method, path, body) {
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
    throw new ApiError(0, "the server cannot be reached: " + err.message);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (response.status === 401 && path !== "/v1/accounts/me") {
    signOut("The key was refused; sign in again.");
  }
  if (!response.ok) throw new ApiError(response.status, data && data.detail !== undefined ? data.detail : data);
  return data;
}

/** A message for any failure, problems lists included. */
function describe(err) {
  if (err instanceof ApiError && Array.isArray(err.detail)) {
    return err.detail.map((p) => `${p.field}: ${p.message}`).join("; ");
  }
  return err.message || String(err);
}

// -- signing in ---------------------------------------------------------------------------
async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  const me = await api("GET", "/v1/accounts/me");
  state.me = me;
  const label = me.kind === "operator" ? "operator" : `${me.name} (${me.partner_type || me.kind})`;
  $("who-name").textContent = "Signed in as " + label;
  document.body.classList.toggle("operator", me.kind === "operator");
  document.body.classList.toggle("brand", me.kind === "brand" || me.kind === "operator");
  show($("sign-in"), false);
  show($("nav"), true);
  show($("who"), true);
  kindChanged();
  if (me.kind === "operator") loadOwners();
  loadNotices();
  select(location.hash === "#deliveries" ? "deliveries" : "postbacks");
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.me = null;
  if (state.editing) stopEdit();
  for (const id of ["nav", "who", "notices", "view-postbacks", "view-deliveries"]) show($(id), false);
  show($("sign-in"), true);
  const problem = $("sign-in-problem");
  problem.textContent = message || "";
  show(problem, Boolean(message));
  $("key").value = "";
  $("key").focus();
}

async function loadNotices() {
  const box = $("notices");
  box.replaceChildren();
  try {
    const notices = await api("GET", "/v1/notices");
    for (const n of notices) box.append(h("p", { class: "notice" }, when(n.created_at), " — ", n.message));
    show(box, notices.length > 0);
  } catch {
    show(box, false);
  }
}

/** The operator creates postbacks for an account: offer the accounts by name. */
async function loadOwners() {
  const select = $("f-owner_id");
  try {
    const accounts = await api("GET", "/v1/accounts");
    select.replaceChildren(
      h("option", { value: "" }, "choose the account it belongs to"),
      ...accounts.map((a) => h("option", { value: a.id }, `${a.name} (${a.partner_type || a.kind})`)),
    );
  } catch {
    /* the API will say owner_id is missing */
  }
}

function select(view) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab.dataset.view === view);
  }
  show($("view-postbacks"), view === "postbacks");
  show($("view-deliveries"), view === "deliveries");
  history.replaceState(null, "", "#" + view);
  if (view === "postbacks") loadPostbacks();
  else loadDeliveries(false);
}

// -- postbacks ----------------------------------------------------------------------------
async function loadPostbacks() {
  const body = $("postbacks").tBodies[0];
  let list;
  try {
    list = await api("GET", "/v1/postbacks");
  } catch (err) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "problem" }, describe(err))));
    show($("postbacks"), true);
    return;
  }
  state.postbacks = new Map(list.map((p) => [p.id, p]));
  body.replaceChildren(...list.map(postbackRow));
  show($("postbacks"), list.length > 0);
  show($("postbacks-empty"), list.length === 0);
}

function postbackRow(p) {
  const limits = [
    p.min_delay_seconds ? `delay ${p.min_delay_seconds}s` : "no delay",
    p.max_requests_per_second ? `≤ ${p.max_requests_per_second}/s` : "no rate limit",
  ];
  const state_ = p.enabled
    ? null
    : h("span", { class: "badge failed", title: p.disabled_reason || "" }, "disabled");
  const row = h(
    "tr",
    { "data-id": p.id },
    h(
      "td",
      {},
      h("div", { class: "strong" }, p.name || p.kind, " ", state_),
      h("div", { class: "mono small muted" }, p.name ? p.kind + " · " + p.id : p.id),
    ),
    h(
      "td",
      { class: "request" },
      h("span", { class: "method" }, p.method),
      " ",
      h("span", { class: "mono" }, p.url),
      p.body_format ? h("div", { class: "small muted" }, "body: " + p.body_format) : null,
    ),
    h("td", { class: "small" }, limits.join(", ")),
    h(
      "td",
      { class: "buttons" },
      h("button", { type: "button", class: "preview", onclick: () => tryIt(p.id, "preview") }, "Preview"),
      h("button", { type: "button", class: "test", onclick: () => tryIt(p.id, "test") }, "Send test"),
      h("button", { type: "button", class: "edit", onclick: () => startEdit(p.id) }, "Edit"),
      h("button", { type: "button", class: "delete danger", onclick: () => confirmDelete(p.id) }, "Delete"),
    ),
  );
  return row;
}

function postbackRowOf(id) {
  return document.querySelector(`#postbacks tbody tr[data-id="${CSS.escape(id)}"]`);
}

// -- deleting a postback ------------------------------------------------------------------------
/** Delete asks first, in a row under the postback's: nothing is deleted on one click. */
function confirmDelete(id) {
  const p = state.postbacks.get(id);
  const row = postbackRowOf(id);
  if (!p || !row) return;
  const open = document.querySelector(`#postbacks tr.confirm[data-for="${CSS.escape(id)}"]`);
  if (open) open.remove();
  const panel = h("tr", { class: "confirm", "data-for": id });
  const problem = h("p", { class: "problem", hidden: true });
  const yes = h("button", { type: "button", class: "confirm-delete danger primary" }, "Delete");
  const no = h("button", { type: "button", class: "cancel-delete", onclick: () => panel.remove() }, "Cancel");
  yes.addEventListener("click", () => deletePostback(id, yes, problem));
  panel.append(
    h(
      "td",
      { colspan: 4 },
      h(
        "div",
        { class: "confirm-box", role: "alertdialog", "aria-label": "Delete postback" },
        h("p", {}, `Delete postback “${p.name || p.kind}” (${p.id})? Its unsent deliveries are marked failed; the log stays.`),
        yes,
        no,
      ),
      problem,
    ),
  );
  row.after(panel);
  no.focus();
}

async function deletePostback(id, button, problem) {
  button.disabled = true;
  try {
    await api("DELETE", `/v1/postbacks/${encodeURIComponent(id)}`);
  } catch (err) {
    button.disabled = false;
    problem.textContent = describe(err);
    show(problem, true);
    return;
  }
  if (state.editing && state.editing.id === id) stopEdit();
  $("postbacks-status").textContent = `Deleted ${id}.`;
  await loadPostbacks();
}

/** Preview or send a test for a postback; the result opens in a row under it. */
async function tryIt(id, what) {
  const row = document.querySelector(`#postbacks tr[data-id="${CSS.escape(id)}"]`);
  let panel = row.nextElementSibling;
  if (!panel || !panel.classList.contains("result")) {
    const eventId = h("input", { type: "text", class: "mono event-id", placeholder: "blank: a sample event" });
    const cell = h("td", { colspan: 4 });
    panel = h("tr", { class: "result" }, cell);
    panel.eventId = eventId;
    panel.output = h("div", { class: "output" });
    cell.append(
      h(
        "div",
        { class: "result-head" },
        h("label", {}, "Event id ", eventId),
        h("button", { type: "button", onclick: () => tryIt(id, "preview") }, "Preview"),
        h("button", { type: "button", onclick: () => tryIt(id, "test") }, "Send test"),
        h("button", { type: "button", class: "link", onclick: () => panel.remove() }, "Close"),
      ),
      panel.output,
    );
    row.after(panel);
  }
  const eventId = panel.eventId.value.trim();
  const body = eventId ? { event_id: eventId } : undefined;
  panel.output.replaceChildren(h("p", { class: "muted" }, what === "test" ? "Sending…" : "Rendering…"));
  try {
    const result = await api("POST", `/v1/postbacks/${encodeURIComponent(id)}/${what}`, body);
    panel.output.replaceChildren(...(what === "test" ? testView(result) : previewView(result)));
  } catch (err) {
    panel.output.replaceChildren(h("p", { class: "problem" }, describe(err)));
  }
}

function requestView(req, title) {
  return h(
    "div",
    { class: "exchange" },
    h("h3", {}, title),
    h("pre", { class: "http" }, `${req.method} ${req.url}\n${headerLines(req.headers)}${req.body ? "\n" + req.body : ""}`),
  );
}

function headerLines(headers) {
  return (headers || []).map(([name, value]) => `${name}: ${value}\n`).join("");
}

function replyView(reply) {
  return h(
    "div",
    { class: "exchange" },
    h("h3", {}, "Reply"),
    h(
      "pre",
      { class: "http" },
      `HTTP ${reply.status}\n${headerLines(reply.headers)}\n${reply.body}${reply.truncated ? "\n… (truncated)" : ""}`,
    ),
  );
}

function previewView(result) {
  const parts = [requestView(result.request, "Rendered request")];
  for (const w of result.warnings || []) parts.push(h("p", { class: "warning" }, w));
  parts.push(
    h("details", {}, h("summary", {}, "Parameters used"), h("pre", { class: "params" }, JSON.stringify(result.params, null, 2))),
  );
  return parts;
}

function testView(result) {
  const verdict = result.delivered
    ? h("p", { class: "verdict ok" }, `Delivered in ${Math.round(result.duration_ms)} ms`)
    : h(
        "p",
        { class: "verdict bad" },
        `Not delivered (${result.reason || "failed"})`,
        result.detail ? `: ${result.detail}` : "",
        ` — ${Math.round(result.duration_ms)} ms`,
      );
  return [
    verdict,
    h(
      "div",
      { class: "pair" },
      requestView(result.request, "Request"),
      result.reply ? replyView(result.reply) : h("div", { class: "exchange" }, h("h3", {}, "Reply"), h("p", { class: "muted" }, "no reply")),
    ),
  ];
}

// -- creating and editing a postback ------------------------------------------------------------
const FIELDS = [
  "kind", "name", "url", "method", "body_format", "body", "min_delay_seconds",
  "max_requests_per_second", "success_response", "error_response", "partner_id",
  "event_type_id", "media_source_id", "owner_id",
];
const NUMBERS = new Set(["min_delay_seconds", "max_requests_per_second"]);
/** Set when a postback is created; PATCH cannot change them. */
const FIXED = new Set(["kind", "partner_id", "event_type_id", "media_source_id", "owner_id"]);
/** Fields PATCH clears with null when left blank (the others get their empty value). */
const NULLABLE = new Set(["body", "body_format", "max_requests_per_second", "success_response", "error_response"]);
const BLANK = { name: "", url: "", min_delay_seconds: 0 };

/** The value of one field, or undefined when it is hidden, disabled or blank. */
function fieldValue(name) {
  const input = $("f-" + name);
  if (input.closest(".field").hidden || input.disabled) return undefined;
  const raw = input.value;
  if (raw.trim() === "") return undefined;
  if (!NUMBERS.has(name)) return raw;
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw; // the API says what is wrong with it
}

/** The body of POST /v1/postbacks: blank fields are left out. */
function formBody() {
  const body = {};
  for (const name of FIELDS) {
    const value = fieldValue(name);
    if (value !== undefined) body[name] = value;
  }
  const headers = headersBody();
  if (Object.keys(headers).length > 0) body.headers = headers;
  if (!$("f-enabled").checked) body.enabled = false;
  return body;
}

/** The body of PATCH /v1/postbacks/{id}: every field it can change, blank ones cleared. */
function patchBody() {
  const body = {};
  for (const name of FIELDS) {
    if (FIXED.has(name)) continue;
    const value = fieldValue(name);
    body[name] = value !== undefined ? value : NULLABLE.has(name) ? null : BLANK[name];
  }
  body.headers = headersBody();
  body.enabled = $("f-enabled").checked;
  return body;
}

// -- headers: name/value rows -----------------------------------------------------------------
function addHeaderRow(name, value) {
  const nameInput = h("input", { type: "text", class: "mono header-name", placeholder: "Name, e.g. X-Api-Key", "aria-label": "Header name", spellcheck: "false" });
  const valueInput = h("input", { type: "text", class: "mono header-value", placeholder: "value or template", "aria-label": "Header value", spellcheck: "false" });
  nameInput.value = name || "";
  valueInput.value = value || "";
  const row = h("div", { class: "header-row" });
  const remove = h("button", { type: "button", class: "remove-header", "aria-label": "Remove header", onclick: () => row.remove() }, "Remove");
  row.append(h("div", { class: "header-inputs" }, nameInput, valueInput, remove));
  $("f-headers").append(row);
  return nameInput;
}

function headerRows() {
  return [...$("f-headers").querySelectorAll(".header-row")].map((row) => ({
    row,
    name: row.querySelector(".header-name"),
    value: row.querySelector(".header-value"),
  }));
}

/** Headers as the API takes them, {name: value}; rows left wholly blank are skipped. A row
 *  with a value and no name is sent under "" so that the API names the mistake. */
function headersBody() {
  const headers = {};
  for (const { name, value } of headerRows()) {
    if (name.value.trim() === "" && value.value === "") continue;
    headers[name.value.trim()] = value.value;
  }
  return headers;
}

function setHeaders(headers) {
  $("f-headers").replaceChildren();
  for (const [name, value] of Object.entries(headers || {})) addHeaderRow(name, value);
}

// -- problems ------------------------------------------------------------------------------------
function clearProblems() {
  for (const el of document.querySelectorAll("#create-form .field-problem")) el.remove();
  for (const el of document.querySelectorAll("#create-form .invalid")) {
    el.classList.remove("invalid");
    el.removeAttribute("aria-invalid");
  }
  show($("create-problem"), false);
  $("create-problem").replaceChildren();
}

/** Where a problem belongs: the input it is about and the element its message goes in. */
function problemTarget(problem) {
  const field = String(problem.field || "");
  if (field.startsWith("headers.")) {
    const name = field.slice("headers.".length);
    const found = headerRows().find((r) => r.name.value.trim() === name);
    if (!found) return null;
    // A position points into the value's template; otherwise the name is at fault.
    const atValue = problem.position !== null && problem.position !== undefined;
    return { input: atValue ? found.value : found.name, box: found.row };
  }
  const name = field.split(/[.[]/)[0];
  const input = FIELDS.includes(name) ? $("f-" + name) : null;
  if (!input || input.closest(".field").hidden) return null;
  return { input, box: input.closest(".field") };
}

/** One 422 problem under its field: the message, and where in the template it is. */
function showProblem(problem) {
  const target = problemTarget(problem);
  const where = problem.position === null || problem.position === undefined ? null : problem.position;
  const box = h("div", { class: "field-problem", role: "alert" }, h("span", { class: "message" }, problem.message));
  if (target && where !== null && typeof target.input.value === "string") box.append(excerpt(target.input.value, where));
  if (target) {
    target.input.classList.add("invalid");
    target.input.setAttribute("aria-invalid", "true");
    target.box.append(box);
  } else {
    const general = $("create-problem");
    box.prepend(h("span", { class: "mono" }, problem.field + ": "));
    general.append(box);
    show(general, true);
  }
}

/** The template around a position, with the character there marked. */
function excerpt(text, pos) {
  const start = Math.max(0, pos - 30);
  const end = Math.min(text.length, pos + 30);
  const at = text.slice(pos, pos + 1) || " ";
  return h(
    "div",
    { class: "excerpt" },
    `position ${pos}: `,
    h(
      "code",
      {},
      (start > 0 ? "…" : "") + text.slice(start, pos),
      h("mark", {}, at),
      text.slice(pos + 1, end) + (end < text.length ? "…" : ""),
    ),
  );
}

function showProblems(err) {
  const status = $("create-status");
  if (err instanceof ApiError && Array.isArray(err.detail)) {
    err.detail.forEach(showProblem);
    status.textContent = err.detail.length === 1 ? "1 problem: see above." : `${err.detail.length} problems: see above.`;
    const first = document.querySelector("#create-form .invalid");
    if (first) first.focus();
  } else {
    status.textContent = "";
    showProblem({ field: "postback", message: describe(err), position: null });
  }
}

// -- saving ----------------------------------------------------------------------------------------
async function savePostback(event) {
  event.preventDefault();
  clearProblems();
  const status = $("create-status");
  status.textContent = "Saving…";
  const editing = state.editing;
  try {
    if (editing) {
      const saved = await api("PATCH", `/v1/postbacks/${encodeURIComponent(editing.id)}`, patchBody());
      stopEdit();
      status.textContent = `Saved ${saved.id}.`;
    } else {
      const created = await api("POST", "/v1/postbacks", formBody());
      status.textContent = `Created ${created.id}.`;
      $("f-url").value = "";
      $("f-body").value = "";
      $("f-name").value = "";
      setHeaders({});
    }
    await loadPostbacks();
  } catch (err) {
    showProblems(err);
  }
}

/** The form, prefilled with a postback, saves it with PATCH. */
function startEdit(id) {
  const p = state.postbacks.get(id);
  if (!p) return;
  clearProblems();
  state.editing = p;
  for (const name of FIELDS) {
    const input = $("f-" + name);
    const value = p[name];
    input.value = value === null || value === undefined ? "" : String(value);
    input.disabled = FIXED.has(name);
  }
  setHeaders(p.headers);
  $("f-enabled").checked = p.enabled;
  $("form-title").textContent = `Edit postback ${p.name || p.kind} (${p.id})`;
  $("save-postback").textContent = "Save changes";
  show($("cancel-edit"), true);
  $("create-status").textContent = "";
  $("postbacks-status").textContent = "";
  kindChanged();
  $("form-card").scrollIntoView({ block: "start" });
  $("f-url").focus();
}

/** Back to a blank form for a new postback. */
function stopEdit() {
  state.editing = null;
  clearProblems();
  $("create-form").reset();
  for (const name of FIELDS) $("f-" + name).disabled = false;
  setHeaders({});
  $("form-title").textContent = "New postback";
  $("save-postback").textContent = "Create postback";
  show($("cancel-edit"), false);
  $("create-status").textContent = "";
  kindChanged();
}

function kindChanged() {
  const kind = $("f-kind").value;
  for (const field of document.querySelectorAll("#create-form .brand-only")) {
    show(field, field.dataset.kinds.split(" ").includes(kind));
  }
  for (const field of document.querySelectorAll("#create-form .operator-only")) {
    show(field, Boolean(state.me && state.me.kind === "operator"));
  }
}

// -- deliveries ------------------------------------------------------------------------------
async function loadDeliveries(more) {
  const body = $("deliveries").tBodies[0];
  const params = new URLSearchParams({ limit: "25" });
  const status = $("d-status").value;
  if (status) params.set("status", status);
  if (more && state.cursor) params.set("cursor", state.cursor);
  let page;
  try {
    page = await api("GET", "/v1/deliveries?" + params.toString());
  } catch (err) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "problem" }, describe(err))));
    show($("deliveries"), true);
    return;
  }
  if (state.postbacks.size === 0) {
    try {
      state.postbacks = new Map((await api("GET", "/v1/postbacks")).map((p) => [p.id, p]));
    } catch {
      /* names are a nicety */
    }
  }
  const rows = page.items.map(deliveryRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  state.cursor = page.next_cursor;
  show($("more-deliveries"), Boolean(page.next_cursor));
  show($("deliveries"), body.rows.length > 0);
  show($("deliveries-empty"), body.rows.length === 0);
}

function postbackName(id) {
  const p = state.postbacks.get(id);
  return p ? p.name || p.kind : id;
}

function deliveryRow(d) {
  return h(
    "tr",
    { "data-id": d.id, tabindex: 0, onclick: () => openDelivery(d.id), onkeydown: (e) => e.key === "Enter" && openDelivery(d.id) },
    h("td", { class: "small nowrap" }, when(d.created_at)),
    h("td", {}, badge(d.status), d.last_error ? h("div", { class: "small muted" }, d.last_error) : null),
    h("td", { title: d.postback_id }, postbackName(d.postback_id)),
    h("td", { class: "mono small" }, d.event_id, d.action_id ? h("div", { class: "muted" }, d.action_id) : null),
    h("td", { class: "num" }, String(d.attempt_count)),
    h("td", { class: "request" }, h("span", { class: "method" }, d.request.method), " ", h("span", { class: "mono small" }, d.request.url)),
  );
}

async function openDelivery(id) {
  const card = $("delivery");
  const out = $("delivery-body");
  for (const tr of $("deliveries").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
  show(card, true);
  $("delivery-id").textContent = id;
  out.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    const d = await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`);
    state.delivery = d;
    out.replaceChildren(...deliveryView(d));
  } catch (err) {
    out.replaceChildren(h("p", { class: "problem" }, describe(err)));
  }
  card.scrollIntoView({ block: "nearest" });
}

function deliveryView(d) {
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Status"), h("dd", {}, badge(d.status)),
    h("dt", {}, "Postback"), h("dd", {}, postbackName(d.postback_id), " ", h("span", { class: "mono small muted" }, d.postback_id)),
    h("dt", {}, "Event"), h("dd", { class: "mono" }, d.event_id),
    h("dt", {}, "Action"), h("dd", { class: "mono" }, d.action_id || "—"),
    h("dt", {}, "Due"), h("dd", {}, when(d.due_at)),
    h("dt", {}, "Attempts"), h("dd", {}, String(d.attempt_count)),
    d.last_error ? [h("dt", {}, "Last error"), h("dd", {}, d.last_error)] : null,
  );
  const attempts = (d.attempts || []).map((a) =>
    h(
      "details",
      { class: "attempt", open: a.number === d.attempt_count },
      h(
        "summary",
        {},
        `#${a.number} · ${when(a.started_at)} · ${Math.round(a.duration_ms)} ms · `,
        h("span", { class: "badge " + (a.outcome === "delivered" ? "delivered" : "failed") }, a.outcome),
        a.reply ? ` · HTTP ${a.reply.status}` : "",
        a.error ? ` · ${a.error}` : "",
      ),
      h("div", { class: "pair" }, requestView(a.request, "Request"), a.reply ? replyView(a.reply) : h("div", { class: "exchange" }, h("h3", {}, "Reply"), h("p", { class: "muted" }, "no reply"))),
    ),
  );
  return [
    facts,
    requestView(d.request, "Request as stored"),
    h("h3", {}, "Attempts"),
    ...(attempts.length ? attempts : [h("p", { class: "muted" }, "No attempts yet.")]),
  ];
}

/** Re-read an open delivery every second until it is final (or a few tries pass). */
function follow(id, tries) {
  setTimeout(async () => {
    if (!state.delivery || state.delivery.id !== id || $("delivery").hidden) return;
    let d;
    try {
      d = await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`);
    } catch {
      return;
    }
    if (d.status === state.delivery.status && d.attempt_count === state.delivery.attempt_count) {
      if (tries > 1) follow(id, tries - 1);
      return;
    }
    state.delivery = d;
    $("delivery-body").replaceChildren(...deliveryView(d));
    const row = document.querySelector(`#deliveries tr[data-id="${CSS.escape(id)}"]`);
    if (row) row.replaceWith(deliveryRow(d));
    const fresh = document.querySelector(`#deliveries tr[data-id="${CSS.escape(id)}"]`);
    if (fresh) fresh.classList.add("selected");
    if (!["delivered", "failed"].includes(d.status) && tries > 1) follow(id, tries - 1);
  }, 1000);
}

async function redeliver() {
  if (!state.delivery) return;
  const out = $("delivery-body");
  try {
    await api("POST", `/v1/deliveries/${encodeURIComponent(state.delivery.id)}/redeliver`);
    const id = state.delivery.id;
    await loadDeliveries(false);
    await openDelivery(id);
    out.prepend(h("p", { class: "verdict ok" }, "Queued to be sent again now."));
    follow(id, 10);
  } catch (err) {
    out.prepend(h("p", { class: "problem" }, describe(err)));
  }
}

// -- wiring ------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    try {
      await signIn(key);
    } catch (err) {
      signOut(err.status === 401 ? "That key is not known." : describe(err));
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => select(tab.dataset.view));
  $("refresh-postbacks").addEventListener("click", loadPostbacks);
  $("create-form").addEventListener("submit", savePostback);
  $("cancel-edit").addEventListener("click", stopEdit);
  $("add-header").addEventListener("click", () => addHeaderRow("", "").focus());
  $("f-kind").addEventListener("change", kindChanged);
  $("d-status").addEventListener("change", () => loadDeliveries(false));
  $("refresh-deliveries").addEventListener("click", () => loadDeliveries(false));
  $("more-deliveries").addEventListener("click", () => loadDeliveries(true));
  $("redeliver").addEventListener("click", redeliver);
  $("close-delivery").addEventListener("click", () => show($("delivery"), false));

  const key = sessionStorage.getItem(KEY);
  if (key) {
    signIn(key).catch((err) => signOut(err.status === 401 ? "That key is not known." : describe(err)));
  } else {
    signOut();
  }
  kindChanged();
});
