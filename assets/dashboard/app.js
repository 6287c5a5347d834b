// The dashboard page: an app's counters and charts (refreshed every 5 s), its occupied
// channels with an inspector, a test publish, and the live debug console. Plain DOM, no
// framework; every value is put in with textContent, never as HTML.
// biome-ignore lint/suspicious/noRedundantUseStrict: a classic script (page.html loads it without type=module), where it is not redundant
"use strict";

const api = (path) => `/dashboard/api/apps/${encodeURIComponent(state.app)}${path}`;
const $ = (id) => document.getElementById(id);
const state = { app: null, apps: [], socket: null, refresh: null };
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
  const { apps } = await getJson("/dashboard/api/apps");
  state.apps = apps;
  const select = $("app-select");
  for (const app of apps) {
    const option = document.createElement("option");
    option.value = app.id;
    option.textContent = `${app.id} (${app.key})${app.enabled ? "" : " – disabled"}`;
    select.append(option);
  }
  select.addEventListener("change", () => choose(select.value));
  $("console-toggle").addEventListener("click", () => (state.socket ? stopConsole() : startConsole()));
  $("console-clear").addEventListener("click", () => $("console-lines").replaceChildren());
  $("console-filter").addEventListener("input", applyFilter);
  $("channels-refresh").addEventListener("click", loadChannels);
  $("publish-form").addEventListener("submit", publish);
  if (apps.length) choose(apps[0].id);
}

function choose(appId) {
  stopConsole();
  $("console-lines").replaceChildren();
  $("inspector").hidden = true;
  state.app = appId;
  const app = state.apps.find((a) => a.id === appId);
  const flags = ["enable_client_messages", "enable_subscription_count", "enable_user_authentication"]
    .filter((f) => app[f])
    .map((f) => f.replace("enable_", ""));
  const hooks = app.webhooks.map((h) => h.host).join(", ") || "none";
  $("settings").textContent =
    `key ${app.key} · ${app.enabled ? "enabled" : "disabled"} · features: ${flags.join(", ") || "none"}` +
    ` · webhooks: ${hooks} · max connections ${app.limits.max_connections ?? "∞"}` +
    ` · max broadcasts/month ${app.limits.max_broadcasts_per_month ?? "∞"}`;
  state.inspected = null;
  clearInterval(state.refresh);
  refresh();
  state.refresh = setInterval(refresh, 5000);
}

/** Every 5 s: the cards and charts, the occupied channels, and the channel being inspected. */
async function refresh() {
  await loadStats();
  await loadChannels();
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
  });
  socket.addEventListener("close", () => {
    if (state.socket === socket) stopConsole();
  });
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

start().catch((e) => {
  document.body.prepend(Object.assign(document.createElement("p"), { textContent: `Dashboard failed: ${e}` }));
});
