// The postback editor's helpers: which kinds the account may create, pickers for what a
// postback hangs on, options only some kinds have, the parameter list (click to insert),
// and the live preview of the unsaved form, rendered by the API as you type.
import { $, h, show, api, describe, state, requestView, testView } from "./util.js";
import { known, eventTypeName } from "./setup.js";

const KINDS = [
  ["action_lifecycle", "Action lifecycle: every change to an action"],
  ["action_clearing", "Action clearing: an action cleared"],
  ["action_inquiry", "Action inquiry: inquiries (cashback and loyalty partners)"],
  ["catalog_change", "Catalog change: catalog items"],
  ["partner_integration", "Partner integration: set up by a brand for a partner"],
  ["media_source", "Media source: set up by a brand for its own media source"],
];
const PARTNER_KINDS = ["action_lifecycle", "action_clearing", "action_inquiry", "catalog_change"];
const BRAND_KINDS = ["partner_integration", "media_source"];
/** The parameter catalogue of each kind, and the topics (event `type`) it is sent for. */
export const CATALOGUE = { action_inquiry: "action_inquiry", catalog_change: "catalog_change" };
const TOPICS = {
  action: ["action.tracked", "action.modified", "action.reversed", "action.locked", "action.cleared", "app.install"],
  action_inquiry: ["inquiry.created", "inquiry.resolved"],
  catalog_change: ["catalog.item_changed"],
};
export const catalogueOf = (kind) => CATALOGUE[kind] || "action";

/** The kinds an account may create: a partner its own (inquiries for cashback and loyalty
 *  partners only), a brand those it sets up for others; the operator, the owner's. */
export function allowedKinds(account) {
  if (!account) return [];
  if (account.kind === "brand") return BRAND_KINDS;
  if (account.kind === "partner") {
    return PARTNER_KINDS.filter((k) => k !== "action_inquiry" || ["cashback", "loyalty"].includes(account.partner_type));
  }
  return KINDS.map(([k]) => k);
}

/** Offer only the allowed kinds (the current value stays, for an edited postback). */
export function fillKinds(account, current) {
  const select = $("f-kind");
  const allowed = allowedKinds(account);
  // An edited postback keeps its kind (it cannot change); a new one gets an allowed one.
  const keep = current && state.editing && !allowed.includes(current) ? [current] : [];
  select.replaceChildren(...KINDS.filter(([k]) => allowed.includes(k) || keep.includes(k)).map(([k, label]) => h("option", { value: k }, label)));
  if (current && (allowed.includes(current) || keep.includes(current))) select.value = current;
}

function options(select, items, blank) {
  const value = select.value;
  select.replaceChildren(h("option", { value: "" }, blank), ...items.map(([v, label]) => h("option", { value: v }, label)));
  if (value && !items.some(([v]) => v === value)) select.append(h("option", { value }, value));
  select.value = value;
}

/** Pickers from what the account sees: partners under contract, event types, media sources. */
export function fillPickers() {
  const partners = new Map(known.contracts.map((c) => [c.partner_id, c.partner_name || c.partner_id]));
  options($("f-partner_id"), [...partners], "choose a partner under contract");
  pickEventTypes();
  options($("f-media_source_id"), known.mediaSources.map((m) => [m.id, m.name]), "choose a media source");
}

/** A partner integration offers the event types in that partner's contracts. */
export function pickEventTypes() {
  const kind = $("f-kind").value;
  const partner = $("f-partner_id").value;
  let ids = known.eventTypes.map((t) => t.id);
  if (kind === "partner_integration") {
    ids = known.contracts.filter((c) => c.partner_id === partner).flatMap((c) => c.event_type_ids);
  }
  const blank = kind === "partner_integration" && !partner ? "choose the partner first" : "choose an event type";
  options($("f-event_type_id"), ids.map((id) => [id, eventTypeName(id)]), blank);
}

/** Fields the API may not have yet (added by newer servers): shown and sent only when the
 *  API's own description lists them. */
export const OPTIONAL = ["trigger", "condition", "signing_enabled"];

