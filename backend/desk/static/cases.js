// The coordinator's cases: file and edit a case (last-seen station picked by keyboard or a map
// click, areas drawn on the map, a corridor by metro line and station, the radius schedule),
// a preview of the kiosks that will show the notice, the assigned volunteer from the known
// ones, the child's photo, and importing cases from CSV or GeoJSON with a preview.
import { WORDS } from "./i18n.js";

Object.assign(WORDS.en, {
  new_case: "New case", edit_case: "Edit case {id}", save_case: "Save changes", cancel_edit: "Cancel",
  title_zh: "Title in Chinese (on kiosks, optional)", title_en: "Title in English (on kiosks, optional)",
  description_zh: "Public description in Chinese (optional)", description_en: "Public description in English (optional)",
  edit: "Edit", last_seen_station: "Last-seen station (type a name or id)", or_map: "or click the map",
  no_point: "no point yet", volunteer_none: "— not assigned —", on_duty: "on duty",
  area: "Area", corridor_line: "Metro line", corridor_from: "From station", corridor_none: "— no corridor —",
  corridor_within: "within stations", corridor_buffer: "buffer (m)",
  use_circle: "Radius circle around the last-seen point",
  radius_schedule: "Radius schedule (until : radius; * = after)",
  radius_help: "Default for a metro: 1.5 km in the first hour, 3 km by 3 h, 5 km after. Off when an area or corridor is drawn: the drawn area is what matches.",
  preview: "Preview kiosks", preview_result: "{n} kiosks will show the notice", preview_none: "No kiosk will show the notice",
  photo_file: "Child's photo (JPEG or PNG, up to 10 MB)", photo_uploaded: "photo stored", remove_photo: "Remove photo",
  err_point: "Last-seen point is missing: choose the station where the child was last seen (or click the map).",
  err_station: "No metro station matches “{v}”: pick one from the list.",
  err_schedule: "Radius schedule: write steps like 1h:1.5km; 3h:3km; *:5km",
  err_field: "{field}: {message}", saved: "Case saved",
  import_cases: "Import cases (CSV or GeoJSON)", import_format: "Format", import_text: "File contents",
  import_file: "File", import_preview: "Check (nothing is saved)", import_run: "Import",
  import_summary: "{ok} of {total} rows {verb}, {bad} refused", import_would: "can be imported", import_done: "imported",
  row_ok: "ok", row_refused: "refused",
});
Object.assign(WORDS.zh, {
  new_case: "新建案件", edit_case: "编辑案件 {id}", save_case: "保存修改", cancel_edit: "取消",
  title_zh: "中文标题（显示在终端上，可选）", title_en: "英文标题（显示在终端上，可选）",
  description_zh: "中文公开描述（可选）", description_en: "英文公开描述（可选）",
  edit: "编辑", last_seen_station: "最后出现车站（输入站名或编号）", or_map: "或在地图上点击",
  no_point: "尚未选择地点", volunteer_none: "— 未指派 —", on_duty: "值班中",
  area: "区域", corridor_line: "地铁线路", corridor_from: "起点站", corridor_none: "— 不设走廊 —",
  corridor_within: "站数以内", corridor_buffer: "缓冲（米）",
  use_circle: "以最后出现地点为圆心的半径范围",
  radius_schedule: "半径时间表（截至 : 半径；* = 之后）",
  radius_help: "地铁默认：第一小时 1.5 公里，3 小时内 3 公里，之后 5 公里。画了区域或走廊时不使用半径：以所画区域为准。",
  preview: "预览终端", preview_result: "将有 {n} 台终端显示启事", preview_none: "没有终端会显示启事",
  photo_file: "儿童照片（JPEG 或 PNG，不超过 10 MB）", photo_uploaded: "照片已保存", remove_photo: "删除照片",
  err_point: "缺少最后出现地点：请选择儿童最后出现的车站（或在地图上点击）。",
  err_station: "没有与“{v}”对应的地铁站：请从列表中选择。",
  err_schedule: "半径时间表：请按 1h:1.5km; 3h:3km; *:5km 的格式填写",
  err_field: "{field}：{message}", saved: "案件已保存",
  import_cases: "导入案件（CSV 或 GeoJSON）", import_format: "格式", import_text: "文件内容",
  import_file: "文件", import_preview: "检查（不保存）", import_run: "导入",
  import_summary: "共 {total} 行，{ok} 行{verb}，{bad} 行被拒绝", import_would: "可导入", import_done: "已导入",
  row_ok: "通过", row_refused: "被拒绝",
});
// The field names the server's problems carry, as the page's labels.
const FIELD_WORDS = { case_id: "case_id", title: "case_title", public_description: "description",
  title_zh: "title_zh", title_en: "title_en", description_zh: "description_zh", description_en: "description_en",
  relay_contact: "relay_contact", family_contact: "family_contact", age_band: "age_band", sex: "sex",
  clothing_colours: "colours", last_seen_at: "last_seen_at", last_seen_lon: "last_seen_station",
  last_seen_lat: "last_seen_station", assigned_volunteer_id: "assigned_volunteer", radius_schedule: "radius_schedule",
  polygons_geojson: "area", corridor: "corridor_line" };
