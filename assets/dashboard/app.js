// The dashboard page: an app's counters and charts (refreshed every 5 s), its occupied
// channels with an inspector, a test publish, the live debug console, and the Apps section
// (create, change, disable, rotate and delete the registry's apps). Plain DOM, no framework;
// every value is put in with textContent, never as HTML.
// biome-ignore lint/suspicious/noRedundantUseStrict: a classic script (page.html loads it without type=module), where it is not redundant
"use strict";

const api = (path) => `/dashboard/api/apps/${encodeURIComponent(state.app)}${path}`;
const $ = (id) => document.getElementById(id);
// `target`: the app the open Apps panel (settings, rotation, deletion) acts on; `editing`: its
// settings as the settings form was filled from them. A secret is never kept here.
const state = { app: null, apps: [], socket: null, refresh: null, target: null, editing: null };
const MAX_LINES = 500;
const CHART_DAYS = 62;

async function getJson(url, options) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  if (response.status === 401) location.reload();
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

function number(n) {
  return Number(n || 0).toLocaleString("en-US");
}

async function start() {
  const select = $("app-select");
  select.addEventListener("change", () => choose(select.value));
  $("console-toggle").addEventListener("click", () => (state.socket ? stopConsole() : startConsole()));
  $("console-clear").addEventListener("click", () => $("console-lines").replaceChildren());
  $("console-filter").addEventListener("input", applyFilter);
  $("channels-refresh").addEventListener("click", loadChannels);
  $("publish-form").addEventListener("submit", publish);
  $("hooks").addEventListener("click", onHookTest);
  setUpApps();
  await loadApps();
}

/**
 * Lists the apps in the selector and in the Apps section (again after every change made
 * there); the chosen app stays chosen while it exists.
 */
async function loadApps() {
  const { apps } = await getJson("/dashboard/api/apps");
  state.apps = apps;
  $("app-select").replaceChildren(...apps.map(appOption));
  $("apps-rows").replaceChildren(...apps.map(appRow));
  if (state.target && !apps.some((a) => a.id === state.target)) closePanel();
  const chosen = apps.find((a) => a.id === state.app);
  if (chosen) {
    $("app-select").value = chosen.id;
    showSettings(chosen);
  } else if (apps.length) {
    choose(apps[0].id);
  } else {
    noApp();
  }
}

function appOption(app) {
  const option = document.createElement("option");
  option.value = app.id;
  option.textContent = `${app.id} (${app.key})${app.enabled ? "" : " – disabled"}`;
  return option;
}

function choose(appId) {
  stopConsole();
  $("console-lines").replaceChildren();
  $("inspector").hidden = true;
  state.app = appId;
  $("app-select").value = appId;
  showSettings(state.apps.find((a) => a.id === appId));
  state.inspected = null;
  clearInterval(state.refresh);
  refreshShown();
  state.refresh = setInterval(refreshShown, 5000);
}

/** The last app was deleted: nothing to watch. */
function noApp() {
  stopConsole();
  clearInterval(state.refresh);
  state.app = null;
  $("settings").textContent = "No apps: create one in the Apps section.";
}

function showSettings(app) {
  const flags = ["enable_client_messages", "enable_subscription_count", "enable_user_authentication"]
    .filter((f) => app[f])
    .map((f) => f.replace("enable_", ""));
  const hooks = app.webhooks.map((h) => h.host).join(", ") || "none";
  $("settings").textContent =
    `key ${app.key} · ${app.enabled ? "enabled" : "disabled"} · features: ${flags.join(", ") || "none"}` +
    ` · webhooks: ${hooks} · max connections ${app.limits.max_connections ?? "∞"}` +
    ` · max broadcasts/month ${app.limits.max_broadcasts_per_month ?? "∞"}` +
    ` · origins: ${app.allowed_origins.join(", ") || "any"}${app.require_origin ? " (Origin required)" : ""}` +
    ` · rate limits: ${app.rate_limit_tier}` +
    ` · data in: ${app.jurisdiction || "any jurisdiction"}${app.location_hint ? `, near ${app.location_hint}` : ""}`;
  showHooks(app);
}