export async function loadSchema() {
  try {
    const spec = await fetch("/openapi.json").then((r) => r.json());
    const props = spec.components.schemas.PostbackIn.properties;
    state.fields = new Set(Object.keys(props));
    const trigger = props.trigger;
    const ref = trigger && (trigger.$ref || (trigger.allOf && trigger.allOf[0].$ref) || (trigger.anyOf && (trigger.anyOf.find((x) => x.$ref) || {}).$ref));
    const values = ref ? spec.components.schemas[ref.split("/").pop()].enum : trigger && trigger.enum;
    if (values) options($("f-trigger"), values.map((v) => [v, v.replaceAll("_", " ")]), "always (default)");
  } catch {
    state.fields = new Set();
  }
  for (const name of OPTIONAL) $("f-" + name).closest(".field").classList.toggle("unsupported", !state.fields.has(name));
}

// -- the parameter list -------------------------------------------------------------------
let lastTemplate = null;
const catalogues = new Map();

/** Remember the template input last used, so a click in the list inserts there. */
export function trackTemplates(form) {
  form.addEventListener("focusin", (e) => {
    const el = e.target;
    if (el.matches("#f-url, #f-body, #f-condition, .header-value")) lastTemplate = el;
  });
}

function insert(text) {
  const el = lastTemplate && document.contains(lastTemplate) ? lastTemplate : $("f-url");
  const start = el.selectionStart ?? el.value.length;
  const end = el.selectionEnd ?? el.value.length;
  el.value = el.value.slice(0, start) + text + el.value.slice(end);
  el.focus();
  el.setSelectionRange(start + text.length, start + text.length);
  el.dispatchEvent(new Event("input", { bubbles: true }));
  $("params-status").textContent = `Inserted ${text} into ${el.getAttribute("aria-label") || (el.labels[0] && el.labels[0].textContent) || "the template"}.`;
}

export async function loadParameters() {
  const kind = catalogueOf($("f-kind").value);
  const box = $("params-list");
  if (!catalogues.has(kind)) {
    box.replaceChildren(h("p", { class: "muted" }, "Loading parameters…"));
    try {
      catalogues.set(kind, await api("GET", `/v1/parameters/${kind}`));
    } catch (err) {
      box.replaceChildren(h("p", { class: "problem" }, describe(err)));
      return;
    }
  }
  drawParameters();
  fillTopics(kind);
}

export function drawParameters() {
  const cat = catalogues.get(catalogueOf($("f-kind").value));
  if (!cat) return;
  const q = $("params-search").value.trim().toLowerCase();
  const match = (p) => !q || p.name.toLowerCase().includes(q) || (p.description || "").toLowerCase().includes(q);
  const item = (label, text, detail, cls) =>
    h("li", {}, h("button", { type: "button", class: "param " + cls, "aria-label": `Insert ${label}`, title: `Insert ${text}`, onclick: () => insert(text) }, h("code", {}, label)), h("span", { class: "small muted" }, detail));
  const params = cat.parameters.filter(match).map((p) => item(`{${p.name}}`, `{${p.name}}`, `${p.type}: ${p.description}`, "parameter"));
  const fields = (cat.item_fields || []).filter(match).map((p) => item(`i.${p.name}`, `{join(items, i, "{i.${p.name}}", ",")}`, `item ${p.type}: ${p.description}`, "item-field"));
  const functions = (cat.functions || []).filter((f) => !q || [f.name, f.example, f.description].some((t) => (t || "").toLowerCase().includes(q))).map((f) => item(`|${f.name}`, f.example || `|${f.name}`, `${f.description ? f.description + " " : ""}(${f.takes} → ${f.gives})${f.example ? `; e.g. ${f.example}${f.example_result !== undefined && f.example_result !== null ? " gives " + f.example_result : ""}` : ""}`, "function"));
  const section = (title, items) => (items.length ? [h("h3", {}, title), h("ul", { class: "params" }, ...items)] : []);
  const parts = [...section("Parameters", params), ...section("Item fields (in a join)", fields), ...section("Functions", functions)];
  $("params-list").replaceChildren(...(parts.length ? parts : [h("p", { class: "muted" }, "Nothing matches.")]));
}

// -- the live preview -----------------------------------------------------------------------
function fillTopics(kind) {
  const select = $("s-type");
  const topics = TOPICS[kind];
  if ([...select.options].map((o) => o.value).join() === topics.join()) return;
  select.replaceChildren(...topics.map((t) => h("option", { value: t }, t)));
  $("s-data").value = "";
}

