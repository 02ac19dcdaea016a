// The Setup screen: what postbacks hang on, each part for whoever may manage it. The
// operator: accounts and their keys. A brand: programs, event types, contracts, media
// sources (the partner of a contract picked by name). A partner: its contracts.
import { $, h, show, api, describe, placeProblems, field, when, state, ApiError } from "./util.js";

/** What the signed-in account sees, for the setup lists and the postback pickers. */
export const known = { accounts: [], programs: [], eventTypes: [], contracts: [], mediaSources: [] };

const CATEGORIES = [
  ["sale", "Sale"],
  ["lead", "Lead"],
  ["app_install", "Mobile app install"],
  ["in_app_event", "Mobile in-app event"],
];

async function quietly(path) {
  try {
    return await api("GET", path);
  } catch {
    return [];
  }
}

/** Re-read everything the pickers and lists need. */
export async function loadKnown() {
  const me = state.me;
  const operator = me.kind === "operator";
  [known.accounts, known.programs, known.eventTypes, known.contracts, known.mediaSources] = await Promise.all([
    operator ? quietly("/v1/accounts") : Promise.resolve([]),
    quietly("/v1/programs"),
    quietly("/v1/event-types"),
    quietly("/v1/contracts"),
    me.kind === "partner" ? Promise.resolve([]) : quietly("/v1/media-sources"),
  ]);
}

export function eventTypeName(id) {
  const t = known.eventTypes.find((e) => e.id === id);
  return t ? t.name : id;
}

export function programName(id) {
  const p = known.programs.find((e) => e.id === id) || known.contracts.find((c) => c.program_id === id);
  return p ? p.name || p.program_name : id;
}

function card(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...children);
}

function list(headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "hint empty" }, empty);
  return h(
    "table",
    { class: "list cards" },
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c, i) => h("td", { "data-label": headers[i] }, c))))),
  );
}

/** A small form: inputs with data-field, a submit button, a status line and problems. */
function miniForm(id, controls, submit, onSubmit) {
  const problem = h("div", { class: "problem", role: "alert", hidden: true });
  const status = h("p", { class: "status", role: "status", id: id + "-status" });
  const form = h("form", { id, class: "mini", novalidate: true, autocomplete: "off" }, h("div", { class: "grid" }, ...controls), problem, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, submit), status));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Saving…";
    try {
      const message = await onSubmit(form, status);
      placeProblems(form, null, problem);
      // The lists were redrawn: say what happened in the new form, and keep focus there.
      const now = $(id + "-status");
      if (now && message) now.textContent = message;
      const again = $(id);
      if (again && again !== form) again.querySelector("input, select").focus();
    } catch (err) {
      status.textContent = "";
      placeProblems(form, err, problem);
    }
  });
  return form;
}

function input(id, name, attrs) {
  return h("input", { id, "data-field": name, type: "text", ...(attrs || {}) });
}

function select(id, name, options, attrs) {
  return h("select", { id, "data-field": name, ...(attrs || {}) }, ...options.map(([value, label]) => h("option", { value }, label)));
}

/** The key, shown once, with a button that copies it. */
function keyOnce(key, whose, id = "new-key") {
  const box = h("input", { type: "text", readonly: true, class: "mono", value: key, id, "aria-label": `API key of ${whose}` });
  const copied = h("span", { class: "status", role: "status" });
  return h(
    "div",
    { class: "key-once", role: "region", "aria-label": "New API key" },
    h("p", { class: "strong" }, `The key of ${whose}. It is shown once: copy it now and give it to them.`),
    h("div", { class: "inline" }, box, h("button", { type: "button", id: `copy-${id}`, onclick: async () => {
      box.select();
      try {
        await navigator.clipboard.writeText(key);
        copied.textContent = "Copied.";
      } catch {
        copied.textContent = "Selected: press Ctrl+C to copy.";
      }
    } }, "Copy"), copied),
  );
}