const METRO_DEFAULT = "1h:1.5km; 3h:3km; *:5km";

let ctx = null;  // the page's helpers: api, el, t, time, layers, state, map, refresh, ...
const cs = { ready: false, editing: null, stations: [], routes: [], volunteers: [], circleTouched: false };

function fmt(key, values = {}) { return Object.entries(values).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), ctx.t(key)); }
function stationLabel(s) { return `${s.name} (${s.id})`; }

async function loadMetro() {
  const metro = await (await fetch("/api/v1/desk/public/metro.geojson")).json();
  cs.stations = metro.features.filter((f) => f.properties.kind === "station")
    .map((f) => ({ id: f.id, name: f.properties.name, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] }));
  cs.byId = Object.fromEntries(cs.stations.map((s) => [s.id, s]));
  cs.routes = metro.features.filter((f) => f.properties.kind === "route")
    .map((f) => ({ line: f.properties.line, name: f.properties.name || `${f.properties.line}`, ids: f.properties.stations || [] }));
}

// ------------------------------------------------------------------ the form
function option(value, text, selected = false, key = null) { return ctx.el("option", { value, selected: selected ? "selected" : null, "data-i18n": key }, text); }

function renderForm() {
  const { el, t } = ctx;
  const lines = [...new Map(cs.routes.map((r) => [r.line, r])).values()].sort((a, b) => a.line - b.line);
  const form = el("form", { id: "case-form", novalidate: "novalidate" },
    el("h2", { "data-i18n": "new_case", id: "case-form-title" }, t("new_case")),
    el("label", {}, el("span", { "data-i18n": "case_id" }, t("case_id")), el("input", { name: "case_id", required: "required", autocomplete: "off" })),
    el("label", {}, el("span", { "data-i18n": "case_title" }, t("case_title")), el("input", { name: "title", required: "required" })),
    el("label", {}, el("span", { "data-i18n": "description" }, t("description")), el("textarea", { name: "public_description" })),
    // The same in both languages: a kiosk shows Chinese above English, a volunteer their own
    ...["title_zh", "title_en"].map((name) => el("label", {}, el("span", { "data-i18n": name }, t(name)), el("input", { name, lang: name.slice(-2) }))),
    ...["description_zh", "description_en"].map((name) => el("label", {}, el("span", { "data-i18n": name }, t(name)), el("textarea", { name, lang: name.slice(-2) }))),
    el("label", {}, el("span", { "data-i18n": "relay_contact" }, t("relay_contact")), el("input", { name: "relay_contact", required: "required" })),
    el("label", {}, el("span", { "data-i18n": "family_contact" }, t("family_contact")), el("input", { name: "family_contact" })),
    el("label", {}, el("span", { "data-i18n": "age_band" }, t("age_band")), el("select", { name: "age_band" },
      ...["0-2", "3-5", "6-9", "10-13", "14-17"].map((a) => option(a, a, a === "3-5")), option("unknown", t("unknown"), false, "unknown"))),
    el("label", {}, el("span", { "data-i18n": "sex" }, t("sex")), el("select", { name: "sex" },
      option("female", t("female"), false, "female"), option("male", t("male"), false, "male"), option("unknown", t("unknown"), true, "unknown"))),
    el("label", {}, el("span", { "data-i18n": "colours" }, t("colours")), el("input", { name: "clothing_colours", placeholder: "red, white" })),
    el("label", {}, el("span", { "data-i18n": "last_seen_at" }, t("last_seen_at")), el("input", { name: "last_seen_at", type: "datetime-local", required: "required" })),
    el("label", {}, el("span", { "data-i18n": "last_seen_station" }, t("last_seen_station")), el("input", { name: "station", list: "station-options", autocomplete: "off" })),
    el("datalist", { id: "station-options" }, ...cs.stations.map((s) => option(stationLabel(s), ""))),
    el("p", {}, el("button", { "data-i18n": "or_map", type: "button", id: "pick-point" }, t("or_map")), " ", el("span", { "data-i18n": "no_point", id: "point-label" }, t("no_point"))),
    el("label", {}, el("span", { "data-i18n": "assigned_volunteer" }, t("assigned_volunteer")), el("select", { name: "assigned_volunteer_id" }, option("", t("volunteer_none")))),
    el("fieldset", {}, el("legend", { "data-i18n": "area" }, t("area")),
      el("p", {}, el("button", { "data-i18n": "draw_polygon", type: "button", id: "draw-polygon" }, t("draw_polygon")), " ",
        el("button", { "data-i18n": "finish_polygon", type: "button", id: "finish-polygon", disabled: "disabled" }, t("finish_polygon")), " ",
        el("button", { "data-i18n": "clear_areas", type: "button", id: "clear-areas" }, t("clear_areas")), " ", el("span", { id: "area-label" })),
      el("label", {}, el("span", { "data-i18n": "corridor_line" }, t("corridor_line")), el("select", { name: "corridor_line" },
        option("", t("corridor_none"), false, "corridor_none"), ...lines.map((r) => option(String(r.line), r.name)))),
      el("label", {}, el("span", { "data-i18n": "corridor_from" }, t("corridor_from")), el("select", { name: "corridor_from" })),
      el("div", { class: "row" },
        el("label", {}, el("span", { "data-i18n": "corridor_within" }, t("corridor_within")), el("input", { name: "corridor_within", type: "number", min: "0", max: "30", value: "3" })),
        el("label", {}, el("span", { "data-i18n": "corridor_buffer" }, t("corridor_buffer")), el("input", { name: "corridor_buffer", type: "number", min: "50", max: "10000", value: "500" }))),
      el("label", { class: "check" }, el("input", { name: "use_circle", type: "checkbox", checked: "checked" }), el("span", { "data-i18n": "use_circle" }, t("use_circle"))),
      el("label", {}, el("span", { "data-i18n": "radius_schedule" }, t("radius_schedule")), el("input", { name: "radius_schedule", value: METRO_DEFAULT })),
      el("p", { "data-i18n": "radius_help", class: "meta" }, t("radius_help"))),
    el("label", {}, el("span", { "data-i18n": "photo_file" }, t("photo_file")), el("input", { name: "photo", type: "file", accept: "image/jpeg,image/png" })),
    el("p", {}, el("button", { "data-i18n": "preview", type: "button", id: "preview-case" }, t("preview")), " ",
      el("button", { "data-i18n": "file_case", type: "submit", id: "file-case" }, t("file_case")), " ",
      el("button", { "data-i18n": "cancel_edit", type: "button", id: "cancel-edit", hidden: "hidden" }, t("cancel_edit"))),
    el("div", { id: "preview-result", role: "status" }),
    el("div", { id: "case-result", role: "status" }));
  return form;
}

