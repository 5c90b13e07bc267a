// The desk console: log in, then the view of the person's role, kept live by server-sent events.
import { WORDS, defaultLanguage, matchReasons } from "./i18n.js";
import { refreshFleet } from "./fleet.js";
import { refreshCases } from "./cases.js";
import { refreshPursuits } from "./pursuit.js";

const API = "/api/v1/desk";
const LINE_COLOURS = ["#e4002b", "#97d700", "#ffd100", "#5f259f", "#ac4fc6", "#d71671", "#ff6900",
  "#009eda", "#78c7eb", "#c1a7e2", "#76232f", "#007b5f", "#ef95cf", "#2cd5c4", "#c0c0c0", "#32d2ca",
  "#98c8ea"];
const state = { lang: localStorage.getItem("desk-lang") || defaultLanguage(), me: null, events: null,
  drawing: null, polygons: [], point: null, picking: false, refreshing: null };
window.desk = state;  // for the browser tests and the curious
// The police queue's page state: note drafts per alert, what was seen (for the cue), the
// station filter, and acknowledgements kept while the session had ended.
Object.assign(state, { notes: {}, seen: null, cues: 0, beeps: 0, unseen: 0, stationFilter: "",
  muted: localStorage.getItem("desk-muted") === "1", mapEntered: false, sessionEnded: false });

function t(key) { return (WORDS[state.lang] || WORDS.en)[key] || key; }
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
// A time in the browser's zone, with the zone named (e.g. "14:03:07 GMT+8").
function time(iso) {
  return iso ? new Date(iso).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" }) : "—";
}

class SessionEnded extends Error {}

async function api(path, options = {}) {
  const response = await fetch(API + path, { credentials: "same-origin",
    headers: options.body ? { "Content-Type": "application/json" } : {}, ...options });
  if (response.status === 401 && path !== "/login") { sessionEnded(); throw new SessionEnded("401"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) { throw new Error(body && body.detail ? body.detail : String(response.status)); }
  return body;
}

function translate() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  document.getElementById("map").setAttribute("aria-label", t("map_label"));
}

// ------------------------------------------------------------------ map
const map = L.map("map", { zoomControl: true, preferCanvas: false }).setView([31.23, 121.47], 11);
const layers = {
  metro: L.layerGroup().addTo(map), cases: L.layerGroup().addTo(map),
  incidents: L.layerGroup().addTo(map), sightings: L.layerGroup().addTo(map),
  alerts: L.layerGroup().addTo(map), devices: L.layerGroup().addTo(map),
  volunteers: L.layerGroup().addTo(map), pursuits: L.layerGroup().addTo(map), drawing: L.layerGroup().addTo(map),
};
state.layers = layers;
state.map = map;

async function baseMap() {
  const config = await (await fetch(API + "/public/config")).json();
  if (config.tile_url) L.tileLayer(config.tile_url, { attribution: config.tile_attribution }).addTo(map);
  const metro = await (await fetch(API + "/public/metro.geojson")).json();
  L.geoJSON(metro, {
    filter: (f) => f.properties.kind === "route",
    style: (f) => ({ color: LINE_COLOURS[(f.properties.line - 1) % LINE_COLOURS.length], weight: 3, opacity: .7 }),
  }).addTo(layers.metro);
  L.geoJSON(metro, {
    filter: (f) => f.properties.kind === "station",
    pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 3, color: "#334", weight: 1, fillColor: "#fff", fillOpacity: 1, className: "metro-station" })
      .bindTooltip(`${f.properties.name} (${f.id})`),
  }).addTo(layers.metro);
}

function setGeoJSON(group, collection, options) { group.clearLayers(); L.geoJSON(collection, options).addTo(group); }

// ------------------------------------------------------------------ police
// The duty desk's dispatch queue: one item per incident, its state as the server computed it
// (backend/desk/states.py), the reports' notes, exits and photos, the matched cases once each,
// acknowledgement with a note, the CAP document in a viewer, and a cue on what is new.
const STATE_ICONS = { new: "●", escalating: "▲", acknowledged: "✓", expired: "⌛", closed: "■" };
const LEVEL_KEYS = ["level_assigned", "level_nearby", "level_desk"];
const STATE_COLOURS = { new: "#b3261e", escalating: "#b35c00", acknowledged: "#1b6e3a", expired: "#5c6370", closed: "#3d4450" };

