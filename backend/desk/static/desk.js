// The desk console: log in, then the view of the person's role, kept live by server-sent events.
import { WORDS, defaultLanguage, matchReasons } from "./i18n.js";
import { refreshFleet } from "./fleet.js";

const API = "/api/v1/desk";
const LINE_COLOURS = ["#e4002b", "#97d700", "#ffd100", "#5f259f", "#ac4fc6", "#d71671", "#ff6900",
  "#009eda", "#78c7eb", "#c1a7e2", "#76232f", "#007b5f", "#ef95cf", "#2cd5c4", "#c0c0c0", "#32d2ca",
  "#98c8ea"];
const state = { lang: localStorage.getItem("desk-lang") || defaultLanguage(), me: null, events: null,
  drawing: null, polygons: [], point: null, picking: false, refreshing: null };
window.desk = state;  // for the browser tests and the curious

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
function time(iso) { return iso ? new Date(iso).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB") : "—"; }

async function api(path, options = {}) {
  const response = await fetch(API + path, { credentials: "same-origin",
    headers: options.body ? { "Content-Type": "application/json" } : {}, ...options });
  if (response.status === 401 && path !== "/login") { showLogin(); throw new Error("401"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) { throw new Error(body && body.detail ? body.detail : String(response.status)); }
  return body;
}

function translate() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}

// ------------------------------------------------------------------ map
const map = L.map("map", { zoomControl: true, preferCanvas: false }).setView([31.23, 121.47], 11);
const layers = {
  metro: L.layerGroup().addTo(map), cases: L.layerGroup().addTo(map),
  incidents: L.layerGroup().addTo(map), sightings: L.layerGroup().addTo(map),
  alerts: L.layerGroup().addTo(map), devices: L.layerGroup().addTo(map),
  volunteers: L.layerGroup().addTo(map), drawing: L.layerGroup().addTo(map),
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
function bearingText(deg) { return deg === null || deg === undefined ? "" : `${t("direction")} ${Math.round(deg)}°`; }

function ackButtons(alert) {
  const box = el("span", { class: "acks" });
  for (const decision of ["dispatched", "no_action", "false_report"]) {
    box.append(el("button", { type: "button", class: "ack", "data-decision": decision, "data-alert-id": alert.alert_id,
      onclick: async () => {
        await api(`/alerts/${alert.alert_id}/acknowledge`, { method: "POST", body: JSON.stringify({ decision }) });
        await refresh();
      } }, t(decision)));
  }
  return box;
}

async function refreshPolice() {
  const [incidents, alerts, sightings] = await Promise.all([api("/incidents"), api("/alerts"), api("/layers/sightings")]);
  const alertsByIncident = {};
  for (const a of alerts) (alertsByIncident[a.incident_id] ||= []).push(a);
  const queue = document.getElementById("queue");
  queue.replaceChildren();
  if (!incidents.length) queue.append(el("li", { class: "empty" }, t("no_items")));
  for (const inc of incidents) {
    const acked = inc.acknowledgements.length > 0;
    const item = el("li", { class: `item incident${inc.matches.length ? " matched" : ""}${acked ? " acked" : ""}`, "data-incident-id": inc.incident_id },
      el("div", {}, el("strong", {}, inc.metro_station_id || inc.incident_id.slice(0, 8)), " · ",
        `${inc.confidence} ${t("reporters")}, ${inc.report_count} ${t("reports")} · ${time(inc.last_at)} `,
        el("span", { class: `badge ${inc.escalating ? "escalating" : "stopped"}` }, inc.escalating ? t("escalating") : t("escalation_stopped"))),
      el("div", { class: "meta" }, `${bearingText(inc.bearing_deg)} · ${t("points")}: ${inc.trail.length}`));
    for (const m of inc.matches.slice(0, 3)) {
      item.append(el("div", { class: "match" }, `${t("matched")}: ${m.case_id} (${m.score.toFixed(2)}) — ${t("why")}: ${m.reasons.join("; ")}`));
    }
    for (const a of alertsByIncident[inc.incident_id] || []) {
      item.append(el("div", { class: "alert", "data-alert-id": a.alert_id, "data-kind": a.kind },
        `${t("alert")}: ${t(a.kind)} r${a.revision} `, a.reason ? `— ${a.reason} ` : "",
        el("a", { href: `${API}/alerts/${a.alert_id}/cap`, target: "_blank" }, t("cap")), " ",
        a.response ? el("span", { class: "badge stopped" }, a.response) : ackButtons(a)));
    }
    for (const ack of inc.acknowledgements) {
      item.append(el("div", { class: "meta ack-record" }, `${t(ack.decision)} — ${t("acknowledged_by")} ${ack.username} ${time(ack.at)}`));
    }
    queue.append(item);
  }
  setGeoJSON(layers.sightings, sightings, { pointToLayer: (f, ll) => L.circleMarker(ll, {
    radius: 7, color: f.properties.matches.length ? "#e63946" : "#1d3557", fillOpacity: .8, className: "sighting-marker" })
    .bindTooltip(`${time(f.properties.observed_at)} ${f.properties.metro_station_id || ""}`) });
  layers.incidents.clearLayers();
  for (const inc of incidents) {
    if (inc.trail.length > 1) L.polyline(inc.trail.map((p) => [p.lat, p.lon]), { color: "#e76f51", className: "trail" }).addTo(layers.incidents);
  }
  layers.alerts.clearLayers();
  for (const a of alerts) {
    L.circleMarker([a.lat, a.lon], { radius: 14, color: a.response ? "#2a9d8f" : "#e63946", fill: false, weight: 2,
      className: "alert-marker" }).addTo(layers.alerts);
  }
}

// ------------------------------------------------------------------ coordinator
function caseItem(c) {
  const status = el("span", { class: "status-buttons" });
  for (const s of ["found", "closed", "false_report", "open"]) {
    if (s === c.status) continue;
    status.append(el("button", { type: "button", "data-status": s, onclick: async () => {
      await api(`/cases/${c.case_id}/status`, { method: "POST", body: JSON.stringify({ status: s }) }); await refresh();
    } }, t(s)));
  }
  return el("li", { class: "item case", "data-case-id": c.case_id },
    el("div", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); showCase(c.case_id); } }, c.case_id), ` · ${c.title} · `,
      el("span", { class: "badge" }, t(c.status))),
    el("div", { class: "meta" }, `${time(c.last_seen_at)} · ${t("radius_now")}: ${c.current_radius_m ? Math.round(c.current_radius_m) + " m" : "—"}`),
    c.family_contact ? el("div", { class: "meta" }, `${t("family_contact")}: ${c.family_contact}`) : "",
    status);
}