/** The app's webhooks, each with its test button (their URLs by host, headers by name). */
function showHooks(app) {
  const rows = app.webhooks.map((hook, index) => {
    const row = document.createElement("tr");
    const filter = hook.filter || {};
    const channels =
      [
        filter.channel_name_starts_with && `${filter.channel_name_starts_with}…`,
        filter.channel_name_ends_with && `…${filter.channel_name_ends_with}`,
      ]
        .filter(Boolean)
        .join(" and ") || "all";
    const button = document.createElement("button");
    button.className = "plain";
    button.type = "button";
    button.dataset.hook = String(index);
    button.textContent = "Send test";
    row.append(
      cell(hook.host),
      cell(hook.event_types.join(", ") || "all"),
      cell(channels),
      cell((hook.header_names || []).join(", ") || "none"),
      cell(button),
    );
    return row;
  });
  if (!rows.length) rows.push(Object.assign(document.createElement("tr"), { textContent: "No webhooks." }));
  $("hooks").replaceChildren(...rows);
}

async function onHookTest(event) {
  const button = event.target.closest("button[data-hook]");
  if (!button) return;
  button.disabled = true;
  try {
    const answer = await getJson(api(`/webhooks/${button.dataset.hook}/test`), { method: "POST" });
    $("hook-test-result").textContent = answer.delivered
      ? `${answer.host} answered ${answer.status} in ${answer.latency_ms} ms`
      : `${answer.host} did not take it: ${answer.status || "no answer"} after ${answer.latency_ms} ms`;
    await loadHookLog();
  } catch (e) {
    $("hook-test-result").textContent = String(e);
  } finally {
    button.disabled = false;
  }
}

/** The delivery log, newest first. */
async function loadHookLog() {
  const { attempts } = await getJson(api("/webhook-log"));
  $("hook-log").replaceChildren(
    ...attempts.map((a) => {
      const row = document.createElement("tr");
      row.dataset.status = String(a.status);
      const events = a.events.join(", ") + (a.test ? " (test)" : "");
      row.append(
        cell(new Date(a.at).toLocaleTimeString()),
        cell(a.host),
        cell(events),
        cell(a.status || "no answer"),
        cell(`${a.latency_ms} ms`),
        cell(a.retries_left ?? "–"),
      );
      return row;
    }),
  );
}

/** A refresh that fails (the app was just deleted, the network is down) says so and waits for the next. */
function refreshShown() {
  refresh().catch((e) => {
    $("updated").textContent = String(e);
  });
}

/** Every 5 s: the cards and charts, the occupied channels, and the channel being inspected. */
async function refresh() {
  await loadStats();
  await loadChannels();
  await loadHookLog();
  if (state.inspected) await inspect(state.inspected);
}

async function loadStats() {
  const stats = await getJson(api("/stats"));
  const now = new Date();
  const today = stats.days[utcDay(now)] || {};
  const month = stats.months[utcDay(now).slice(0, 7)] || {};
  $("stat-connections").textContent = number(stats.connections);
  $("stat-channels").textContent = number(stats.occupied_channels);
  $("stat-broadcasts-today").textContent = number(today.broadcasts);
  $("stat-messages-today").textContent = number(today.messages_delivered);
  const quota = stats.max_broadcasts_per_month ? ` / ${number(stats.max_broadcasts_per_month)}` : "";
  $("stat-broadcasts-month").textContent = number(month.broadcasts) + quota;
  $("stat-messages-month").textContent = number(month.messages_delivered);
  const refused = $("stat-refused-today");
  const rateLimited = (today.connections_rate_limited || 0) + (today.rest_rate_limited || 0);
  refused.textContent = number(rateLimited + (today.origins_refused || 0));
  refused.title =
    `${number(today.connections_rate_limited)} connection attempts and ${number(today.rest_rate_limited)} REST calls ` +
    `rate-limited, ${number(today.origins_refused)} pages of other origins`;
  $("updated").textContent = `updated ${now.toLocaleTimeString()}`;
  for (const metric of ["broadcasts", "messages_delivered", "connections_opened", "peak_connections"]) {
    drawChart($(`chart-${metric}`), stats.days, metric, now);
  }
}