let timer = null;
let seq = 0;
let hooks = { body: () => ({}), problems: () => {} };

export function initPreview(h_) {
  hooks = h_;
}

export function schedulePreview() {
  clearTimeout(timer);
  timer = setTimeout(runPreview, 250);
}

/** The sample event's data as typed, or null for the server's sample; throws on bad JSON. */
function sampleData() {
  const text = $("s-data").value.trim();
  if (!text) return null;
  const data = JSON.parse(text);
  if (typeof data !== "object" || Array.isArray(data) || data === null) throw new Error("the data must be a JSON object");
  return data;
}

function configuration() {
  let data;
  const problem = $("s-data-problem");
  try {
    data = sampleData();
    show(problem, false);
    $("s-data").removeAttribute("aria-invalid");
  } catch (err) {
    problem.textContent = "Not valid JSON: " + err.message;
    show(problem, true);
    $("s-data").setAttribute("aria-invalid", "true");
    return null;
  }
  return { postback: hooks.body(), event: { type: $("s-type").value || null, data } };
}

export async function runPreview() {
  const body = configuration();
  if (!body) return;
  const mine = ++seq;
  const out = $("preview-output");
  if (!$("f-url").value.trim()) {
    $("preview-status").textContent = "";
    out.replaceChildren(h("p", { class: "hint" }, "Type a URL template (or use a parameter from the list) to see the request it would send."));
    hooks.problems([], []);
    if (!$("s-data").value.trim()) showSample(body, mine);
    return;
  }
  $("preview-status").textContent = "Rendering…";
  let result;
  try {
    result = await api("POST", "/v1/postbacks/preview", body);
  } catch (err) {
    if (mine !== seq) return;
    $("preview-status").textContent = "";
    out.replaceChildren(h("p", { class: "problem" }, describe(err)));
    hooks.problems(Array.isArray(err.detail) ? err.detail : [], []);
    return;
  }
  if (mine !== seq) return;
  if (!$("s-data").value.trim()) $("s-data").value = JSON.stringify(result.event.data, null, 2);
  const n = result.problems.length;
  const w = result.warnings.length;
  $("preview-status").textContent = n ? `${n} problem${n > 1 ? "s" : ""}: it cannot be saved yet.` : w ? `Ready to save, with ${w} warning${w > 1 ? "s" : ""}.` : "Ready to save.";
  const parts = [];
  if (result.condition) parts.push(conditionView(result.condition));
  if (result.request) parts.push(requestView(result.request, "Request it would send"));
  else parts.push(h("p", { class: "muted" }, "Nothing to show until the problems are fixed."));
  for (const p of result.problems) parts.push(h("p", { class: "problem small" }, h("span", { class: "mono" }, p.field), ": ", p.message));
  for (const p of result.warnings) parts.push(h("p", { class: "warning small" }, h("span", { class: "mono" }, p.field), ": ", p.message));
  out.replaceChildren(...parts);
  hooks.problems(result.problems, result.warnings);
}

/** The sample event's data, shown (to read and edit) before any URL is typed: the preview
 *  of a stand-in URL, of which only the event data is kept. */
async function showSample(body, mine) {
  const standIn = { ...body, postback: { ...body.postback, url: "https://receiver.example/" } };
  try {
    const result = await api("POST", "/v1/postbacks/preview", standIn);
    if (mine === seq && !$("s-data").value.trim()) $("s-data").value = JSON.stringify(result.event.data, null, 2);
  } catch {
    /* the sample shows with the first preview instead */
  }
}

/** Send the unsaved postback once (the server refuses what a save would refuse). */
export async function testUnsaved() {
  const body = configuration();
  if (!body) return;
  const out = $("test-output");
  out.replaceChildren(h("p", { class: "muted", role: "status" }, "Sending…"));
  try {
    const result = await api("POST", "/v1/postbacks/test", body);
    out.replaceChildren(...testView(result));
    const inbox = inboxName();
    if (inbox) out.append(await inboxView(inbox));
  } catch (err) {
    out.replaceChildren(h("p", { class: "problem", role: "alert" }, "Not sent: " + describe(err)));
    if (Array.isArray(err.detail)) hooks.problems(err.detail, [], true);
  }
}