async function showCase(caseId) {
  const d = await api(`/cases/${caseId}`);
  const box = document.getElementById("case-detail");
  box.replaceChildren(el("h2", {}, `${d.case.case_id}: ${d.case.title}`),
    el("h3", {}, `${t("sightings")} (${d.sightings.length})`),
    el("ul", {}, ...d.sightings.map((s) => el("li", { class: "sighting", "data-report-id": s.report_id },
      `${time(s.observed_at)} ${s.metro_station_id || ""} — ${s.matches.map((m) => `${m.score.toFixed(2)}: ${matchReasons(m, state.lang).join("; ")}`).join(" | ")}`))),
    el("h3", {}, `${t("incidents")} (${d.incidents.length})`),
    el("ul", {}, ...d.incidents.map((i) => el("li", {}, `${i.incident_id.slice(0, 8)} · ${i.confidence} ${t("reporters")} · ${i.escalating ? t("escalating") : t("escalation_stopped")} ${i.acknowledgements.map((a) => `· ${t(a.decision)} (${a.username})`).join(" ")}`))),
    el("h3", {}, t("alert_history")),
    el("ul", {}, ...d.alerts.map((h) => el("li", {}, `${h.alert.recipient_kind} ${h.alert.recipient_id} · ${t(h.alert.kind)} r${h.alert.revision} · ${h.delivered ? t("delivered") : t("not_delivered")} · ${t("responses")}: ${h.responses.map((r) => `${r.responder} ${r.response}`).join(", ") || "—"}`))));
}