function bearingText(deg) { return deg === null || deg === undefined ? "" : `${t("direction")} ${Math.round(deg)}°`; }
function reportersText(n) { return `${n} ${t(n === 1 ? "reporter_one" : "reporter_other")}`; }
function reportsText(n) { return `${n} ${t(n === 1 ? "report_one" : "report_other")}`; }
function responseWord(decision) { return decision ? t(`response_${decision}`) : ""; }

function stateText(st) {
  const by = st.by || (st.by_kind === "volunteer" ? t("a_volunteer") : "");
  switch (st.code) {
    case "escalating":
      return `${t("state_escalating")} · ${t("level")} ${st.level}: ${t(LEVEL_KEYS[st.level] || "level_desk")}` +
        (st.due_at ? ` · ${t("next_level_at")} ${time(st.due_at)}` : "");
    case "acknowledged":
    case "closed":
      return `${t(`state_${st.code}`)} · ${responseWord(st.decision)} · ${t("by")} ${by} · ${time(st.at)}` +
        (st.note ? ` · “${st.note}”` : "");
    case "expired":
      return `${t("state_expired")} · ${time(st.at)}`;
    default:
      return t("state_new");
  }
}

export function stateBadge(st) {
  return el("span", { class: `state state-${st.code}`, "data-state": st.code, "data-level": st.level ?? "",
    "data-by": st.by ?? "", "data-at": st.at ?? "" },
  el("span", { class: "state-icon", "aria-hidden": "true" }, STATE_ICONS[st.code] || "?"), " ", stateText(st));
}

function focusKey(node, key) { node.dataset.focusKey = key; return node; }

async function acknowledge(alert, decision) {
  const note = (state.notes[alert.alert_id] || "").trim();
  const item = document.querySelector(`#queue li[data-incident-id='${alert.incident_id}']`);
  state.focusAfter = { index: [...document.querySelectorAll("#queue > li.incident")].indexOf(item) };
  const action = { alert_id: alert.alert_id, decision, note: note || null };
  try {
    await sendAck(action);
    delete state.notes[alert.alert_id];
  } catch (err) {
    if (err instanceof SessionEnded) { keepAction(action); return; }
    status(`${t("error")}: ${err.message}`, "error");
  }
  await refresh();
}

function sendAck(action) {
  return api(`/alerts/${action.alert_id}/acknowledge`, { method: "POST",
    body: JSON.stringify(action.note ? { decision: action.decision, note: action.note } : { decision: action.decision }) });
}

function ackControls(alert) {
  const note = focusKey(el("input", { class: "ack-note", type: "text", maxlength: "500", "data-alert-id": alert.alert_id,
    "aria-label": t("ack_note"), placeholder: t("ack_note"),
    oninput: (e) => { state.notes[alert.alert_id] = e.target.value; } }), `${alert.alert_id}:note`);
  note.value = state.notes[alert.alert_id] || "";
  const box = el("div", { class: "acks" }, note);
  for (const decision of ["dispatched", "no_action", "false_report"]) {
    box.append(focusKey(el("button", { type: "button", class: `ack ${decision}`, "data-decision": decision,
      "data-alert-id": alert.alert_id, onclick: () => acknowledge(alert, decision) }, t(decision)),
    `${alert.alert_id}:${decision}`));
  }
  return box;
}

function photoButton(report) {
  const src = `${API}/sightings/${report.report_id}/photo`;
  return focusKey(el("button", { type: "button", class: "thumb", "aria-label": `${t("photo")} ${time(report.observed_at)}`,
    onclick: (e) => openViewer(e.currentTarget, t("photo"), el("img", { src, alt: `${t("photo")} ${time(report.observed_at)}`, class: "photo-large" })) },
  el("img", { src, alt: "", class: "photo-thumb", loading: "lazy" })), `${report.report_id}:photo`);
}