function fillVolunteers(form, selected) {
  const { el, t } = ctx;
  form.elements.assigned_volunteer_id.replaceChildren(option("", t("volunteer_none")),
    ...cs.volunteers.map((v) => option(v.volunteer_id, `${v.display_name} (${v.volunteer_id})${v.on_duty ? " · " + t("on_duty") : ""}`, v.volunteer_id === selected)));
  void el;
}

function fillCorridorStations(form, selected) {
  const line = Number(form.elements.corridor_line.value);
  const ids = [...new Set(cs.routes.filter((r) => r.line === line).flatMap((r) => r.ids))];
  form.elements.corridor_from.replaceChildren(...ids.filter((id) => cs.byId[id]).map((id) => option(id, stationLabel(cs.byId[id]), id === selected)));
  areaChanged(form);
}

function areaChanged(form) {
  // The drawn area is what matches: no circle once a polygon or corridor is there (unless
  // the coordinator set the checkbox by hand).
  if (!cs.circleTouched) form.elements.use_circle.checked = !(ctx.state.polygons.length || form.elements.corridor_line.value);
  form.elements.radius_schedule.disabled = !form.elements.use_circle.checked;
}

function setPoint(lat, lng) { ctx.state.point = { lat, lng }; redrawDrawing(); }

function stationFromInput(value) {
  const m = /\(([^()]+)\)\s*$/.exec(value.trim());
  const id = m ? m[1] : value.trim();
  return cs.byId[id] || cs.stations.find((s) => s.name === value.trim()) || null;
}