async function refreshCoordinator() {
  const [cases, caseLayer, sightings, volunteers] = await Promise.all([api("/cases"), api("/layers/cases"),
    api("/layers/sightings"), api("/layers/volunteers")]);
  const list = document.getElementById("case-list");
  list.replaceChildren(...(cases.length ? cases.map(caseItem) : [el("li", { class: "empty" }, t("no_items"))]));
  layers.cases.clearLayers();
  L.geoJSON(caseLayer, {
    style: { color: "#6a4c93", weight: 2, fillOpacity: .12, className: "case-area" },
    pointToLayer: (f, ll) => {
      const group = L.layerGroup([L.marker(ll, { title: f.properties.case_id })]);
      if (f.properties.current_radius_m) L.circle(ll, { radius: f.properties.current_radius_m, color: "#6a4c93", dashArray: "4", fillOpacity: .05, className: "case-circle" }).addTo(group);
      return group;
    },
  }).addTo(layers.cases);
  setGeoJSON(layers.sightings, sightings, { pointToLayer: (f, ll) => L.circleMarker(ll, {
    radius: 6, color: f.properties.matches.length ? "#e63946" : "#1d3557", fillOpacity: .8, className: "sighting-marker" }) });
  setGeoJSON(layers.volunteers, volunteers, { pointToLayer: (f, ll) => L.circle(ll, { radius: 500, color: "#2a9d8f", weight: 1, fillOpacity: .15, className: "volunteer-cell" }) });
}

function setupCaseForm() {
  const form = document.getElementById("case-form");
  const when = form.elements.last_seen_at;
  const local = new Date(Date.now() - 30 * 60 * 1000 - new Date().getTimezoneOffset() * 60000);
  when.value = local.toISOString().slice(0, 16);
  document.getElementById("pick-point").onclick = () => { state.picking = true; state.drawing = null; };
  document.getElementById("draw-polygon").onclick = () => {
    state.picking = false; state.drawing = []; document.getElementById("finish-polygon").disabled = false;
  };
  document.getElementById("finish-polygon").onclick = () => {
    if (state.drawing && state.drawing.length >= 3) {
      const ring = state.drawing.map((ll) => [Number(ll.lng.toFixed(6)), Number(ll.lat.toFixed(6))]);
      ring.push(ring[0]);
      state.polygons.push({ type: "Polygon", coordinates: [ring] });
    }
    state.drawing = null; document.getElementById("finish-polygon").disabled = true; redrawDrawing();
  };
  document.getElementById("clear-areas").onclick = () => { state.polygons = []; state.drawing = null; redrawDrawing(); };
  map.on("click", (e) => {
    if (state.picking) { state.point = e.latlng; state.picking = false; }
    else if (state.drawing) state.drawing.push(e.latlng);
    redrawDrawing();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const result = document.getElementById("case-result");
    const body = {
      case_id: f.case_id.value, title: f.title.value, public_description: f.public_description.value,
      relay_contact: f.relay_contact.value, age_band: f.age_band.value, sex: f.sex.value,
      clothing_colours: f.clothing_colours.value.split(",").map((s) => s.trim()).filter(Boolean),
      last_seen_lon: state.point ? Number(state.point.lng.toFixed(6)) : null,
      last_seen_lat: state.point ? Number(state.point.lat.toFixed(6)) : null,
      last_seen_at: new Date(f.last_seen_at.value).toISOString(),
      polygons_geojson: state.polygons,
    };
    if (f.family_contact.value) body.family_contact = f.family_contact.value;
    if (f.assigned_volunteer_id.value) body.assigned_volunteer_id = f.assigned_volunteer_id.value;
    if (f.corridor_station.value) body.corridor = { from_station: f.corridor_station.value, within_stations: Number(f.corridor_k.value), buffer_m: 500 };
    try {
      const filed = await api("/cases", { method: "POST", body: JSON.stringify(body) });
      result.textContent = `${t("filed")}: ${filed.case_id}`; result.className = "ok";
      state.polygons = []; state.point = null; redrawDrawing(); await refresh();
    } catch (err) { result.textContent = `${t("error")}: ${err.message}`; result.className = "error"; }
  });
}