function reportLine(r) {
  const where = [r.metro_station_name || r.metro_station_id, r.direction].filter(Boolean).join(" · ");
  return el("li", { class: "report", "data-report-id": r.report_id },
    `${time(r.observed_at)}${where ? " · " + where : ""}`, r.note ? el("q", { class: "report-note" }, r.note) : "",
    ...(r.addenda || []).filter((a) => a.note).map((a) => el("div", { class: "addendum", "data-addendum-id": a.addendum_id },
      `${t("added_later")} ${time(a.received_at)}: `, el("q", { class: "addendum-note" }, a.note))));
}

// A photo a reporter added after sending (backend/desk/help.py serves it).
function addendumPhotoButton(a) {
  const src = `${API}/addenda/${a.addendum_id}/photo`;
  return focusKey(el("button", { type: "button", class: "thumb addendum-photo", "aria-label": `${t("photo")} ${t("added_later")} ${time(a.received_at)}`,
    onclick: (e) => openViewer(e.currentTarget, t("photo"), el("img", { src, alt: `${t("photo")} ${time(a.received_at)}`, class: "photo-large" })) },
  el("img", { src, alt: "", class: "photo-thumb", loading: "lazy" })), `${a.addendum_id}:photo`);
}

// A kiosk's "call staff" at one of this desk's stations: first in the queue until taken.
function helpItem(h) {
  const open = !h.acknowledged_at;
  const item = el("li", { class: `item help-request${open ? " open" : ""}`, "data-request-id": h.request_id },
    el("div", { class: "item-head" }, el("strong", {}, t("help_request")), " · ",
      `${h.metro_station_name || h.metro_station_id || h.device_id} (${h.device_id}) · ${time(h.received_at)}`));
  if (open) {
    item.append(focusKey(el("button", { type: "button", class: "ack help-ack", "data-request-id": h.request_id,
      onclick: () => acknowledgeHelp(h) }, t("help_ack")), `${h.request_id}:help-ack`));
  } else {
    item.append(el("div", { class: "meta ack-record" }, `${t("help_acknowledged")} ${h.acknowledged_by} ${time(h.acknowledged_at)}`));
  }
  return item;
}

async function acknowledgeHelp(h) {
  try {
    await api(`/help-requests/${encodeURIComponent(h.request_id)}/acknowledge`, { method: "POST" });
  } catch (err) {
    status(`${t("error")}: ${err.message}`, "error");
  }
  await refresh();
}

function incidentItem(inc, alerts) {
  const place = [inc.metro_station_name || inc.metro_station_id || t("unknown_place"),
    inc.reports.find((r) => r.direction)?.direction].filter(Boolean).join(" · ");
  const open = alerts.filter((a) => !a.response);
  const item = el("li", { class: `item incident state-${inc.state.code}${inc.cases.length ? " matched" : ""}`,
    "data-incident-id": inc.incident_id, "data-state": inc.state.code, "data-station-id": inc.police_station_id ?? "" },
  el("div", { class: "item-head" },
    focusKey(el("button", { type: "button", class: "locate", title: t("show_on_map"),
      onclick: () => flyTo(inc) }, place), `${inc.incident_id}:locate`),
    stateBadge(inc.state)),
  el("div", { class: "meta" }, `${reportersText(inc.confidence)}, ${reportsText(inc.report_count)} · ` +
    `${inc.police_station_name || inc.police_station_id || ""} · ${time(inc.last_at)}` +
    (inc.bearing_deg !== null ? ` · ${bearingText(inc.bearing_deg)}` : "")));
  for (const a of open) item.append(ackControls(a));
  for (const c of inc.cases.slice(0, 3)) {
    item.append(el("div", { class: "match", "data-case-id": c.case_id },
      `${t("matched")}: `, el("strong", {}, c.title || c.case_id), ` (${c.case_id}, ${c.score.toFixed(2)}) — ${t("why")}: ${matchReasons(c, state.lang).join("; ")}`));
  }
  const noted = inc.reports.filter((r) => r.note || r.direction || (r.addenda || []).some((a) => a.note));
  if (noted.length) item.append(el("ul", { class: "reports" }, ...noted.slice(0, 5).map(reportLine)));
  const photos = inc.reports.filter((r) => r.has_photo).slice(0, 4);
  const added = inc.reports.flatMap((r) => (r.addenda || []).filter((a) => a.has_photo)).slice(0, 4);
  if (photos.length || added.length) item.append(el("div", { class: "photos" }, ...photos.map(photoButton), ...added.map(addendumPhotoButton)));
  for (const a of alerts) {
    item.append(el("div", { class: "alert meta", "data-alert-id": a.alert_id, "data-kind": a.kind },
      `${t("alert")}: ${t(a.kind)} r${a.revision} · ${time(a.created_at)} `,
      focusKey(el("button", { type: "button", class: "cap-view", "data-alert-id": a.alert_id,
        onclick: (e) => showCap(e.currentTarget, a) }, t("cap")), `${a.alert_id}:cap`)));
  }
  for (const ack of inc.acknowledgements) {
    item.append(el("div", { class: "meta ack-record" },
      `${t(ack.decision)} — ${t("acknowledged_by")} ${ack.username} ${time(ack.at)}${ack.note ? ` · “${ack.note}”` : ""}`));
  }
  return item;
}

