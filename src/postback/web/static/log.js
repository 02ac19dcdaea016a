// The delivery log: filters (postback, status, action, event id, time), counts per status,
// auto-refresh, "replay what matches" with its progress, and the detail in a side panel
// with its own URL (#deliveries/<id>).
import { $, h, show as display, api, describe, state, when, relative, badge, plain, REASONS, reasonOf, inWords, requestView, replyView, noReply, ApiError } from "./util.js";

const STATUSES = ["scheduled", "sending", "retrying", "delivered", "failed"];
/** What each status means, in words. */
const MEANING = {
  scheduled: "Waiting to be sent",
  sending: "Being sent now",
  retrying: "Not delivered yet; it will be tried again",
  delivered: "Delivered",
  failed: "Not delivered; no more attempts",
};
let hooks = { onOpen: () => {} };
let timer = null;
let opener = null;

export function init(h_) {
  hooks = h_;
  $("d-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    load(false);
  });
  $("d-filters").addEventListener("change", (e) => {
    if (e.target.tagName === "SELECT" || e.target.type === "datetime-local") load(false);
  });
  $("more-deliveries").addEventListener("click", () => load(true));
  $("d-auto").addEventListener("change", auto);
  $("replay").addEventListener("click", askReplay);
  $("redeliver").addEventListener("click", askRedeliver);
  $("close-delivery").addEventListener("click", close);
  $("delivery").addEventListener("keydown", (e) => e.key === "Escape" && close());
}

/** Set filters before the log is shown (from a postback's "Log" or "failed" link). */
export async function show(filter) {
  $("d-postback").value = "";
  $("d-status").value = "";
  fillPostbacks(filter.postback_id);
  $("d-postback").value = filter.postback_id || "";
  $("d-status").value = filter.status || "";
}

export function stop() {
  clearInterval(timer);
  timer = null;
  $("d-auto").checked = false;
}

function auto() {
  clearInterval(timer);
  timer = $("d-auto").checked ? setInterval(() => load(false, true), 5000) : null;
}

/** The log screen; `where` may be "deliveries/<id>" to open one delivery. */
export async function open(where) {
  if (state.postbacks.size === 0) {
    try {
      state.postbacks = new Map((await api("GET", "/v1/postbacks")).map((p) => [p.id, p]));
    } catch {
      /* names are a nicety */
    }
  }
  fillPostbacks($("d-postback").value);
  await load(false);
  const id = where && where.startsWith("deliveries/") ? where.slice("deliveries/".length) : null;
  if (id) await openDelivery(id);
}

function fillPostbacks(value) {
  const select = $("d-postback");
  select.replaceChildren(h("option", { value: "" }, "any postback"), ...[...state.postbacks.values()].map((p) => h("option", { value: p.id }, p.name || `${p.kind} ${p.id}`)));
  if (value && !state.postbacks.has(value)) select.append(h("option", { value }, value));
  select.value = value || "";
}

/** The filter as the API takes it. */
function filter() {
  const f = {};
  const pick = (name, value) => value && (f[name] = value);
  pick("postback_id", $("d-postback").value);
  pick("status", $("d-status").value);
  pick("action_id", $("d-action").value.trim());
  pick("event_id", $("d-event").value.trim());
  for (const name of ["since", "until"]) {
    const v = $("d-" + name).value;
    if (v) f[name] = new Date(v).toISOString();
  }
  return f;
}

export function postbackName(id) {
  const p = state.postbacks.get(id);
  return p ? p.name || p.kind : id;
}

async function load(more, quiet) {
  const body = $("deliveries").tBodies[0];
  const f = filter();
  const params = new URLSearchParams({ ...f, limit: "25" });
  if (more && state.cursor) params.set("cursor", state.cursor);
  if (!quiet) display($("deliveries-loading"), true);
  let page;
  try {
    page = await api("GET", "/v1/deliveries?" + params.toString());
  } catch (err) {
    display($("deliveries-loading"), false);
    display($("deliveries-empty"), false); // unknown, not empty
    body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "problem" }, describe(err), " ", h("button", { type: "button", onclick: () => load(false) }, "Try again"))));
    display($("deliveries"), true);
    return;
  }
  display($("deliveries-loading"), false);
  const rows = page.items.map(deliveryRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  const selected = state.delivery && !$("delivery").hidden ? state.delivery.id : null;
  for (const tr of body.rows) tr.classList.toggle("selected", tr.dataset.id === selected);
  state.cursor = page.next_cursor;
  display($("more-deliveries"), Boolean(page.next_cursor));
  display($("deliveries"), body.rows.length > 0);
  display($("deliveries-empty"), body.rows.length === 0);
  $("deliveries-updated").textContent = "Updated " + new Date().toLocaleTimeString();
  counts(f);
}

