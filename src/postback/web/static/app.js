// Postback's web screen: plain ES modules over the JSON API, no build step. This module
// signs in, switches screens and runs the postback list and form; setup.js, editor.js and
// log.js hold the rest. Data goes into the page only as text, never as HTML.
import { KEY, $, h, show, api, describe, state, when, badge, whenRefused, ApiError, previewView, testView } from "./util.js";
import { refresh as refreshSetup, loadKnown, known } from "./setup.js";
import * as editor from "./editor.js";
import * as log from "./log.js";

// -- signing in ---------------------------------------------------------------------------
async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  const me = await api("GET", "/v1/accounts/me");
  state.me = me;
  const label = me.kind === "operator" ? "operator" : `${me.name} (${me.partner_type || me.kind})`;
  $("who-name").textContent = "Signed in as " + label;
  document.body.classList.toggle("operator", me.kind === "operator");
  show($("sign-in"), false);
  show($("nav"), true);
  show($("who"), true);
  try {
    state.info = await api("GET", "/v1/info");
  } catch {
    state.info = {};
  }
  show($("use-inbox"), Boolean(state.info.inbox_enabled));
  await Promise.all([editor.loadSchema(), loadKnown()]);
  editor.fillKinds(me.kind === "operator" ? null : me);
  if (me.kind === "operator") loadOwners();
  editor.fillPickers();
  kindChanged();
  loadNotices();
  const view = location.hash.slice(1).split("/")[0];
  select(["deliveries", "setup", "postbacks"].includes(view) ? view : me.kind === "operator" ? "setup" : "postbacks", location.hash.slice(1));
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.me = null;
  if (state.editing) stopEdit();
  log.stop();
  for (const id of ["nav", "who", "notices", "view-postbacks", "view-deliveries", "view-setup"]) show($(id), false);
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
function loadOwners() {
  const select = $("f-owner_id");
  const value = select.value;
  select.replaceChildren(
    h("option", { value: "" }, "choose the account it belongs to"),
    ...known.accounts.filter((a) => a.kind !== "operator").map((a) => h("option", { value: a.id }, `${a.name} (${a.partner_type || a.kind})`)),
  );
  select.value = value;
}

function ownerChanged() {
  const owner = known.accounts.find((a) => a.id === $("f-owner_id").value);
  editor.fillKinds(owner || null, $("f-kind").value);
  kindChanged();
}

/** Show one screen; `where` (the URL's hash) may name a delivery to open. */
async function select(view, where) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.view === view;
    tab.classList.toggle("active", on);
    if (on) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  show($("view-postbacks"), view === "postbacks");
  show($("view-deliveries"), view === "deliveries");
  show($("view-setup"), view === "setup");
  if (view !== "deliveries") log.stop();
  if (!where || !where.startsWith(view)) history.replaceState(null, "", "#" + view);
  if (view === "postbacks") {
    await loadKnown();
    if (state.me && state.me.kind === "operator") loadOwners();
    editor.fillPickers();
    await loadPostbacks();
  } else if (view === "setup") {
    await refreshSetup();
  } else {
    await log.open(where);
  }
}

// -- postbacks ----------------------------------------------------------------------------
async function loadPostbacks() {
  const body = $("postbacks").tBodies[0];
  show($("postbacks-loading"), true);
  let list;
  try {
    list = await api("GET", "/v1/postbacks");
  } catch (err) {
    show($("postbacks-loading"), false);
    show($("postbacks-empty"), false); // unknown, not empty
    body.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "problem" }, describe(err), " ", h("button", { type: "button", onclick: loadPostbacks }, "Try again"))));
    show($("postbacks"), true);
    return;
  }
  show($("postbacks-loading"), false);
  state.postbacks = new Map(list.map((p) => [p.id, p]));
  body.replaceChildren(...list.map(postbackRow));
  show($("postbacks"), list.length > 0);
  show($("postbacks-empty"), list.length === 0);
  for (const p of list) health(p);
}