function flyTo(inc) {
  if (!state.homeView) state.homeView = { center: map.getCenter(), zoom: map.getZoom() };
  map.flyTo([inc.lat, inc.lon], 16, { duration: 0.6 });
  selectIncident(inc.incident_id, false);
  document.getElementById("map-back").hidden = false;
}

function mapBack() {
  if (state.homeView) map.flyTo(state.homeView.center, state.homeView.zoom, { duration: 0.6 });
  state.homeView = null;
  document.getElementById("map-back").hidden = true;
  const selected = document.querySelector("#queue li.selected button.locate");
  if (selected) selected.focus();
}

function selectIncident(incidentId, focus) {
  state.selected = incidentId;
  for (const li of document.querySelectorAll("#queue li.incident")) li.classList.toggle("selected", li.dataset.incidentId === incidentId);
  const item = document.querySelector(`#queue li[data-incident-id='${incidentId}']`);
  if (item) {
    item.scrollIntoView({ block: "nearest" });
    if (focus) item.querySelector("button.locate").focus();
  }
}

// A dialog for a photo or a CAP document; focus goes back to what opened it.
function openViewer(opener, title, ...content) {
  let dialog = document.getElementById("viewer");
  if (!dialog) {
    dialog = el("dialog", { id: "viewer", "aria-labelledby": "viewer-title" });
    document.body.append(dialog);
    dialog.addEventListener("close", () => { if (state.viewerOpener) state.viewerOpener.focus(); });
  }
  state.viewerOpener = opener;
  dialog.replaceChildren(el("div", { class: "viewer-head" }, el("h2", { id: "viewer-title" }, title),
    el("button", { type: "button", class: "viewer-close", onclick: () => dialog.close() }, t("close"))), ...content);
  dialog.showModal();
}

async function showCap(opener, alert) {
  const url = `${API}/alerts/${alert.alert_id}/cap`;
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401) { sessionEnded(); return; }
  const xml = await response.text();
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const pick = (name) => [...doc.getElementsByTagNameNS("*", name)].map((n) => n.textContent).join("; ");
  const fields = ["identifier", "sender", "sent", "status", "msgType", "scope", "event", "urgency", "severity",
    "certainty", "headline", "description", "areaDesc", "circle"];
  openViewer(opener, `${t("cap")} · ${alert.alert_id.slice(0, 8)}`,
    el("dl", { class: "cap-fields" }, ...fields.flatMap((f) => pick(f) ? [el("dt", {}, f), el("dd", {}, pick(f))] : [])),
    el("details", {}, el("summary", {}, t("cap_xml")), el("pre", { class: "cap-xml" }, xml)),
    el("p", {}, el("a", { href: url, download: `alert-${alert.alert_id}.cap.xml` }, t("cap_download"))));
}

// A cue (tone and title) when an incident is new to this page or escalated further.
function cue(incidents) {
  const seen = state.seen;
  state.seen = Object.fromEntries(incidents.map((i) => [i.incident_id, i.state.level ?? -1]));
  if (seen === null) return;
  const fresh = incidents.filter((i) => !(i.incident_id in seen) ||
    (i.state.code === "escalating" && (i.state.level ?? -1) > seen[i.incident_id]));
  if (!fresh.length) return;
  state.cues += 1;
  state.unseen += fresh.length;
  for (const i of fresh) document.querySelector(`#queue li[data-incident-id='${i.incident_id}']`)?.classList.add("fresh");
  document.title = `(${state.unseen}) ${t("title")}`;
  if (!state.muted) beep();
}