// -- the operator ---------------------------------------------------------------------------
function accountsCard() {
  const shown = h("div", { id: "account-key" });
  const kind = select("a-kind", "kind", [["brand", "Brand"], ["partner", "Partner"]]);
  const ptype = select("a-partner_type", "partner_type", [["other", "other"], ["cashback", "cashback"], ["loyalty", "loyalty"], ["content", "content"], ["coupon", "coupon"], ["creator", "creator"], ["mobile", "mobile"]]);
  const typeField = field("Partner type", ptype, { class: "half" });
  kind.addEventListener("change", () => show(typeField, kind.value === "partner"));
  show(typeField, false);
  const form = miniForm("account-form", [field("Name", input("a-name", "name", { required: true, maxlength: 200 }), { class: "half" }), field("Kind", kind, { class: "half" }), typeField], "Create account", async (f, status) => {
    const body = { name: $("a-name").value.trim(), kind: kind.value };
    if (kind.value === "partner") body.partner_type = ptype.value;
    const made = await api("POST", "/v1/accounts", body);
    shown.replaceChildren(keyOnce(made.api_key, made.name));
    f.reset();
    show(typeField, false);
    await loadKnown();
    $("accounts-list").replaceChildren(accountsList());
    return `Created ${made.name} (${made.id}).`;
  });
  return card("Accounts", h("p", { class: "hint" }, "Brands set up programs and postbacks for their partners; partners set up their own postbacks. Each account signs in with its own key."), form, shown, h("div", { id: "accounts-list" }, accountsList()), h("div", { id: "keys-panel" }));
}

function accountsList() {
  const rows = known.accounts.filter((a) => a.kind !== "operator").map((a) => [
    h("span", { class: "strong" }, a.name),
    a.partner_type ? `partner (${a.partner_type})` : a.kind,
    h("span", { class: "mono small" }, a.id),
    when(a.created_at),
    h("button", { type: "button", class: "keys", "aria-label": `Keys of ${a.name}`, onclick: (e) => openKeys(a, e.currentTarget) }, "Keys"),
  ]);
  return list(["Name", "Kind", "Id", "Created", "Keys"], rows, "No accounts yet: create a brand and a partner above.");
}