function inboxName() {
  try {
    const u = new URL($("f-url").value.replace(/\{[^{}]*\}/g, "x"));
    const m = u.origin === location.origin && u.pathname.match(/^\/inbox\/([^/]+)$/);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

async function inboxView(name) {
  try {
    const seen = await fetch(`/inbox/${encodeURIComponent(name)}/requests`).then((r) => r.json());
    return h("p", { class: "small muted" }, `The inbox “${name}” has received ${seen.length} request${seen.length === 1 ? "" : "s"}.`);
  } catch {
    return h("span");
  }
}

/** Point the URL at a new built-in inbox, keeping the query the user wrote. */
export function useInbox() {
  const name = "try-" + Math.random().toString(36).slice(2, 8);
  const current = $("f-url").value;
  const q = current.indexOf("?");
  const query = q >= 0 ? current.slice(q) : "?action={ActionId}&payout={Payout}";
  $("f-url").value = `${location.origin}/inbox/${name}${query}`;
  $("f-url").dispatchEvent(new Event("input", { bubbles: true }));
  $("preview-status").textContent = `The URL now points at the built-in inbox “${name}”.`;
}

/** Whether the condition holds for the sample event: a delivery is made only if it does. */
function conditionView(c) {
  if (c.holds) return h("p", { class: "verdict ok condition-verdict" }, "Condition holds for this event: it would be sent.");
  const why = c.error ? `it could not be evaluated: ${c.error}` : "it is false for this data";
  return h("p", { class: "verdict bad condition-verdict" }, `Condition does not hold for this event (${why}): nothing would be sent.`);
}

/** The saved postback's signing secret: shown to its owner on request, copied, rotated. */
export function showSecret(postback) {
  const field = $("secret-field");
  const body = $("secret-body");
  show(field, Boolean(postback && postback.signing_enabled !== false));
  if (!postback) return body.replaceChildren();
  const path = `/v1/postbacks/${encodeURIComponent(postback.id)}/secret`;
  const status = h("p", { class: "small muted", role: "status", id: "secret-status" });
  const box = h("input", { type: "text", id: "secret-value", readonly: "", class: "mono", "aria-label": "Signing secret", value: "" });
  const wrap = h("div", { class: "inline", hidden: "" }, box,
    h("button", { type: "button", id: "copy-secret", onclick: async () => {
      try {
        await navigator.clipboard.writeText(box.value);
        status.textContent = "Copied.";
      } catch {
        box.select();
        status.textContent = "Selected: press Ctrl+C to copy.";
      }
    } }, "Copy"));
  const fill = (secret, note) => {
    box.value = secret.secret;
    wrap.hidden = false;
    const until = secret.previous_secret_expires_at;
    status.textContent = note + (until ? ` The previous secret also signs until ${new Date(until).toLocaleString()}.` : "");
  };
  const reveal = h("button", { type: "button", id: "show-secret", onclick: async () => {
    try {
      fill(await api("GET", path), "Give it to the receiver; keep it private.");
    } catch (err) {
      status.textContent = describe(err);
    }
  } }, "Show secret");
  const rotate = h("button", { type: "button", id: "rotate-secret", onclick: async () => {
    if (!confirmRotate.hidden) return;
    confirmRotate.hidden = false;
    confirmRotate.querySelector("button").focus();
  } }, "Rotate…");
  const confirmRotate = h("div", { class: "confirm-box", hidden: "", role: "group", "aria-label": "Rotate the secret" },
    h("p", { class: "small" }, "A new secret signs from now on; the old one keeps signing for a while, so the receiver can switch."),
    h("button", { type: "button", class: "primary", id: "confirm-rotate", onclick: async () => {
      confirmRotate.hidden = true;
      try {
        fill(await api("POST", path + "/rotate", {}), "A new secret: give it to the receiver.");
      } catch (err) {
        status.textContent = describe(err);
      }
      rotate.focus();
    } }, "Rotate now"),
    h("button", { type: "button", onclick: () => { confirmRotate.hidden = true; rotate.focus(); } }, "Cancel"));
  body.replaceChildren(h("div", { class: "inline" }, reveal, rotate), wrap, confirmRotate, status);
}