function beep() {
  try {
    state.audio ||= new AudioContext();
    const ctx = state.audio;
    for (const [start, freq] of [[0, 880], [0.2, 660]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, ctx.currentTime + start);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + start + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + start);
      osc.stop(ctx.currentTime + start + 0.2);
    }
    state.beeps += 1;
  } catch (err) { console.warn("no sound", err); }
}

function seenAll() { if (state.unseen) { state.unseen = 0; document.title = t("title"); } }

function setMuted(muted) {
  state.muted = muted;
  localStorage.setItem("desk-muted", muted ? "1" : "0");
  const button = document.getElementById("mute");
  button.setAttribute("aria-pressed", String(muted));
  button.textContent = muted ? t("sound_off") : t("sound_on");
}

async function loadStations() {
  const stations = await api("/stations");
  const select = document.getElementById("station-filter");
  select.replaceChildren(el("option", { value: "" }, t("all_stations")),
    ...stations.map((s) => el("option", { value: s.station_id }, `${s.name} (${s.station_id})`)));
  select.value = state.stationFilter;
  document.getElementById("station-filter-box").hidden = stations.length < 2;
  if (state.me) document.getElementById("who").textContent = `${state.me.username} · ${t("stations")}: ${stations.map((s) => s.name).join(", ")}`;
}

async function refreshPolice() {
  const q = state.stationFilter ? `?station_id=${encodeURIComponent(state.stationFilter)}` : "";
  const [incidents, alerts, sightings, helps] = await Promise.all([api(`/incidents${q}`), api(`/alerts${q}`), api(`/layers/sightings${q}`), api("/help-requests")]);
  const alertsByIncident = {};
  for (const a of alerts) (alertsByIncident[a.incident_id] ||= []).push(a);
  const queue = document.getElementById("queue");
  const active = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focusKey : null;
  const calls = helps.filter((h) => !state.stationFilter || h.station_id === state.stationFilter).map(helpItem);
  queue.replaceChildren(...calls, ...(incidents.length ? incidents.map((inc) => incidentItem(inc, alertsByIncident[inc.incident_id] || []))
    : (calls.length ? [] : [el("li", { class: "empty" }, t("no_items"))])));
  if (state.selected) selectIncident(state.selected, false);
  if (state.focusAfter) {
    const items = [...queue.querySelectorAll(":scope > li.incident")];
    const next = items[Math.min(state.focusAfter.index + 1, items.length - 1)];
    state.focusAfter = null;
    if (next) (next.querySelector("button.ack.dispatched") || next.querySelector("button.locate")).focus();
  } else if (active) {
    queue.querySelector(`[data-focus-key='${active}']`)?.focus();
  }
  cue(incidents);
  setGeoJSON(layers.sightings, sightings, { pointToLayer: (f, ll) => L.circleMarker(ll, {
    radius: 6, color: f.properties.matches.length ? "#b3261e" : "#1d3557", fillOpacity: .8, className: "sighting-marker" })
    .bindTooltip(`${time(f.properties.observed_at)} ${f.properties.metro_station_id || ""}`)
    .on("click", () => { if (f.properties.incident_id) selectIncident(f.properties.incident_id, true); }) });
  layers.incidents.clearLayers();
  for (const inc of incidents) {
    if (inc.trail.length > 1) L.polyline(inc.trail.map((p) => [p.lat, p.lon]), { color: "#e76f51", className: "trail" }).addTo(layers.incidents);
    L.circleMarker([inc.lat, inc.lon], { radius: 12, weight: 3, color: STATE_COLOURS[inc.state.code] || "#1d3557", fill: false,
      className: `incident-marker state-${inc.state.code}` })
      .bindTooltip(`${inc.metro_station_name || ""} · ${stateText(inc.state)}`)
      .on("click", () => selectIncident(inc.incident_id, true)).addTo(layers.incidents);
  }
  layers.alerts.clearLayers();
}