/** Bars for the last 62 UTC days, today last; each bar's title gives its day and value. */
function drawChart(svg, days, metric, now) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 310,
    height = 110,
    top = 12,
    bottom = 14;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const series = [];
  for (let i = CHART_DAYS - 1; i >= 0; i--) {
    const day = utcDay(new Date(now.getTime() - i * 86_400_000));
    series.push([day, days[day]?.[metric] || 0]);
  }
  const max = Math.max(1, ...series.map(([, v]) => v));
  const step = width / CHART_DAYS;
  const parts = [];
  series.forEach(([day, value], i) => {
    const h = value ? Math.max(1.5, (value / max) * (height - top - bottom)) : 0;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("class", i === CHART_DAYS - 1 ? "bar today" : "bar");
    bar.setAttribute("x", (i * step + 0.5).toFixed(1));
    bar.setAttribute("y", (height - bottom - h).toFixed(1));
    bar.setAttribute("width", Math.max(1, step - 1).toFixed(1));
    bar.setAttribute("height", h.toFixed(1));
    bar.dataset.day = day;
    bar.dataset.value = value;
    const title = document.createElementNS(ns, "title");
    title.textContent = `${day}: ${number(value)}`;
    bar.append(title);
    parts.push(bar);
  });
  const label = (x, y, text, anchor) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    t.setAttribute("text-anchor", anchor);
    t.textContent = text;
    return t;
  };
  parts.push(label(0, 9, `max ${number(max)}`, "start"));
  parts.push(label(0, height - 3, series[0][0].slice(5), "start"));
  parts.push(label(width, height - 3, "today", "end"));
  svg.replaceChildren(...parts);
}

/**
 * The occupied channels, the first 100 by name (from the ledger's index, with presence user
 * counts), refreshed with the cards; the card gives the total.
 */
async function loadChannels() {
  const body = $("channels");
  try {
    const { channels } = await getJson(api("/channel-list"));
    const names = Object.keys(channels).sort();
    const presence = Object.fromEntries(names.filter((n) => n.startsWith("presence-")).map((n) => [n, channels[n]]));
    const total = Number($("stat-channels").textContent.replace(/\D/g, "")) || names.length;
    $("channels-more").hidden = total <= names.length;
    $("channels-more").textContent = `The first ${names.length} of ${number(total)} occupied channels, by name.`;
    $("channels-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    body.replaceChildren(
      ...names.map((name) => {
        const row = document.createElement("tr");
        row.className = "channel";
        row.dataset.channel = name;
        const cell = document.createElement("td");
        cell.textContent = name;
        const users = document.createElement("td");
        users.textContent = presence[name] ? number(presence[name].user_count) : "";
        row.append(cell, users);
        row.addEventListener("click", () => inspect(name));
        return row;
      }),
    );
    if (!names.length) {
      const row = document.createElement("tr");
      row.innerHTML = '<td class="muted" colspan="2">No occupied channels</td>';
      body.replaceChildren(row);
    }
  } catch (e) {
    body.textContent = String(e);
  }
}

/** The channel's subscription count, presence members and cached event, as the REST API has them. */
async function inspect(name) {
  const presence = name.startsWith("presence-");
  const cache = /^(private-encrypted-cache-|private-cache-|presence-cache-|cache-)/.test(name);
  // Pusher gives presence channels a user_count, the others a subscription_count.
  const info = [presence ? "user_count" : "subscription_count", cache && "cache"].filter(Boolean).join(",");
  const path = `/channels/${encodeURIComponent(name)}`;
  const facts = [];
  try {
    const channel = await getJson(api(`${path}?info=${info}`));
    facts.push(["occupied", String(channel.occupied)]);
    if (!presence) facts.push(["subscriptions", number(channel.subscription_count)]);
    if (presence) {
      facts.push(["users", number(channel.user_count)]);
      const { users } = await getJson(api(`${path}/users`));
      facts.push(["members", users.map((u) => u.id).join(", ") || "none"]);
    }
    if (cache) {
      facts.push(["cached event", channel.cache ? `${channel.cache.data} (${channel.cache.ttl} s left)` : "none"]);
    }
  } catch (e) {
    facts.push(["error", String(e)]);
  }
  state.inspected = name;
  $("inspected").textContent = name;
  $("inspector-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  $("channel-info").replaceChildren(
    ...facts.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dd.dataset.fact = k;
      return [dt, dd];
    }),
  );
  $("inspector").hidden = false;
  $("publish-form").channel.value = name;
}