function parseSchedule(text) {
  const steps = [];
  for (const part of text.split(";").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\*|[\d.]+\s*h?|[\d.]+\s*min)\s*:\s*([\d.]+)\s*(km|m)?$/i.exec(part);
    if (!m) return null;
    const w = m[1].trim().toLowerCase();
    const within = w === "*" ? null : w.endsWith("min") ? parseFloat(w) * 60 : w.endsWith("h") ? parseFloat(w) * 3600 : parseFloat(w);
    const radius = parseFloat(m[2]) * ((m[3] || "m").toLowerCase() === "km" ? 1000 : 1);
    steps.push([within, radius]);
  }
  return steps.length ? steps : null;
}

function scheduleText(steps) {
  return (steps || []).map(([w, r]) => `${w === null ? "*" : w % 3600 === 0 ? w / 3600 + "h" : w / 60 + "min"}:${r % 1000 === 0 ? r / 1000 + "km" : r + "m"}`).join("; ");
}

// The body of POST /cases (or PATCH): null with the problems shown when the page can tell.
function formBody(form) {
  const f = form.elements;
  const problems = [];
  const station = f.station.value.trim() ? stationFromInput(f.station.value) : null;
  if (f.station.value.trim() && !station) problems.push(fmt("err_station", { v: f.station.value }));
  if (!ctx.state.point) problems.push(ctx.t("err_point"));
  const body = {
    case_id: f.case_id.value.trim(), title: f.title.value, public_description: f.public_description.value,
    relay_contact: f.relay_contact.value, age_band: f.age_band.value, sex: f.sex.value,
    clothing_colours: f.clothing_colours.value.split(",").map((s) => s.trim()).filter(Boolean),
    last_seen_at: f.last_seen_at.value ? new Date(f.last_seen_at.value).toISOString() : "",
    polygons_geojson: ctx.state.polygons, use_circle: f.use_circle.checked,
    assigned_volunteer_id: f.assigned_volunteer_id.value || null,
    family_contact: f.family_contact.value || null,
    // blank: no text in that language (the server stores none)
    title_zh: f.title_zh.value.trim() || null, title_en: f.title_en.value.trim() || null,
    description_zh: f.description_zh.value.trim() || null, description_en: f.description_en.value.trim() || null,
    last_seen_station_id: station ? station.id : null,
    corridor: f.corridor_line.value && f.corridor_from.value ? { from_station: f.corridor_from.value,
      within_stations: Number(f.corridor_within.value), buffer_m: Number(f.corridor_buffer.value) } : null,
  };
  if (ctx.state.point) { body.last_seen_lon = Number(ctx.state.point.lng.toFixed(6)); body.last_seen_lat = Number(ctx.state.point.lat.toFixed(6)); }
  if (f.use_circle.checked) {
    const steps = parseSchedule(f.radius_schedule.value);
    if (!steps) problems.push(ctx.t("err_schedule")); else body.radius_schedule = steps;
  }
  for (const k of ["family_contact", "assigned_volunteer_id", "last_seen_station_id"]) if (body[k] === null && !cs.editing) delete body[k];
  if (body.corridor === null && !cs.editing) delete body.corridor;
  if (cs.editing) delete body.case_id;
  return { body, problems };
}

function showProblems(box, messages) {
  box.className = "error";
  box.replaceChildren(...messages.map((m) => ctx.el("p", { class: "problem" }, m)));
}