// ------------------------------------------------------------------ coordinator
// The coordinator's cases (file, edit, kiosk preview, photo, import) are cases.js.
async function refreshCoordinator() {
  return refreshCases({ api, el, t, time, layers, state, map, refresh, stateBadge, reportersText, matchReasons });
}

// ------------------------------------------------------------------ operator
// The fleet view is fleet.js; it uses the page's helpers and map layers.
async function refreshOperator() { return refreshFleet({ api, el, t, time, layers, state }); }

// ------------------------------------------------------------------ wiring
async function refresh() {
  if (!state.me) return;
  if (state.refreshing) { state.again = true; return state.refreshing; }
  const role = state.me.role;
  const pursuits = () => (role === "operator" ? null : refreshPursuits({ api, t, time, layers }));
  state.refreshing = (role === "police" ? refreshPolice() : role === "coordinator" ? refreshCoordinator() : refreshOperator())
    .then(pursuits)
    .catch((err) => console.error(err))
    .finally(() => { state.refreshing = null; state.refreshed = (state.refreshed || 0) + 1; if (state.again) { state.again = false; refresh(); } });
  return state.refreshing;
}

function listen() {
  if (state.events) state.events.close();
  const stream = document.getElementById("stream");
  state.events = new EventSource(API + "/events");
  state.events.addEventListener("change", () => { stream.textContent = `● ${t("live")}`; refresh(); });
  // The server ends the stream when the session ends (expired, logged out elsewhere).
  state.events.addEventListener("ended", () => sessionEnded());
  state.events.onerror = () => {
    stream.textContent = t("offline_stream");
    // Closed for good (e.g. 401 on reconnecting): find out whether the session is still there.
    if (state.events && state.events.readyState === EventSource.CLOSED) {
      fetch(API + "/me", { credentials: "same-origin" }).then((r) => { if (r.status === 401) sessionEnded(); });
    }
  };
}

function status(text, kind = "ok") {
  const box = document.getElementById("desk-status");
  box.textContent = text;
  box.className = kind;
}

// Everything a person typed or saw goes when they log out: fields, lists, map data.
function clearEverything() {
  for (const form of document.forms) form.reset();
  for (const input of document.querySelectorAll("input, textarea")) if (input.type !== "hidden" && input.type !== "submit") input.value = "";
  for (const id of ["queue", "case-list", "case-detail", "fleet", "dead-letters"]) document.getElementById(id)?.replaceChildren();
  for (const [name, group] of Object.entries(layers)) if (name !== "metro") group.clearLayers();
  Object.assign(state, { notes: {}, seen: null, unseen: 0, selected: null, stationFilter: "", homeView: null,
    polygons: [], point: null, drawing: null });
  document.getElementById("viewer")?.close();
  document.title = t("title");
}

function showLogin({ ended = false } = {}) {
  state.me = null;
  if (state.events) { state.events.close(); state.events = null; }
  document.getElementById("stream").textContent = "";
  document.getElementById("login-page").hidden = false;
  document.getElementById("work-page").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const pending = keptActions();
  const note = document.getElementById("login-note");
  note.textContent = ended ? t("session_ended") + (pending.actions.length ? " " + t("kept_actions").replace("{n}", pending.actions.length) : "") : "";
  document.getElementById(ended ? "password" : "username").focus();
}

// The session ended under an open page: say so, keep what was being done, log in again.
function sessionEnded() {
  if (!state.me) return;
  state.sessionEnded = true;
  const username = state.lastUser = state.me.username;
  showLogin({ ended: true });
  document.getElementById("username").value = username;
  document.getElementById("password").focus();
}

function keptActions() {
  try { return JSON.parse(sessionStorage.getItem("desk-pending")) || { username: null, actions: [] }; }
  catch { return { username: null, actions: [] }; }
}

function keepAction(action) {
  const kept = keptActions();
  const username = state.me ? state.me.username : state.lastUser;
  const actions = kept.username === username ? kept.actions : [];
  actions.push(action);
  sessionStorage.setItem("desk-pending", JSON.stringify({ username, actions }));
  if (state.me) sessionEnded();
  else showLogin({ ended: true });
}