function redrawDrawing() {
  layers.drawing.clearLayers();
  if (state.point) L.circleMarker(state.point, { radius: 6, color: "#000", className: "last-seen-pick" }).addTo(layers.drawing);
  for (const p of state.polygons) L.polygon(p.coordinates[0].map(([x, y]) => [y, x]), { color: "#6a4c93", className: "drawn-area" }).addTo(layers.drawing);
  if (state.drawing && state.drawing.length) L.polyline(state.drawing, { color: "#6a4c93", dashArray: "3" }).addTo(layers.drawing);
  document.getElementById("point-label").textContent = state.point ? `${state.point.lat.toFixed(5)}, ${state.point.lng.toFixed(5)}` : "";
  document.getElementById("area-label").textContent = state.polygons.length ? `${state.polygons.length} ✓` : "";
}

// ------------------------------------------------------------------ operator
// The fleet view is fleet.js; it uses the page's helpers and map layers.
async function refreshOperator() { return refreshFleet({ api, el, t, time, layers, state }); }

// ------------------------------------------------------------------ wiring
async function refresh() {
  if (!state.me) return;
  if (state.refreshing) { state.again = true; return state.refreshing; }
  const role = state.me.role;
  state.refreshing = (role === "police" ? refreshPolice() : role === "coordinator" ? refreshCoordinator() : refreshOperator())
    .catch((err) => console.error(err))
    .finally(() => { state.refreshing = null; state.refreshed = (state.refreshed || 0) + 1; if (state.again) { state.again = false; refresh(); } });
  return state.refreshing;
}

function listen() {
  if (state.events) state.events.close();
  const stream = document.getElementById("stream");
  state.events = new EventSource(API + "/events");
  state.events.addEventListener("change", () => { stream.textContent = `● ${t("live")}`; refresh(); });
  state.events.onerror = () => { stream.textContent = t("offline_stream"); };
}

function showLogin() {
  state.me = null;
  if (state.events) state.events.close();
  document.getElementById("login-page").hidden = false;
  document.getElementById("work-page").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
}

async function showWork(me) {
  state.me = me;
  document.getElementById("login-page").hidden = true;
  document.getElementById("work-page").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = `${me.username} · ${t(me.role)}${me.station_ids.length ? " · " + t("stations") + ": " + me.station_ids.join(", ") : ""}`;
  for (const role of ["police", "coordinator", "operator"]) document.getElementById(`${role}-view`).hidden = role !== me.role;
  map.invalidateSize();
  await refresh();
  listen();
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
document.getElementById("logout").onclick = async () => { await api("/logout", { method: "POST" }).catch(() => {}); showLogin(); };
document.getElementById("lang").onclick = async () => {
  state.lang = state.lang === "en" ? "zh" : "en"; localStorage.setItem("desk-lang", state.lang);
  translate(); if (state.me) { document.getElementById("who").textContent = ""; await showWork(state.me); }
};

translate();
setupCaseForm();
baseMap().then(() => { state.baseMapReady = true; });
fetch(API + "/me", { credentials: "same-origin" }).then(async (r) => { if (r.ok) await showWork(await r.json()); else showLogin(); });