// Send a JSON body; the server's problems come back as sentences naming their field.
async function send(path, method, body) {
  const response = await fetch("/api/v1/desk" + path, { method, credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) { ctx.refresh(); throw Object.assign(new Error("401"), { problems: [ctx.t("error") + ": 401"] }); }
  if (!response.ok) {
    const problems = (answer.problems && answer.problems.length ? answer.problems : [{ field: "", message: answer.detail || String(response.status) }])
      .map((p) => {
        const key = FIELD_WORDS[(p.field || "").replace(/^body\./, "").split(".")[0]];
        return ctx.state.lang === "en" || !key ? p.message : fmt("err_field", { field: ctx.t(key), message: p.message });
      });
    throw Object.assign(new Error(problems.join(" ")), { problems });
  }
  return answer;
}

async function uploadPhoto(caseId, file) {
  const response = await fetch(`/api/v1/desk/cases/${encodeURIComponent(caseId)}/photo`, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": file.type || "image/jpeg" }, body: file });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    const problems = (answer.problems || []).map((p) => p.message);
    throw Object.assign(new Error(problems.join(" ") || answer.detail), { problems: problems.length ? problems : [answer.detail] });
  }
}

async function preview(form) {
  const box = document.getElementById("preview-result");
  const { body, problems } = formBody(form);
  ctx.layers.drawing.eachLayer((l) => { if (l.options && l.options.preview) ctx.layers.drawing.removeLayer(l); });
  if (problems.length) { showProblems(box, problems); return; }
  try {
    const path = cs.editing ? `/cases/preview?editing=${encodeURIComponent(cs.editing)}` : "/cases/preview";
    const got = await send(path, "POST", body);
    box.className = "ok";
    box.replaceChildren(ctx.el("p", {}, got.kiosks.length ? fmt("preview_result", { n: got.kiosks.length }) : ctx.t("preview_none")),
      ctx.el("ul", { class: "preview-kiosks" }, ...got.kiosks.slice(0, 50).map((k) => ctx.el("li", { "data-device-id": k.device_id }, k.device_id))));
    for (const k of got.kiosks) L.circleMarker([k.lat, k.lon], { radius: 6, color: "#b5179e", weight: 2, preview: true, className: "preview-kiosk" }).addTo(ctx.layers.drawing);
    for (const a of got.areas) if (a.kind === "corridor") L.geoJSON(a.geometry, { style: { color: "#b5179e", dashArray: "4", className: "preview-corridor" }, preview: true }).addTo(ctx.layers.drawing);
    if (got.radius_m && ctx.state.point) L.circle(ctx.state.point, { radius: got.radius_m, color: "#b5179e", dashArray: "4", fillOpacity: .04, preview: true, className: "preview-circle" }).addTo(ctx.layers.drawing);
    cs.previewed = got;
  } catch (err) { showProblems(box, err.problems || [err.message]); }
}

async function submit(form) {
  const result = document.getElementById("case-result");
  const { body, problems } = formBody(form);
  if (problems.length) { showProblems(result, problems); return; }
  try {
    const saved = cs.editing ? await send(`/cases/${encodeURIComponent(cs.editing)}`, "PATCH", body) : await send("/cases", "POST", body);
    const file = form.elements.photo.files[0];
    if (file) await uploadPhoto(saved.case_id, file);
    result.className = "ok";
    result.replaceChildren(`${cs.editing ? ctx.t("saved") : ctx.t("filed")}: ${saved.case_id}${file ? " · " + ctx.t("photo_uploaded") : ""}`);
    resetForm(form, false);
    await ctx.refresh();
  } catch (err) { showProblems(result, err.problems || [err.message]); }
}

function resetForm(form, clearResult = true) {
  form.reset();
  cs.editing = null; cs.circleTouched = false;
  ctx.state.polygons = []; ctx.state.point = null; ctx.state.drawing = null;
  const local = new Date(Date.now() - 30 * 60 * 1000 - new Date().getTimezoneOffset() * 60000);
  form.elements.last_seen_at.value = local.toISOString().slice(0, 16);
  form.elements.radius_schedule.value = METRO_DEFAULT;
  form.elements.case_id.disabled = false;
  const title = document.getElementById("case-form-title"), button = document.getElementById("file-case");
  title.dataset.i18n = "new_case"; title.textContent = ctx.t("new_case");
  button.dataset.i18n = "file_case"; button.textContent = ctx.t("file_case");
  document.getElementById("cancel-edit").hidden = true;
  document.getElementById("preview-result").replaceChildren();
  if (clearResult) document.getElementById("case-result").replaceChildren();
  fillVolunteers(form, null); fillCorridorStations(form, null); redrawDrawing();
}

function startEdit(form, c) {
  resetForm(form);
  cs.editing = c.case_id;
  const f = form.elements;
  f.case_id.value = c.case_id; f.case_id.disabled = true;
  f.title.value = c.title; f.public_description.value = c.public_description; f.relay_contact.value = c.relay_contact;
  f.family_contact.value = c.family_contact || ""; f.age_band.value = c.age_band; f.sex.value = c.sex;
  for (const name of ["title_zh", "title_en", "description_zh", "description_en"]) f[name].value = c[name] || "";
  f.clothing_colours.value = c.clothing_colours.join(", ");
  f.last_seen_at.value = new Date(new Date(c.last_seen_at).getTime() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  f.station.value = c.last_seen_station_id && cs.byId[c.last_seen_station_id] ? stationLabel(cs.byId[c.last_seen_station_id]) : "";
  ctx.state.point = { lat: c.last_seen_lat, lng: c.last_seen_lon };
  ctx.state.polygons = c.areas.filter((a) => a.kind === "polygon").flatMap((a) => a.geometry.type === "MultiPolygon"
    ? a.geometry.coordinates.map((coordinates) => ({ type: "Polygon", coordinates })) : [a.geometry]);
  const corridor = c.areas.find((a) => a.kind === "corridor");
  if (corridor && corridor.params) {
    const route = cs.routes.find((r) => r.ids.includes(corridor.params.from_station));
    f.corridor_line.value = route ? String(route.line) : "";
    fillCorridorStations(form, corridor.params.from_station);
    f.corridor_within.value = corridor.params.within_stations; f.corridor_buffer.value = corridor.params.buffer_m;
  }
  cs.circleTouched = true;
  f.use_circle.checked = !!c.radius_schedule;
  f.radius_schedule.value = c.radius_schedule ? scheduleText(c.radius_schedule) : METRO_DEFAULT;
  f.radius_schedule.disabled = !f.use_circle.checked;
  fillVolunteers(form, c.assigned_volunteer_id);
  const title = document.getElementById("case-form-title"), button = document.getElementById("file-case");
  delete title.dataset.i18n; title.textContent = fmt("edit_case", { id: c.case_id });
  button.dataset.i18n = "save_case"; button.textContent = ctx.t("save_case");
  document.getElementById("cancel-edit").hidden = false;
  redrawDrawing();
  f.title.focus();
}

function redrawDrawing() {
  const { layers, state } = ctx;
  layers.drawing.clearLayers();
  if (state.point) L.circleMarker(state.point, { radius: 6, color: "#000", className: "last-seen-pick" }).addTo(layers.drawing);
  for (const p of state.polygons) L.polygon(p.coordinates[0].map(([x, y]) => [y, x]), { color: "#6a4c93", className: "drawn-area" }).addTo(layers.drawing);
  if (state.drawing && state.drawing.length) L.polyline(state.drawing, { color: "#6a4c93", dashArray: "3" }).addTo(layers.drawing);
  const label = document.getElementById("point-label");
  if (label) label.textContent = state.point ? `${state.point.lat.toFixed(5)}, ${state.point.lng.toFixed(5)}` : ctx.t("no_point");
  const areas = document.getElementById("area-label");
  if (areas) areas.textContent = state.polygons.length ? `${state.polygons.length} ✓` : "";
}

function wireForm(form) {
  const { state, map } = ctx;
  const f = form.elements;
  document.getElementById("pick-point").onclick = () => { state.picking = true; state.drawing = null; };
  document.getElementById("draw-polygon").onclick = () => { state.picking = false; state.drawing = []; document.getElementById("finish-polygon").disabled = false; };
  document.getElementById("finish-polygon").onclick = () => {
    if (state.drawing && state.drawing.length >= 3) {
      const ring = state.drawing.map((ll) => [Number(ll.lng.toFixed(6)), Number(ll.lat.toFixed(6))]);
      ring.push(ring[0]);
      state.polygons.push({ type: "Polygon", coordinates: [ring] });
    }
    state.drawing = null; document.getElementById("finish-polygon").disabled = true; areaChanged(form); redrawDrawing();
  };
  document.getElementById("clear-areas").onclick = () => { state.polygons = []; state.drawing = null; areaChanged(form); redrawDrawing(); };
  document.getElementById("preview-case").onclick = () => preview(form);
  document.getElementById("cancel-edit").onclick = () => resetForm(form);
  f.station.addEventListener("change", () => {
    const s = stationFromInput(f.station.value);
    if (s) { setPoint(s.lat, s.lon); map.setView([s.lat, s.lon], Math.max(map.getZoom(), 13), { animate: false }); }
  });
  f.corridor_line.addEventListener("change", () => {
    const s = stationFromInput(f.station.value);
    fillCorridorStations(form, s ? s.id : null);
  });
  f.use_circle.addEventListener("change", () => { cs.circleTouched = true; f.radius_schedule.disabled = !f.use_circle.checked; });
  if (cs.mapWired) { form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); }); return; }
  cs.mapWired = true;
  map.on("click", (e) => {
    if (!state.me || state.me.role !== "coordinator") return;
    if (state.picking) { state.point = e.latlng; state.picking = false; }
    else if (state.drawing) state.drawing.push(e.latlng);
    redrawDrawing();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); });
}