// After logging in again as the same person: send what was kept, oldest first.
async function sendKept(me) {
  const kept = keptActions();
  if (!kept.actions.length) return;
  sessionStorage.removeItem("desk-pending");
  if (kept.username !== me.username) return;  // another person's decisions are not sent under this name
  let sent = 0;
  for (const action of kept.actions) {
    try { await sendAck(action); sent += 1; }
    catch (err) { status(`${t("error")}: ${err.message}`, "error"); }
  }
  if (sent) status(t("kept_sent").replace("{n}", sent));
  await refresh();
}

async function showWork(me) {
  state.me = me;
  state.sessionEnded = false;
  document.getElementById("login-note").textContent = "";
  document.getElementById("password").value = "";  // the password is not kept in the page
  document.getElementById("login-page").hidden = true;
  document.getElementById("work-page").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = `${me.username} · ${t(me.role)}${me.station_ids.length ? " · " + t("stations") + ": " + me.station_ids.join(", ") : ""}`;
  for (const role of ["police", "coordinator", "operator"]) document.getElementById(`${role}-view`).hidden = role !== me.role;
  map.invalidateSize();
  if (me.role === "police") { setMuted(state.muted); await loadStations().catch((err) => console.error(err)); }
  await refresh();
  listen();
  await sendKept(me);
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    const me = await api("/login", { method: "POST", body: JSON.stringify({
      username: document.getElementById("username").value, password: document.getElementById("password").value }) });
    await showWork(me);
  } catch (err) { error.textContent = t("login_failed"); }
});
document.getElementById("logout").onclick = async () => {
  await api("/logout", { method: "POST" }).catch(() => {});
  sessionStorage.removeItem("desk-pending");
  clearEverything();
  showLogin();
};
document.getElementById("mute").onclick = () => setMuted(!state.muted);
document.getElementById("map-back").onclick = mapBack;
document.getElementById("station-filter").onchange = (e) => { state.stationFilter = e.target.value; state.seen = null; refresh(); };
document.getElementById("queue").addEventListener("click", seenAll);
document.getElementById("queue").addEventListener("keydown", seenAll);
document.getElementById("skip-link").addEventListener("click", (e) => {
  e.preventDefault();
  const first = document.querySelector("#queue button.ack.dispatched, #queue button.locate, #case-list a, #fleet a");
  (first || document.getElementById("panel")).focus();
});

// The map is one tab stop: Enter goes into it (its markers and controls become tab stops),
// Escape leaves it. Otherwise its hundreds of station circles would each take a Tab press.
const mapBox = document.getElementById("map");
function mapTabStops() {
  for (const node of mapBox.querySelectorAll("a, button, input, [tabindex], .leaflet-interactive")) {
    node.setAttribute("tabindex", state.mapEntered ? "0" : "-1");
  }
}
new MutationObserver(() => { if (!state.mapEntered) mapTabStops(); }).observe(mapBox, { childList: true, subtree: true });
mapBox.addEventListener("keydown", (e) => {
  if (e.target === mapBox && e.key === "Enter" && !state.mapEntered) { state.mapEntered = true; mapTabStops(); }
  else if (e.key === "Escape" && state.mapEntered) { state.mapEntered = false; mapTabStops(); mapBox.focus(); }
});
mapBox.addEventListener("focusout", (e) => {
  if (state.mapEntered && !mapBox.contains(e.relatedTarget)) { state.mapEntered = false; mapTabStops(); }
});
mapTabStops();

document.getElementById("lang").onclick = async () => {
  state.lang = state.lang === "en" ? "zh" : "en"; localStorage.setItem("desk-lang", state.lang);
  translate(); if (state.me) { document.getElementById("who").textContent = ""; await showWork(state.me); }
};

translate();
baseMap().then(() => { state.baseMapReady = true; });
// Neither page shows until the server says whether this browser still has a session, so
// nobody starts typing into a login form that a resumed session then hides.
fetch(API + "/me", { credentials: "same-origin" })
  .then(async (r) => { if (r.ok) await showWork(await r.json()); else showLogin(); }, () => showLogin());