/** The last day of a postback at a glance: its last result and how much was delivered. */
async function health(p) {
  const cell = document.querySelector(`#postbacks tr[data-id="${CSS.escape(p.id)}"] td.health`);
  if (!cell) return;
  const since = new Date(Date.now() - 86400000).toISOString();
  let page;
  try {
    page = await api("GET", `/v1/deliveries?postback_id=${encodeURIComponent(p.id)}&since=${encodeURIComponent(since)}&limit=500`);
  } catch {
    cell.replaceChildren(h("span", { class: "muted" }, "unknown"));
    return;
  }
  const items = page.items;
  const delivered = items.filter((d) => d.status === "delivered").length;
  const failed = items.filter((d) => d.status === "failed").length;
  const parts = [];
  if (items.length === 0) parts.push(h("span", { class: "muted" }, "Nothing sent in the last day"));
  else {
    parts.push(h("div", {}, "Last: ", badge(items[0].status)));
    const done = delivered + failed;
    if (done) parts.push(h("div", { class: "small" }, `${Math.round((100 * delivered) / done)}% of ${done} delivered (24 h)`));
  }
  if (failed) {
    parts.push(h("button", { type: "button", class: "link small failures", onclick: () => log.show({ postback_id: p.id, status: "failed" }).then(() => select("deliveries", "deliveries")) }, `${failed}${page.next_cursor ? "+" : ""} failed: see them`));
  }
  cell.replaceChildren(...parts);
}