/** How many deliveries of each status match the other filters (up to 500 each). */
async function counts(f) {
  const box = $("d-counts");
  const found = await Promise.all(
    STATUSES.map(async (status) => {
      try {
        const page = await api("GET", "/v1/deliveries?" + new URLSearchParams({ ...f, status, limit: "500" }).toString());
        return [status, page.items.length + (page.next_cursor ? "+" : "")];
      } catch {
        return [status, "?"];
      }
    }),
  );
  box.replaceChildren(
    ...found.map(([status, n]) =>
      h("button", { type: "button", class: "count" + ($("d-status").value === status ? " active" : ""), "aria-pressed": $("d-status").value === status ? "true" : "false", "aria-label": `${status} ${n}: show only these`, onclick: () => {
        $("d-status").value = $("d-status").value === status ? "" : status;
        load(false);
      } }, badge(status), " ", String(n)),
    ),
  );
}

function deliveryRow(d) {
  const open_ = (e) => {
    opener = e.currentTarget;
    openDelivery(d.id);
  };
  return h(
    "tr",
    { "data-id": d.id, tabindex: 0, "aria-label": `Delivery ${d.id}, ${d.status}: open`, onclick: open_, onkeydown: (e) => e.key === "Enter" && open_(e) },
    h("td", { class: "small nowrap", "data-label": "Created" }, when(d.created_at)),
    h("td", { "data-label": "Status" }, badge(d.status), d.last_error ? h("div", { class: "small muted" }, inWords(d.last_error)) : null, d.original_id ? h("div", { class: "small muted resent" }, "resent as sent") : null),
    h("td", { title: d.postback_id, "data-label": "Postback" }, postbackName(d.postback_id)),
    h("td", { class: "mono small", "data-label": "Event / action" }, d.event_id, d.action_id ? h("div", { class: "muted" }, d.action_id) : null),
    h("td", { class: "num", "data-label": "Attempts" }, String(d.attempt_count)),
    h("td", { class: "request", "data-label": "Request" }, h("span", { class: "method" }, d.request.method), " ", h("span", { class: "mono small" }, d.request.url)),
  );
}