async function publish(event) {
  event.preventDefault();
  const form = event.target;
  const result = $("publish-result");
  try {
    await getJson(api("/events"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: form.event.value, channel: form.channel.value, data: form.data.value }),
    });
    result.textContent = `published ${form.event.value} to ${form.channel.value}`;
  } catch (e) {
    result.textContent = String(e);
  }
}

function startConsole() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${api("/console")}`);
  state.socket = socket;
  $("console-toggle").textContent = "Stop";
  $("console-state").textContent = "connecting";
  socket.addEventListener("message", (message) => {
    for (const line of JSON.parse(message.data)) show(line);
  });
  socket.addEventListener("open", () => {
    $("console-state").textContent = "live";
    $("console-state").className = "live";
    tellRooms(socket, 1000);
  });
  socket.addEventListener("close", () => {
    if (state.socket === socket) stopConsole();
  });
}

// Opening the console told the app's first 1,000 occupied rooms; the rest are told a page at a
// time, so that every room writes its lines while this console is open.
async function tellRooms(socket, from) {
  let next = from;
  while (next !== null && state.socket === socket) {
    try {
      ({ next } = await getJson(`${api("/console-rooms")}?from=${next}`, { method: "POST" }));
    } catch {
      return;
    }
  }
}

function stopConsole() {
  const socket = state.socket;
  state.socket = null;
  if (socket) socket.close(1000, "closed by the operator");
  $("console-toggle").textContent = "Start";
  $("console-state").textContent = "off";
  $("console-state").className = "";
}

function describe(line) {
  switch (line.kind) {
    case "connected":
    case "disconnected":
      return `socket ${line.socket_id}`;
    case "subscribed":
    case "unsubscribed":
      return `${line.channel} · socket ${line.socket_id}${line.user_id ? ` · user ${line.user_id}` : ""}`;
    case "api_message":
    case "client_event":
      return (
        `${line.channel} · ${line.event} · ${line.size} B${line.socket_id ? ` · from ${line.socket_id}` : ""}` +
        `${line.user_id ? ` (user ${line.user_id})` : ""}` +
        `${line.excluded_socket_id ? ` · excluding ${line.excluded_socket_id}` : ""} · ${line.data}${line.truncated ? "…" : ""}`
      );
    case "webhook_sent":
    case "webhook_failed":
      return `${line.host} · ${line.events.join(", ")}`;
    case "webhooks_given_up":
      return `${line.count} on ${line.channel}`;
    case "dropped":
      return `${line.count} lines dropped: the feed was too fast`;
    case "console_opened":
      return "watching this app";
    default:
      return JSON.stringify(line);
  }
}

function show(line) {
  const item = document.createElement("li");
  item.dataset.kind = line.kind;
  const time = document.createElement("span");
  time.textContent = new Date(line.at).toLocaleTimeString();
  const kind = document.createElement("span");
  kind.className = "kind";
  kind.textContent = line.kind;
  const text = document.createElement("span");
  text.textContent = describe(line);
  item.append(time, kind, text);
  filterOne(item, $("console-filter").value);
  const list = $("console-lines");
  list.prepend(item);
  while (list.children.length > MAX_LINES) list.lastChild.remove();
}

function filterOne(item, filter) {
  item.hidden = Boolean(filter) && !item.textContent.toLowerCase().includes(filter.toLowerCase());
}

function applyFilter() {
  const filter = $("console-filter").value;
  for (const item of $("console-lines").children) filterOne(item, filter);
}

// The Apps section: the registry's apps created, changed, disabled or enabled, rotated and
// deleted through the operators' API (the dashboard's copy of /admin, with the session
// cookie). Apps of the environment (PUSHER_APPS) are read-only there (403), so they get no
// controls.

const ADMIN_APPS = "/dashboard/api/admin/apps";
const adminApp = (id, path = "") => `${ADMIN_APPS}/${encodeURIComponent(id)}${path}`;
/** The settings the forms set; each input's name is the setting's. */
const SWITCHES = ["enable_client_messages", "enable_subscription_count", "enable_user_authentication"];
const LIMITS = ["max_connections", "max_client_events_per_second", "max_event_payload_bytes"];
/** When a changed setting takes effect, by the `applies` of the API's answer. */
const APPLIES = {
  live: "at once, for connected clients too",
  new_connections: "for new connections (connected clients keep the old value until they reconnect)",
  reconnect: "once clients reconnect (it lays out the app's connection shards or rooms)",
};
const PANELS = ["app-editor", "app-rotate", "app-delete"];

function setUpApps() {
  $("apps-rows").addEventListener("click", onRowAction);
  $("app-create-form").addEventListener("submit", createApp);
  $("app-edit-form").addEventListener("submit", saveSettings);
  $("rotate-form").addEventListener("submit", rotateSecret);
  $("delete-form").addEventListener("submit", deleteApp);
  $("delete-confirm").addEventListener("input", () => {
    $("delete-submit").disabled = $("delete-confirm").value !== state.target;
  });
  for (const button of document.querySelectorAll("#apps button.cancel")) button.addEventListener("click", closePanel);
  for (const button of document.querySelectorAll("#secret-panel button[data-copy]")) {
    button.addEventListener("click", () => copyShown(button.dataset.copy));
  }
  $("secret-close").addEventListener("click", closeSecret);
}

function appRow(app) {
  const row = document.createElement("tr");
  row.dataset.appId = app.id;
  row.dataset.source = app.source;
  row.dataset.enabled = String(app.enabled);
  const key = document.createElement("code");
  key.textContent = app.key;
  row.append(cell(app.id), cell(key), cell(app.source), cell(appStatus(app)), actionsCell(app));
  return row;
}

function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

/** Enabled or not, and until when a rotated-out secret still works. */
function appStatus(app) {
  const now = Date.now() / 1000;
  const expiries = (app.previous_secrets ?? []).map((p) => p.expires_at).filter((t) => t > now);
  const status = app.enabled ? "enabled" : "disabled";
  if (!expiries.length) return status;
  return `${status} · old secret works until ${new Date(Math.max(...expiries) * 1000).toLocaleString()}`;
}

/** The row's buttons: none for an app the API may not change (anything not the registry's). */
function actionsCell(app) {
  if (app.source !== "registry") {
    const note = cell("read-only: set in PUSHER_APPS");
    note.className = "muted";
    return note;
  }
  const td = document.createElement("td");
  const actions = {
    edit: "Settings",
    toggle: app.enabled ? "Disable" : "Enable",
    rotate: "Rotate secret",
    delete: "Delete",
  };
  for (const [action, label] of Object.entries(actions)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "plain";
    button.dataset.action = action;
    button.textContent = label;
    td.append(button);
  }
  return td;
}

function onRowAction(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const id = button.closest("tr").dataset.appId;
  const actions = { edit: openEditor, toggle: toggleEnabled, rotate: openRotate, delete: openDelete };
  actions[button.dataset.action](id, button);
}

function say(text) {
  $("apps-status").textContent = text;
  $("apps-status").hidden = false;
}

function clearMessages() {
  for (const id of ["apps-status", "apps-error"]) {
    $(id).textContent = "";
    $(id).hidden = true;
  }
}

/**
 * Runs one change through the API: its button is off meanwhile (no double submit), and a
 * refusal shows the API's `error` text in the section.
 */
async function act(button, work) {
  clearMessages();
  button.disabled = true;
  try {
    await work();
  } catch (e) {
    $("apps-error").textContent = e.message;
    $("apps-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

function sendJson(method, url, body) {
  return getJson(url, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

/** The form's submit button (also when it was submitted with Enter). */
function submitter(event) {
  return event.submitter ?? event.target.querySelector("[type=submit]");
}

/** A number input's value; empty is `null`, which resets the limit to its default (or none). */
function limitValue(input) {
  return input.value === "" ? null : Number(input.value);
}

function openPanel(panelId, id) {
  closePanel();
  state.target = id;
  const panel = $(panelId);
  for (const label of panel.querySelectorAll(".target-id")) label.textContent = id;
  panel.hidden = false;
}

function closePanel() {
  for (const id of PANELS) $(id).hidden = true;
  state.target = null;
  state.editing = null;
}

/** The creation body: only what the operator gave; the API generates the rest. */
function creationBody(form) {
  const body = {};
  const id = form.elements.id.value.trim();
  if (id) body.id = id;
  for (const name of SWITCHES) if (form.elements[name].checked) body[name] = true;
  const limits = {};
  for (const name of LIMITS) {
    const value = limitValue(form.elements[name]);
    if (value !== null) limits[name] = value;
  }
  if (Object.keys(limits).length) body.limits = limits;
  return body;
}

async function createApp(event) {
  event.preventDefault();
  const form = event.target;
  await act(submitter(event), async () => {
    const { app } = await sendJson("POST", ADMIN_APPS, creationBody(form));
    form.reset();
    // Shown before anything else can fail: the API gives this secret once.
    showSecret(`App ${app.id} created`, app);
    say(`App ${app.id} created.`);
    await loadApps();
  });
}

/** The settings form, filled from the app as the API reads it now (the list may be older). */
async function openEditor(id, button) {
  await act(button, async () => {
    const { app } = await getJson(adminApp(id));
    const form = $("app-edit-form");
    for (const name of SWITCHES) form.elements[name].checked = app[name];
    for (const name of LIMITS) form.elements[name].value = app.limits[name] ?? "";
    form.elements.allowed_origins.value = app.allowed_origins.join("\n");
    form.elements.require_origin.checked = app.require_origin;
    form.elements.rate_limit_tier.value = app.rate_limit_tier;
    $("edit-changes").replaceChildren();
    openPanel("app-editor", id);
    state.editing = app;
  });
}

/** The merge patch of what the form changed, and nothing else. */
function settingsPatch(form, app) {
  const patch = {};
  for (const name of SWITCHES) {
    if (form.elements[name].checked !== app[name]) patch[name] = form.elements[name].checked;
  }
  const limits = {};
  for (const name of LIMITS) {
    const value = limitValue(form.elements[name]);
    if (value !== (app.limits[name] ?? null)) limits[name] = value;
  }
  if (Object.keys(limits).length) patch.limits = limits;
  const origins = originList(form.elements.allowed_origins.value);
  if (origins.join("\n") !== app.allowed_origins.join("\n")) patch.allowed_origins = origins;
  if (form.elements.require_origin.checked !== app.require_origin)
    patch.require_origin = form.elements.require_origin.checked;
  if (form.elements.rate_limit_tier.value !== app.rate_limit_tier)
    patch.rate_limit_tier = form.elements.rate_limit_tier.value;
  return patch;
}

/** The origins a textarea lists, one per line (blank lines and spaces dropped). */
function originList(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

async function saveSettings(event) {
  event.preventDefault();
  const app = state.editing;
  const patch = settingsPatch(event.target, app);
  if (!Object.keys(patch).length) {
    clearMessages();
    say(`Nothing to save: app ${app.id} already has these settings.`);
    return;
  }
  await act(submitter(event), async () => {
    const answer = await sendJson("PATCH", adminApp(app.id), patch);
    state.editing = answer.app;
    await loadApps();
    showChanges(answer.changes);
    say(`App ${app.id} saved.`);
  });
}

/** Each changed setting, with when it takes effect. */
function showChanges(changes) {
  const items = changes.map(({ setting, applies }) => {
    const item = document.createElement("li");
    item.dataset.setting = setting;
    item.dataset.applies = applies;
    item.textContent = `${setting}: applies ${APPLIES[applies] ?? applies}`;
    return item;
  });
  if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "Nothing changed." }));
  $("edit-changes").replaceChildren(...items);
}

async function toggleEnabled(id, button) {
  const enabled = !state.apps.find((a) => a.id === id).enabled;
  await act(button, async () => {
    await sendJson("PATCH", adminApp(id), { enabled });
    await loadApps();
    say(
      enabled
        ? `App ${id} enabled: its clients can connect again.`
        : `App ${id} disabled: its clients were disconnected (4003) and its REST calls are refused.`,
    );
  });
}

function openRotate(id) {
  clearMessages();
  $("rotate-hours").value = "24";
  openPanel("app-rotate", id);
  $("rotate-hours").focus();
}

async function rotateSecret(event) {
  event.preventDefault();
  const id = state.target;
  const seconds = Math.round(Number($("rotate-hours").value) * 3600);
  await act(submitter(event), async () => {
    const answer = await sendJson("POST", adminApp(id, "/rotate"), { previous_secret_expires_in_secs: seconds });
    closePanel();
    showSecret(`New secret of app ${id}`, answer.app, answer.previous_secret_expires_at);
    say(`The secret of app ${id} was rotated.`);
    await loadApps();
  });
}

function openDelete(id) {
  clearMessages();
  $("delete-confirm").value = "";
  $("delete-submit").disabled = true;
  openPanel("app-delete", id);
  $("delete-confirm").focus();
}

async function deleteApp(event) {
  event.preventDefault();
  const id = state.target;
  // The typed confirmation, checked here too: the button's state alone is the page's to change.
  if ($("delete-confirm").value !== id) return;
  await act(submitter(event), async () => {
    await getJson(adminApp(id), { method: "DELETE" });
    closePanel();
    await loadApps();
    say(`App ${id} deleted: its clients were disconnected, and its id and key are never reused.`);
  });
}

/**
 * Shows what the API gives once (at creation or rotation): the secret, with the app's id and
 * key and a ready `.env.local`. It lives in these elements only, never in storage or a URL,
 * and closing the panel empties them. `expiresAt`: the rotated-out secret's end (Unix
 * seconds; `null`: it already stopped; `undefined`: no rotation).
 */
function showSecret(title, app, expiresAt) {
  $("secret-title").textContent = title;
  $("secret-app-id").textContent = app.id;
  $("secret-app-key").textContent = app.key;
  $("secret-app-secret").textContent = app.secret;
  $("env-local").textContent = envLocal(app);
  showExpiry(expiresAt);
  $("copy-result").textContent = "";
  $("secret-panel").hidden = false;
  $("secret-panel").scrollIntoView({ block: "nearest" });
}

function showExpiry(expiresAt) {
  const line = $("secret-expiry");
  line.hidden = expiresAt === undefined;
  line.removeAttribute("data-expires-at");
  if (expiresAt === null) {
    line.textContent = "The previous secret stopped working at once.";
  } else if (expiresAt !== undefined) {
    const when = new Date(expiresAt * 1000);
    line.dataset.expiresAt = String(expiresAt);
    line.textContent =
      `The previous secret keeps working until ${when.toLocaleString()} (${when.toISOString()}): ` +
      "give the new one to every server that signs with the old one before then.";
  }
}

function closeSecret() {
  for (const id of ["secret-title", "secret-app-id", "secret-app-key", "secret-app-secret", "env-local"]) {
    $(id).textContent = "";
  }
  showExpiry(undefined);
  $("secret-expiry").textContent = "";
  $("copy-result").textContent = "";
  $("secret-panel").hidden = true;
}

/**
 * `.env.local` for the Next.js example, with its recipe's names (examples/nextjs/.env.example,
 * scripts/dev-setup.mjs), pointed at this Worker: the page's own host and port.
 */
function envLocal({ id, key, secret }) {
  const tls = location.protocol === "https:";
  const host = location.hostname;
  const port = location.port || (tls ? "443" : "80");
  // The recipe's TLS switches are only for a plain-http server such as `npm start`'s.
  const plainHttp = (line) => (tls ? [] : [line]);
  return [
    `# pusher-edge app ${id}`,
    `NEXT_PUBLIC_PUSHER_APP_KEY=${key}`,
    `NEXT_PUBLIC_PUSHER_HOST=${host}`,
    `NEXT_PUBLIC_PUSHER_PORT=${port}`,
    ...plainHttp("NEXT_PUBLIC_PUSHER_FORCE_TLS=false"),
    "NEXT_PUBLIC_PUSHER_APP_CLUSTER=mt1",
    `PUSHER_APP_ID=${id}`,
    `PUSHER_APP_KEY=${key}`,
    `PUSHER_APP_SECRET=${secret}`,
    `PUSHER_HOST=${host}`,
    ...(tls && port === "443" ? [] : [`PUSHER_PORT=${port}`]),
    ...plainHttp("PUSHER_USE_TLS=false"),
    "",
  ].join("\n");
}

/**
 * Copies a shown value. The clipboard needs a secure context (https, or localhost); without
 * it the value is selected for the operator to copy.
 */
async function copyShown(sourceId) {
  const source = $(sourceId);
  try {
    await navigator.clipboard.writeText(source.textContent);
    $("copy-result").textContent = `Copied the ${source.dataset.label}.`;
  } catch {
    window.getSelection().selectAllChildren(source);
    $("copy-result").textContent = "The clipboard is not available here: the text is selected, copy it with Ctrl+C.";
  }
}

start().catch((e) => {
  document.body.prepend(Object.assign(document.createElement("p"), { textContent: `Dashboard failed: ${e}` }));
});