// ------------------------------------------------------------------ import
function renderImport() {
  const { el, t } = ctx;
  const box = el("details", { id: "case-import" }, el("summary", { "data-i18n": "import_cases" }, t("import_cases")),
    el("label", {}, el("span", { "data-i18n": "import_format" }, t("import_format")), el("select", { name: "import_format", id: "import-format" }, option("csv", "CSV"), option("geojson", "GeoJSON"))),
    el("label", {}, el("span", { "data-i18n": "import_file" }, t("import_file")), el("input", { type: "file", id: "import-file", accept: ".csv,.geojson,.json,text/csv,application/geo+json,application/json" })),
    el("label", {}, el("span", { "data-i18n": "import_text" }, t("import_text")), el("textarea", { id: "import-text", rows: "5" })),
    el("p", {}, el("button", { "data-i18n": "import_preview", type: "button", id: "import-preview" }, t("import_preview")), " ",
      el("button", { "data-i18n": "import_run", type: "button", id: "import-run" }, t("import_run"))),
    el("div", { id: "import-result", role: "status" }));
  box.querySelector("#import-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    box.querySelector("#import-text").value = await file.text();
    box.querySelector("#import-format").value = /\.csv$/i.test(file.name) ? "csv" : "geojson";
  });
  const run = async (dryRun) => {
    const result = box.querySelector("#import-result");
    try {
      const got = await send("/cases/import", "POST", { format: box.querySelector("#import-format").value,
        text: box.querySelector("#import-text").value, dry_run: dryRun });
      result.className = got.refused ? "error" : "ok";
      result.replaceChildren(el("p", {}, fmt("import_summary", { ok: got.imported, total: got.total, bad: got.refused, verb: t(dryRun ? "import_would" : "import_done") })),
        el("table", { class: "import-rows" }, ...got.rows.map((r) => el("tr", { class: r.ok ? "row-ok" : "row-refused" },
          el("td", {}, r.label), el("td", {}, t(r.ok ? "row_ok" : "row_refused")), el("td", {}, r.ok ? "" : r.message)))));
      if (!dryRun) await ctx.refresh();
    } catch (err) { showProblems(result, err.problems || [err.message]); }
  };
  box.querySelector("#import-preview").onclick = () => run(true);
  box.querySelector("#import-run").onclick = () => run(false);
  return box;
}