// -- the detail -------------------------------------------------------------------------
async function openDelivery(id) {
  const card = $("delivery");
  const out = $("delivery-body");
  for (const tr of $("deliveries").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
  display(card, true);
  $("redeliver-confirm").replaceChildren();
  document.body.classList.add("panel-open");
  $("delivery-id").textContent = id;
  hooks.onOpen("deliveries/" + id);
  out.replaceChildren(h("p", { class: "muted", role: "status" }, "Loading…"));
  $("delivery-title").focus();
  $("redeliver").disabled = true; // until the delivery it would send again is here
  try {
    const d = await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`);
    state.delivery = d;
    out.replaceChildren(...deliveryView(d));
    syncRow(d);
    $("redeliver").disabled = false;
  } catch (err) {
    out.replaceChildren(h("p", { class: "problem" }, err instanceof ApiError && err.status === 404 ? `No delivery ${id} (it may belong to another account).` : describe(err)));
  }
}

function close() {
  display($("delivery"), false);
  document.body.classList.remove("panel-open");
  hooks.onOpen("deliveries");
  for (const tr of $("deliveries").tBodies[0].rows) tr.classList.remove("selected");
  const row = state.delivery && document.querySelector(`#deliveries tr[data-id="${CSS.escape(state.delivery.id)}"]`);
  (row || opener || $("d-status")).focus();
}

/** The last failure in words; the receiver's or the library's own text under "Details". */
function lastError(d) {
  const last = (d.attempts || []).at(-1);
  const code = last && last.outcome !== "delivered" ? last.outcome : reasonOf(d.last_error);
  if (!code || REASONS[code] === undefined) return d.last_error;
  return [plain(code), d.last_error !== code ? h("details", { class: "small" }, h("summary", {}, "Details"), h("code", {}, d.last_error)) : null];
}

function deliveryView(d) {
  const waiting = d.status === "scheduled" || d.status === "retrying";
  const finished = d.status === "delivered" || d.status === "failed";
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Status"), h("dd", {}, badge(d.status), " ", MEANING[d.status] || ""),
    h("dt", {}, "Postback"), h("dd", {}, postbackName(d.postback_id), " ", h("span", { class: "mono small muted" }, d.postback_id)),
    h("dt", {}, "Event"), h("dd", { class: "mono" }, d.event_id),
    h("dt", {}, "Action"), h("dd", { class: "mono" }, d.action_id || "—"),
    h("dt", {}, "Created"), h("dd", {}, when(d.created_at)),
    finished ? [h("dt", {}, "Finished"), h("dd", {}, when(d.updated_at))] : [h("dt", {}, waiting ? "Next attempt" : "Due"), h("dd", {}, when(d.due_at), waiting ? ` (${relative(d.due_at)})` : "")],
    d.original_id ? [h("dt", {}, "Resends"), h("dd", {}, "the request of ", h("button", { type: "button", class: "link mono original", onclick: () => openDelivery(d.original_id) }, d.original_id), ", as it was sent")] : null,
    h("dt", {}, "Attempts"), h("dd", {}, String(d.attempt_count)),
    d.last_error ? [h("dt", {}, "Last error"), h("dd", {}, lastError(d))] : null,
  );
  const attempts = (d.attempts || []).map((a) =>
    h(
      "details",
      { class: "attempt", open: a.number === d.attempt_count },
      h(
        "summary",
        {},
        `#${a.number} · `,
        when(a.started_at),
        ` · ${Math.round(a.duration_ms)} ms · `,
        attemptBadge(a.outcome),
        a.reply ? ` · HTTP ${a.reply.status}` : "",
      ),
      h("p", { class: "outcome small" }, plain(a.outcome), a.error ? ` (${a.error})` : ""),
      h("div", { class: "pair" }, requestView(a.request, "Request"), a.reply ? replyView(a.reply) : noReply()),
    ),
  );
  return [
    facts,
    requestView(d.request, "Request as stored"),
    h("h3", {}, "Attempts"),
    ...(attempts.length ? attempts : [h("p", { class: "muted" }, "No attempts yet.")]),
  ];
}

/** The open delivery's row in the list, as the detail shows it (the list may be older). */
function syncRow(d) {
  const row = document.querySelector(`#deliveries tr[data-id="${CSS.escape(d.id)}"]`);
  if (!row) return;
  const fresh = deliveryRow(d);
  fresh.classList.add("selected");
  row.replaceWith(fresh);
}

/** An attempt's verdict: delivered, failed, or skipped (not sent, not the receiver's failure). */
function attemptBadge(outcome) {
  const verdict = outcome === "delivered" || outcome === "skipped" ? outcome : "failed";
  return h("span", { class: "badge " + verdict }, verdict);
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
    syncRow(d);
    if (!["delivered", "failed"].includes(d.status)) {
      if (tries > 1) follow(id, tries - 1);
    } else load(false, true); // final: the counts follow too
  }, 1000);
}

/** A finished delivery is not resent on one click: ask whether to send the request as it
 *  was sent (a new delivery, logged like any other) or this one with the current postback.
 *  One still waiting is simply sent now. */
function askRedeliver() {
  const d = state.delivery;
  if (!d) return;
  if (!["delivered", "failed"].includes(d.status)) return redeliver("current");
  const box = $("redeliver-confirm");
  const cancel = h("button", { type: "button", class: "cancel-redeliver", onclick: () => {
    box.replaceChildren();
    $("redeliver").focus();
  } }, "Cancel");
  const copy = Boolean(d.original_id);
  box.replaceChildren(
    h(
      "div",
      { class: "confirm-box", role: "alertdialog", "aria-label": "Send again", "aria-describedby": "redeliver-words" },
      h("div", { id: "redeliver-words" },
        h("p", { class: "strong" }, d.status === "delivered" ? "This was delivered already. Send it again?" : "Send it again?"),
        h("ul", { class: "choices small" },
          h("li", {}, h("strong", {}, "Again, as sent: "), "a new delivery, in the log beside this one, with exactly the request shown here (URL, headers, body), signed afresh."),
          copy
            ? h("li", {}, "This delivery resends another as it was sent, so it keeps that request; to send with the current postback, ", h("button", { type: "button", class: "link open-original", onclick: () => openDelivery(d.original_id) }, "open the original"), ".")
            : h("li", {}, h("strong", {}, "With the current postback: "), "this delivery again, its event rendered by the postback as it is now."),
        ),
      ),
      h("button", { type: "button", class: "primary as-sent", onclick: () => { box.replaceChildren(); redeliver("as_sent"); } }, "Again, as sent"),
      copy ? null : h("button", { type: "button", class: "with-current", onclick: () => { box.replaceChildren(); redeliver("current"); } }, "With the current postback"),
      cancel,
    ),
  );
  cancel.focus();
}