async function openKeys(account, opener) {
  const panel = $("keys-panel");
  const out = h("div", { role: "status" }, "Loading keys…");
  const close = h("button", { type: "button", onclick: () => { panel.replaceChildren(); opener.focus(); } }, "Close");
  panel.replaceChildren(h("div", { class: "subcard", role: "region", "aria-label": `Keys of ${account.name}` }, h("h3", { tabindex: -1 }, `Keys of ${account.name}`), out, close));
  panel.querySelector("h3").focus();
  const path = `/v1/accounts/${encodeURIComponent(account.id)}/keys`;
  const render = async () => {
    let keys;
    try {
      keys = await api("GET", path);
    } catch (err) {
      out.replaceChildren(h("p", { class: "problem" }, describe(err)));
      return;
    }
    const rows = keys.map((k) => [h("span", { class: "mono" }, k.prefix || k.id), when(k.created_at), k.last_used_at ? when(k.last_used_at) : "never", k.revoked_at ? ["revoked ", when(k.revoked_at)] : h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${k.prefix || k.id}`, onclick: async () => {
      try {
        await api("DELETE", `${path}/${encodeURIComponent(k.id)}`);
      } catch (err) {
        out.prepend(h("p", { class: "problem" }, describe(err)));
        return;
      }
      await render();
    } }, "Revoke")]);
    const add = h("button", { type: "button", class: "primary", onclick: async () => {
      try {
        const made = await api("POST", path);
        await render();
        out.prepend(keyOnce(made.api_key || made.key, account.name, "made-key"));
      } catch (err) {
        out.prepend(h("p", { class: "problem" }, describe(err)));
      }
    } }, "New key");
    out.replaceChildren(list(["Key", "Created", "Last used", "State"], rows, "No keys."), add);
  };
  await render();
}

// -- a brand --------------------------------------------------------------------------------
function programsCard() {
  const form = miniForm("program-form", [field("Program name", input("p-name", "name", { maxlength: 200 }), { class: "half" })], "Add program", async (f, status) => {
    const made = await api("POST", "/v1/programs", { name: $("p-name").value.trim() });
    const message = `Added ${made.name}.`;
    f.reset();
    await refresh();
    return message;
  });
  const rows = known.programs.map((p) => [h("span", { class: "strong" }, p.name), h("span", { class: "mono small" }, p.id), known.eventTypes.filter((t) => t.program_id === p.id).map((t) => t.name).join(", ") || "none yet"]);
  return card("Programs", form, list(["Program", "Id", "Event types"], rows, "No programs yet: add one to define event types and contracts."));
}

function eventTypesCard() {
  const programs = known.programs.map((p) => [p.id, p.name]);
  const form = miniForm("event-type-form", [
    field("Program", select("t-program", "program_id", [["", "choose a program"], ...programs]), { class: "half" }),
    field("Event type name", input("t-name", "name", { maxlength: 200 }), { class: "half" }),
    field("Category", select("t-category", "category", CATEGORIES), { class: "half", hint: "Mobile app install and in-app event types carry app events to partners that opt in." }),
  ], "Add event type", async (f, status) => {
    const program = $("t-program").value;
    if (!program) throw new ApiError(422, [{ field: "program_id", message: "choose the program it belongs to" }]);
    const made = await api("POST", `/v1/programs/${encodeURIComponent(program)}/event-types`, { name: $("t-name").value.trim(), category: $("t-category").value });
    const message = `Added ${made.name}.`;
    f.reset();
    await refresh();
    return message;
  });
  const label = Object.fromEntries(CATEGORIES);
  const rows = known.eventTypes.map((t) => [h("span", { class: "strong" }, t.name), label[t.category] || t.category, programName(t.program_id), h("span", { class: "mono small" }, t.id)]);
  return card("Event types", form, list(["Event type", "Category", "Program", "Id"], rows, "No event types yet."));
}

function contractsCard() {
  const programs = known.programs.map((p) => [p.id, p.name]);
  const types = h("fieldset", { class: "checks", id: "c-types", "data-field": "event_type_ids", tabindex: -1 }, h("legend", {}, "Event types in the contract"));
  const program = select("c-program", "program_id", [["", "choose a program"], ...programs]);
  const fill = () => {
    types.replaceChildren(h("legend", {}, "Event types in the contract"), ...known.eventTypes.filter((t) => t.program_id === program.value).map((t) => h("label", { class: "check" }, h("input", { type: "checkbox", value: t.id, name: "event_type_ids" }), " " + t.name)));
    if (!program.value) types.append(h("p", { class: "hint small" }, "Choose a program first."));
  };
  program.addEventListener("change", fill);
  fill();
  const typesField = h("div", { class: "field wide" }, types);
  const picker = partnerPicker();
  const form = miniForm("contract-form", [
    ...picker.fields,
    field("Program", program, { class: "half" }),
    typesField,
  ], "Add contract", async (f, status) => {
    const ids = [...types.querySelectorAll("input:checked")].map((i) => i.value);
    const missing = [
      !picker.select.value && { field: "partner_id", message: "Choose the partner the contract is with (find it by name)." },
      !program.value && { field: "program_id", message: "Choose the program the contract is on." },
    ].filter(Boolean);
    if (missing.length) throw new ApiError(422, missing);
    const made = await api("POST", "/v1/contracts", { partner_id: picker.select.value, program_id: program.value, event_type_ids: ids });
    const message = `Added contract ${made.id}.`;
    f.reset();
    await refresh();
    return message;
  });
  return card("Contracts with partners", form, contractsList());
}

/** The partner of a contract, picked from the directory (GET /v1/partners) by name: a
 *  search box narrows the list beside it, so no one types or pastes an id. */
function partnerPicker() {
  const LIMIT = 50;
  const search = h("input", { id: "c-partner-q", type: "search", placeholder: "type part of the name", autocomplete: "off", spellcheck: "false", "aria-controls": "c-partner", "aria-describedby": "c-partner-q-hint" });
  const select = h("select", { id: "c-partner", "data-field": "partner_id", "aria-describedby": "c-partner-found" }, h("option", { value: "" }, "Loading partners…"));
  const found = h("p", { class: "hint small", id: "c-partner-found", role: "status" });
  let asked = 0;
  let timer = null;
  const fill = async () => {
    const mine = ++asked;
    const q = search.value.trim();
    const chosen = select.value;
    let page;
    try {
      page = await api("GET", "/v1/partners?" + new URLSearchParams({ q, limit: String(LIMIT) }).toString());
    } catch (err) {
      if (mine !== asked) return;
      select.replaceChildren(h("option", { value: "" }, "partners cannot be listed"));
      found.textContent = describe(err);
      return;
    }
    if (mine !== asked) return; // a later search has answered, or will
    const items = page.items;
    const keep = chosen && !items.some((p) => p.id === chosen) ? [...select.options].find((o) => o.value === chosen) : null;
    const first = items.length || keep ? "choose a partner" : q ? `no partner's name contains "${q}"` : "no partners yet";
    select.replaceChildren(h("option", { value: "" }, first), ...(keep ? [keep] : []), ...items.map((p) => h("option", { value: p.id }, `${p.name} (${p.partner_type || "partner"})`)));
    select.value = chosen && (keep || items.some((p) => p.id === chosen)) ? chosen : items.length === 1 && q ? items[0].id : "";
    if (select.value !== chosen) select.dispatchEvent(new Event("change")); // chosen for the user
    const shown = `${items.length}${page.next_cursor ? "+" : ""}`;
    found.textContent = page.next_cursor
      ? `The first ${items.length} partners${q ? ` matching "${q}"` : ""}: type more of the name to narrow the list.`
      : q ? `${shown} partner${items.length === 1 ? "" : "s"} matching "${q}".` : `${shown} partner${items.length === 1 ? "" : "s"}.`;
  };
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(fill, 200);
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault(); // Enter searches now; it does not submit the contract
      clearTimeout(timer);
      fill().then(() => select.focus());
    }
  });
  fill();
  return {
    select,
    fields: [
      field("Find a partner", search, { class: "half", hint: "Partners are listed by name; typing narrows the list." }),
      h("div", { class: "field half" }, h("label", { for: "c-partner" }, "Partner"), select, found),
    ],
  };
}