// ------------------------------------------------------------------ the list and a case
function caseItem(c) {
  const { el, t, api, time } = ctx;
  const status = el("span", { class: "status-buttons" });
  for (const s of ["found", "closed", "false_report", "open"]) {
    if (s === c.status) continue;
    status.append(el("button", { type: "button", "data-status": s, onclick: async () => {
      await api(`/cases/${c.case_id}/status`, { method: "POST", body: JSON.stringify({ status: s }) }); await ctx.refresh();
    } }, t(s)));
  }
  const edit = el("button", { "data-i18n": "edit", type: "button", class: "edit-case", onclick: () => startEdit(document.getElementById("case-form"), c) }, t("edit"));
  return el("li", { class: "item case", "data-case-id": c.case_id },
    c.has_photo ? el("img", { class: "case-photo-thumb", src: `/api/v1/desk/cases/${encodeURIComponent(c.case_id)}/photo?v=${encodeURIComponent(c.photo_ref || "")}`, alt: t("photo") }) : "",
    el("div", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); showCase(c.case_id); } }, c.case_id), ` · ${c.title} · `,
      el("span", { class: "badge" }, t(c.status))),
    el("div", { class: "meta" }, `${time(c.last_seen_at)} · ${t("radius_now")}: ${c.current_radius_m ? (c.current_radius_m / 1000).toFixed(1) + " km" : "—"}${c.assigned_volunteer_id ? " · " + t("assigned_volunteer") + ": " + c.assigned_volunteer_id : ""}`),
    c.family_contact ? el("div", { class: "meta" }, `${t("family_contact")}: ${c.family_contact}`) : "",
    el("div", {}, edit, status));
}