function postbackRow(p) {
  const limits = [
    p.min_delay_seconds ? `delay ${p.min_delay_seconds}s` : "no delay",
    p.max_requests_per_second ? `≤ ${p.max_requests_per_second}/s` : "no rate limit",
  ];
  const off = p.enabled
    ? null
    : h("div", { class: "disabled-why" }, h("span", { class: "badge failed" }, "disabled"), p.disabled_reason ? " " + p.disabled_reason : " switched off: new events are not sent (Edit, tick Enabled, to switch it on)", p.disabled_at ? [" (", when(p.disabled_at), ")"] : "");
  const label = p.name || p.kind;
  return h(
    "tr",
    { "data-id": p.id },
    h("td", { "data-label": "Postback" }, h("div", { class: "strong" }, label), h("div", { class: "mono small muted" }, p.name ? p.kind + " · " + p.id : p.id), off),
    h(
      "td",
      { class: "request", "data-label": "Request" },
      h("span", { class: "method" }, p.method),
      " ",
      h("span", { class: "mono" }, p.url),
      p.body_format ? h("div", { class: "small muted" }, "body: " + p.body_format) : null,
      p.kind === "partner_integration" ? h("div", { class: "small muted options" }, [p.trigger ? `trigger: ${p.trigger.replaceAll("_", " ")}` : null, p.include_installs ? "with installs" : null, p.in_app_event ? `in-app event: ${p.in_app_event}` : null].filter(Boolean).join(" · ")) : null,
      p.condition ? h("div", { class: "small condition" }, "only if ", h("span", { class: "mono" }, p.condition)) : null,
      p.signing_enabled === false ? h("div", { class: "small muted unsigned" }, "not signed") : null,
    ),
    h("td", { class: "small", "data-label": "Limits" }, limits.join(", ")),
    h("td", { class: "health small", "data-label": "Last day" }, h("span", { class: "muted" }, "…")),
    h(
      "td",
      { class: "buttons" },
      h("div", { class: "row-buttons" },
      h("button", { type: "button", class: "preview", "aria-label": `Preview ${label}`, onclick: () => tryIt(p.id, "preview") }, "Preview"),
      h("button", { type: "button", class: "test", "aria-label": `Send test: ${label}`, onclick: () => tryIt(p.id, "test") }, "Send test"),
      h("button", { type: "button", class: "edit", "aria-label": `Edit ${label}`, onclick: () => startEdit(p.id) }, "Edit"),
      h("button", { type: "button", class: "log", "aria-label": `Log of ${label}`, onclick: () => log.show({ postback_id: p.id }).then(() => select("deliveries", "deliveries")) }, "Log"),
      h("button", { type: "button", class: "delete danger", "aria-label": `Delete ${label}`, onclick: () => confirmDelete(p.id) }, "Delete"),
      ),
    ),
  );
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
  const opener = row.querySelector("button.delete");
  const close = () => {
    panel.remove();
    opener.focus();
  };
  const yes = h("button", { type: "button", class: "confirm-delete danger primary" }, "Delete");
  const no = h("button", { type: "button", class: "cancel-delete", onclick: close }, "Cancel");
  yes.addEventListener("click", () => deletePostback(id, yes, problem));
  panel.addEventListener("keydown", (e) => e.key === "Escape" && close());
  panel.append(
    h(
      "td",
      { colspan: 5 },
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

/** Preview or send a test for a saved postback; the result opens in a row under it. */
async function tryIt(id, what) {
  const row = postbackRowOf(id);
  let panel = row.nextElementSibling;
  if (!panel || !panel.classList.contains("result")) {
    const eventId = h("input", { type: "text", class: "mono event-id", placeholder: "blank: a sample event", id: "event-id-" + id });
    const cell = h("td", { colspan: 5 });
    panel = h("tr", { class: "result" }, cell);
    panel.eventId = eventId;
    panel.output = h("div", { class: "output", role: "status" });
    const close = () => {
      panel.remove();
      row.querySelector("button." + what).focus();
    };
    panel.addEventListener("keydown", (e) => e.key === "Escape" && close());
    cell.append(
      h(
        "div",
        { class: "result-head" },
        h("label", { for: eventId.id }, "Event id "),
        eventId,
        h("button", { type: "button", onclick: () => tryIt(id, "preview") }, "Preview"),
        h("button", { type: "button", onclick: () => tryIt(id, "test") }, "Send test"),
        h("button", { type: "button", class: "link", onclick: close }, "Close"),
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

// -- creating and editing a postback ------------------------------------------------------------
const FIELDS = [
  "kind", "name", "url", "method", "body_format", "body", "min_delay_seconds",
  "max_requests_per_second", "success_response", "error_response", "partner_id",
  "event_type_id", "media_source_id", "owner_id", "in_app_event", "trigger", "condition",
];
const CHECKS = ["include_installs", "include_locking", "signing_enabled"];
const NUMBERS = new Set(["min_delay_seconds", "max_requests_per_second"]);
/** Set when a postback is created; PATCH cannot change them. */
const FIXED = new Set(["kind", "partner_id", "event_type_id", "media_source_id", "owner_id"]);
/** Fields PATCH clears with null when left blank (the others get their empty value). */
const NULLABLE = new Set(["body", "body_format", "max_requests_per_second", "success_response", "error_response", "in_app_event", "condition"]);
const BLANK = { name: "", url: "", min_delay_seconds: 0, trigger: "always" };

/** Whether a field is part of this form now: shown for the kind and known to the API. */
function active(name) {
  const input = $("f-" + name);
  const box = input.closest(".field");
  return !box.hidden && !box.classList.contains("unsupported") && !input.disabled;
}

/** The value of one field, or undefined when it is not active or blank. */
function fieldValue(name) {
  if (!active(name)) return undefined;
  const raw = $("f-" + name).value;
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
  for (const name of CHECKS) if (active(name)) body[name] = $("f-" + name).checked;
  const headers = headersBody();
  if (Object.keys(headers).length > 0) body.headers = headers;
  if (!$("f-enabled").checked) body.enabled = false;
  return body;
}

/** The configuration the live preview renders: the form as a create would send it, with
 *  an edited postback's fixed fields (disabled in the form) taken from the postback. */
function previewBody() {
  const body = formBody();
  const p = state.editing;
  if (p) {
    for (const name of FIXED) if (p[name] !== null && p[name] !== undefined) body[name] = p[name];
    if (!state.me || state.me.kind !== "operator") delete body.owner_id;
  }
  return body;
}

/** The body of PATCH /v1/postbacks/{id}: every field it can change, blank ones cleared. */
function patchBody() {
  const body = {};
  for (const name of FIELDS) {
    if (FIXED.has(name)) continue;
    if (!active(name) && !(name in BLANK)) continue;
    const value = fieldValue(name);
    body[name] = value !== undefined ? value : NULLABLE.has(name) ? null : BLANK[name];
  }
  if (!active("trigger")) delete body.trigger;
  for (const name of CHECKS) if (active(name)) body[name] = $("f-" + name).checked;
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
  const remove = h("button", { type: "button", class: "remove-header", "aria-label": "Remove header", onclick: () => {
    row.remove();
    editor.schedulePreview();
  } }, "Remove");
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
  for (const el of document.querySelectorAll("#create-form .field-problem, #create-form .field-warning")) el.remove();
  for (const el of document.querySelectorAll("#create-form .invalid")) {
    el.classList.remove("invalid");
    el.removeAttribute("aria-invalid");
  }
  // Untie the messages just removed; an input's own hint stays.
  for (const el of document.querySelectorAll('#create-form [aria-describedby*="problem-"]')) {
    const left = el.getAttribute("aria-describedby").split(" ").filter((t) => t && !t.startsWith("problem-"));
    if (left.length) el.setAttribute("aria-describedby", left.join(" "));
    else el.removeAttribute("aria-describedby");
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
  const input = FIELDS.includes(name) || CHECKS.includes(name) ? $("f-" + name) : null;
  if (!input || input.closest(".field").hidden) return null;
  return { input, box: input.closest(".field") };
}

let problemSeq = 0;
/** One problem (or, with `warning`, a warning) under its field: the message, and where in
 *  the template it is. Live ones are quiet (no alert on every key press). */
function showProblem(problem, how) {
  const { warning = false, live = false } = how || {};
  const target = problemTarget(problem);
  const where = problem.position === null || problem.position === undefined ? null : problem.position;
  const id = "problem-" + ++problemSeq;
  const box = h("div", { class: warning ? "field-warning" : "field-problem", id, role: live ? null : "alert" }, h("span", { class: "message" }, warning ? "Warning: " + problem.message : problem.message));
  if (target && where !== null && typeof target.input.value === "string") box.append(excerpt(target.input.value, where));
  if (target) {
    if (!warning) {
      target.input.classList.add("invalid");
      target.input.setAttribute("aria-invalid", "true");
    }
    const described = target.input.getAttribute("aria-describedby");
    target.input.setAttribute("aria-describedby", described ? described + " " + id : id);
    target.box.append(box);
  } else if (!warning) {
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
  touchedAll = true;
  if (err instanceof ApiError && Array.isArray(err.detail)) {
    err.detail.forEach((p) => showProblem(p));
    status.textContent = err.detail.length === 1 ? "1 problem: see above." : `${err.detail.length} problems: see above.`;
    const first = document.querySelector("#create-form .invalid");
    if (first) first.focus();
  } else {
    status.textContent = "";
    showProblem({ field: "postback", message: describe(err), position: null });
  }
}

/** Fields the user has typed in: live problems show under those only (and under all once
 *  Save was tried), so a new form is not covered in red. */
const touched = new Set();
let touchedAll = false;

function fieldOf(el) {
  if (el.classList.contains("header-name") || el.classList.contains("header-value")) return "headers";
  return el.id && el.id.startsWith("f-") ? el.id.slice(2) : null;
}

function liveProblems(problems, warnings, force) {
  if (force) touchedAll = true;
  clearProblems();
  const shown = (p) => touchedAll || touched.has(String(p.field).split(/[.[]/)[0]);
  problems.filter(shown).forEach((p) => showProblem(p, { live: true }));
  warnings.filter(shown).forEach((p) => showProblem(p, { warning: true, live: true }));
}

// -- saving ----------------------------------------------------------------------------------------
function resetTouched() {
  touched.clear();
  touchedAll = false;
}

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
      resetTouched();
      status.textContent = `Created ${created.id}.`;
      for (const name of ["url", "body", "name", "in_app_event", "condition"]) $("f-" + name).value = "";
      // Options back to their defaults, so the next postback is signed unless said otherwise.
      for (const name of CHECKS) $("f-" + name).checked = name === "signing_enabled";
      setHeaders({});
      $("test-output").replaceChildren();
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
  resetTouched();
  state.editing = p;
  editor.fillKinds(state.me.kind === "operator" ? null : state.me, p.kind);
  for (const name of FIELDS) {
    const input = $("f-" + name);
    const value = p[name];
    if (input.tagName === "SELECT" && value && ![...input.options].some((o) => o.value === value)) input.append(h("option", { value }, value));
    input.value = value === null || value === undefined ? "" : String(value);
    input.disabled = FIXED.has(name);
  }
  for (const name of CHECKS) $("f-" + name).checked = p[name] === undefined ? name === "signing_enabled" : Boolean(p[name]);
  setHeaders(p.headers);
  $("f-enabled").checked = p.enabled;
  editor.showSecret(p);
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
  const was = state.editing;
  state.editing = null;
  clearProblems();
  resetTouched();
  $("create-form").reset();
  for (const name of FIELDS) $("f-" + name).disabled = false;
  setHeaders({});
  editor.showSecret(null);
  if (state.me) editor.fillKinds(state.me.kind === "operator" ? null : state.me);
  $("form-title").textContent = "New postback";
  $("save-postback").textContent = "Create postback";
  show($("cancel-edit"), false);
  $("create-status").textContent = "";
  kindChanged();
  const row = was && postbackRowOf(was.id);
  if (row) row.querySelector("button.edit").focus();
}

function kindChanged() {
  const kind = $("f-kind").value;
  for (const field of document.querySelectorAll("#create-form [data-kinds]")) {
    show(field, field.dataset.kinds.split(" ").includes(kind));
  }
  for (const field of document.querySelectorAll("#create-form .operator-only")) {
    show(field, Boolean(state.me && state.me.kind === "operator"));
  }
  mobileChanged();
  if (!state.me) return;
  editor.pickEventTypes();
  mobileChanged();
  editor.loadParameters().then(editor.schedulePreview);
}

/** Installs and the in-app event: only for a partner integration on a mobile app event
 *  type (the API refuses them on others), so they show once such a type is chosen. */
function mobileChanged() {
  const pi = $("f-kind").value === "partner_integration";
  const chosen = known.eventTypes.find((t) => t.id === $("f-event_type_id").value);
  const mobile = !chosen || ["app_install", "in_app_event"].includes(chosen.category);
  for (const el of document.querySelectorAll("#create-form [data-mobile]")) show(el, pi && mobile);
  show($("mobile-hint"), pi && !mobile);
}

// -- wiring ------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  whenRefused(signOut);
  editor.initPreview({ body: previewBody, problems: liveProblems });
  log.init({ onOpen: (hash) => history.replaceState(null, "", "#" + hash) });
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
  const form = $("create-form");
  form.addEventListener("submit", savePostback);
  form.addEventListener("input", (e) => {
    const name = fieldOf(e.target);
    if (name) touched.add(name);
    editor.schedulePreview();
  });
  form.addEventListener("change", (e) => {
    if (e.target.type === "checkbox" || e.target.tagName === "SELECT") editor.schedulePreview();
  });
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.editing) stopEdit();
  });
  editor.trackTemplates(form);
  $("cancel-edit").addEventListener("click", stopEdit);
  $("add-header").addEventListener("click", () => addHeaderRow("", "").focus());
  $("f-kind").addEventListener("change", kindChanged);
  $("f-owner_id").addEventListener("change", ownerChanged);
  $("f-partner_id").addEventListener("change", () => { editor.pickEventTypes(); mobileChanged(); });
  $("f-event_type_id").addEventListener("change", mobileChanged);
  $("params-search").addEventListener("input", editor.drawParameters);
  $("s-type").addEventListener("change", () => {
    $("s-data").value = "";
    editor.schedulePreview();
  });
  $("s-data").addEventListener("input", editor.schedulePreview);
  $("s-reset").addEventListener("click", () => {
    $("s-data").value = "";
    editor.runPreview();
  });
  $("test-unsaved").addEventListener("click", editor.testUnsaved);
  $("use-inbox").addEventListener("click", editor.useInbox);

  const key = sessionStorage.getItem(KEY);
  if (key) {
    signIn(key).catch((err) => signOut(err.status === 401 ? "That key is not known." : describe(err)));
  } else {
    signOut();
  }
});