/** The contracts, each named by the other party: the partner for a brand, the brand for a
 *  partner. */
function contractsList(party = "partner") {
  const other = (c) => (party === "brand" ? c.brand_name || "" : c.partner_name || c.partner_id);
  const rows = known.contracts.map((c) => [h("span", { class: "strong" }, other(c)), c.program_name || programName(c.program_id), c.event_type_ids.map(eventTypeName).join(", ") || "none", h("span", { class: "mono small" }, c.id)]);
  const empty = party === "brand" ? "No contracts yet: a brand adds you to one of its programs." : "No contracts yet.";
  return list([party === "brand" ? "Brand" : "Partner", "Program", "Event types", "Id"], rows, empty);
}

function mediaSourcesCard() {
  const form = miniForm("media-source-form", [field("Media source name", input("m-name", "name", { maxlength: 200 }), { class: "half" })], "Add media source", async (f, status) => {
    const made = await api("POST", "/v1/media-sources", { name: $("m-name").value.trim() });
    const message = `Added ${made.name}.`;
    f.reset();
    await refresh();
    return message;
  });
  const rows = known.mediaSources.map((m) => [h("span", { class: "strong" }, m.name), h("span", { class: "mono small" }, m.id)]);
  return card("Media sources", h("p", { class: "hint" }, "Traffic sources of your own (a newsletter, a paid campaign) that get a postback when their events happen."), form, list(["Media source", "Id"], rows, "No media sources yet."));
}

// -- a partner ------------------------------------------------------------------------------
function partnerCard() {
  return card(
    "Your account",
    h("p", {}, "Brands find you by your name, ", h("strong", {}, state.me.name), ", when they make a contract with you. Your account id, for calls to the API: ", h("code", { id: "my-id" }, state.me.id)),
    h("h3", {}, "Your contracts"),
    contractsList("brand"),
  );
}

/** Draw the Setup screen for the signed-in account. */
export async function refresh() {
  const view = $("setup-body");
  view.replaceChildren(h("p", { class: "muted", role: "status" }, "Loading…"));
  await loadKnown();
  const kind = state.me.kind;
  if (kind === "operator") view.replaceChildren(accountsCard());
  else if (kind === "brand") view.replaceChildren(programsCard(), eventTypesCard(), contractsCard(), mediaSourcesCard());
  else view.replaceChildren(partnerCard());
}