async function showCase(caseId) {
  const { el, t, api, time, stateBadge, reportersText, matchReasons, state } = ctx;
  const d = await api(`/cases/${caseId}`);
  const c = d.case;
  const box = document.getElementById("case-detail");
  box.replaceChildren(el("h2", {}, `${c.case_id}: ${c.title}`),
    c.has_photo ? el("img", { class: "case-photo", src: `/api/v1/desk/cases/${encodeURIComponent(c.case_id)}/photo?v=${encodeURIComponent(c.photo_ref || "")}`, alt: t("photo") }) : "",
    c.has_photo ? el("p", {}, el("button", { type: "button", class: "remove-photo", onclick: async () => {
      await fetch(`/api/v1/desk/cases/${encodeURIComponent(c.case_id)}/photo`, { method: "DELETE", credentials: "same-origin" });
      await ctx.refresh(); await showCase(caseId);
    } }, t("remove_photo"))) : "",
    el("h3", {}, `${t("sightings")} (${d.sightings.length})`),
    el("ul", {}, ...d.sightings.map((s) => el("li", { class: "sighting", "data-report-id": s.report_id },
      `${time(s.observed_at)} ${s.metro_station_id || ""} — ${s.matches.map((m) => `${m.score.toFixed(2)}: ${matchReasons(m, state.lang).join("; ")}`).join(" | ")}`))),
    el("h3", {}, `${t("incidents")} (${d.incidents.length})`),
    el("ul", {}, ...d.incidents.map((i) => el("li", { class: "case-incident", "data-incident-id": i.incident_id }, `${i.incident_id.slice(0, 8)} · ${reportersText(i.confidence)} · `, stateBadge(i.state)))),
    el("h3", { "data-i18n": "alert_history" }, t("alert_history")),
    el("ul", {}, ...d.alerts.map((h) => el("li", {}, `${h.alert.recipient_kind} ${h.alert.recipient_id} · ${t(h.alert.kind)} r${h.alert.revision} · ${h.delivered ? t("delivered") : t("not_delivered")} · ${t("responses")}: ${h.responses.map((r) => `${r.responder} ${r.response}`).join(", ") || "—"}`))));
}

// ------------------------------------------------------------------ entry points
async function setup() {
  const view = document.getElementById("coordinator-view");
  await loadMetro();
  const form = renderForm();
  view.replaceChildren(form, renderImport(), ctx.el("h2", {}, ctx.t("cases")), ctx.el("ol", { id: "case-list" }), ctx.el("div", { id: "case-detail" }));
  wireForm(form);
  resetForm(form);
  cs.ready = true; cs.lang = ctx.state.lang;
  ctx.state.casesReady = true;
}

// Called by desk.js on every refresh of the coordinator's page (and after a language change).
export async function refreshCases(pageHelpers) {
  ctx = pageHelpers;
  if (!cs.ready) await setup();
  if (cs.lang !== ctx.state.lang) {  // desk.js translated the data-i18n texts; the rest here
    cs.lang = ctx.state.lang;
    const form = document.getElementById("case-form");
    if (cs.editing) document.getElementById("case-form-title").textContent = fmt("edit_case", { id: cs.editing });
    fillVolunteers(form, form.elements.assigned_volunteer_id.value || null);
    redrawDrawing();
  }
  const { api, el, t, layers } = ctx;
  const [cases, caseLayer, sightings, volunteerCells, volunteers] = await Promise.all([api("/cases"), api("/layers/cases"),
    api("/layers/sightings"), api("/layers/volunteers"), api("/volunteers")]);
  const form = document.getElementById("case-form");
  if (JSON.stringify(volunteers) !== JSON.stringify(cs.volunteers)) { cs.volunteers = volunteers; fillVolunteers(form, form.elements.assigned_volunteer_id.value || null); }
  const list = document.getElementById("case-list");
  list.replaceChildren(...(cases.length ? cases.map(caseItem) : [el("li", { "data-i18n": "no_items", class: "empty" }, t("no_items"))]));
  layers.cases.clearLayers();
  L.geoJSON(caseLayer, {
    style: { color: "#6a4c93", weight: 2, fillOpacity: .12, className: "case-area" },
    pointToLayer: (f, ll) => {
      const group = L.layerGroup([L.marker(ll, { title: f.properties.case_id, keyboard: false })]);
      if (f.properties.current_radius_m) L.circle(ll, { radius: f.properties.current_radius_m, color: "#6a4c93", dashArray: "4", fillOpacity: .05, className: "case-circle" }).addTo(group);
      return group;
    },
  }).addTo(layers.cases);
  layers.sightings.clearLayers();
  L.geoJSON(sightings, { pointToLayer: (f, ll) => L.circleMarker(ll, {
    radius: 6, color: f.properties.matches.length ? "#e63946" : "#1d3557", fillOpacity: .8, className: "sighting-marker" }) }).addTo(layers.sightings);
  layers.volunteers.clearLayers();
  L.geoJSON(volunteerCells, { pointToLayer: (f, ll) => L.circle(ll, { radius: 500, color: "#2a9d8f", weight: 1, fillOpacity: .15, className: "volunteer-cell" }) }).addTo(layers.volunteers);
}