/** Redeliver (POST .../redeliver): "as_sent" opens the new delivery it makes; "current"
 *  queues this one again. Either is then followed until it is final. */
async function redeliver(request) {
  const id = state.delivery.id;
  const out = $("delivery-body");
  let made;
  try {
    made = await api("POST", `/v1/deliveries/${encodeURIComponent(id)}/redeliver`, { request });
  } catch (err) {
    out.prepend(h("p", { class: "problem", role: "alert" }, describe(err)));
    return;
  }
  await load(false, true);
  await openDelivery(made.id);
  const said = request === "as_sent"
    ? ["Sent again as sent: this is a new delivery with the request of ", h("button", { type: "button", class: "link", onclick: () => openDelivery(id) }, id), "."]
    : ["Queued to be sent again now, with the current postback."];
  // Above the detail, which is redrawn as the delivery moves on; the next open clears it.
  $("redeliver-confirm").replaceChildren(h("p", { class: "verdict ok", role: "status" }, ...said));
  follow(made.id, 30);
}

// -- replay what matches ------------------------------------------------------------------
function askReplay() {
  const box = $("replay-box");
  const f = filter();
  const words = Object.entries(f).map(([k, v]) => `${k.replace("_id", "")} ${v}`).join(", ") || "no filter: every finished delivery";
  const cancel = h("button", { type: "button", onclick: () => { box.replaceChildren(); $("replay").focus(); } }, "Cancel");
  box.replaceChildren(
    h(
      "div",
      { class: "confirm-box", role: "alertdialog", "aria-label": "Replay what matches" },
      h("p", {}, `Send again now every finished delivery that matches (${words})?`),
      h("button", { type: "button", class: "primary confirm-replay", onclick: () => replay(f) }, "Replay"),
      cancel,
    ),
  );
  cancel.focus();
}

async function replay(f) {
  const box = $("replay-box");
  box.replaceChildren(h("p", { role: "status" }, "Replaying…"));
  let answer;
  try {
    answer = await api("POST", "/v1/deliveries/replay", f);
  } catch (err) {
    box.replaceChildren(h("p", { class: "problem", role: "alert" }, describe(err)));
    return;
  }
  const queued = answer.queued ?? answer.replayed;
  const line = h("p", { class: "verdict ok replayed", role: "status" }, `${queued} deliver${queued === 1 ? "y" : "ies"} queued to be sent again.`);
  box.replaceChildren(line);
  await load(false, true);
  if (answer.replay_id) progress(answer.replay_id, box, 30);
}

/** A replay's progress, read every second until nothing waits. */
async function progress(id, box, tries) {
  let r;
  try {
    r = await api("GET", `/v1/replays/${encodeURIComponent(id)}`);
  } catch (err) {
    box.append(h("p", { class: "muted small" }, `Progress unavailable (${describe(err)}); refresh the log to follow it.`));
    return;
  }
  const bar = h("progress", { max: r.total, value: r.delivered + r.failed, "aria-label": "Replay progress" });
  const left = r.waiting + r.retrying;
  const text = `${left ? "Replaying: " : "Replay done: "}${r.delivered} delivered, ${r.failed} failed${left ? `, ${left} still to go` : ""} of ${r.total}.`;
  const old = box.querySelector(".progress");
  const now = h("div", { class: "progress", role: "status" }, bar, " ", text);
  if (old) old.replaceWith(now);
  else box.append(now);
  if (r.waiting + r.retrying > 0 && tries > 1) setTimeout(() => progress(id, box, tries - 1), 1000);
  else load(false, true);
}
