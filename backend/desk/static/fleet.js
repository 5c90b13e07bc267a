// The operator's fleet: every device, a page at a time, filtered and sorted by state, with the
// counts per state as the legend; the map's markers open a device; provisioning and revocation.
// State is told by a word and a symbol (and a colour), never by colour alone.
import { WORDS } from "./i18n.js";

const PAGE = 50;
export const STATES = ["online", "offline", "long_offline", "never_seen"];
// The symbol of each state, on the list badge, the legend and the map marker.
export const SYMBOLS = { online: "●", offline: "◐", long_offline: "✕", never_seen: "?" };

Object.assign(WORDS.en, {
  fleet_state_online: "online", fleet_state_offline: "offline (recently seen)",
  fleet_state_long_offline: "offline too long", fleet_state_never_seen: "never seen",
  fleet_all: "all", fleet_search: "Search id or station", fleet_sort: "Sort",
  sort_state: "by state", sort_device: "by id", sort_last_seen: "last seen first", sort_silent: "silent longest first",
  fleet_shown: "{from}–{to} of {total}", fleet_prev: "Previous", fleet_next: "Next",
  fleet_legend: "States (threshold {min} min)", ago: "{n} ago", never: "never",
  show_on_map: "Show on map", revoke: "Revoke", revoke_confirm: "Confirm: revoke {id}", revoked: "Revoked {id}",
  provision: "Provision a device", device_id: "Device id", kind: "Kind", kiosk: "kiosk", phone: "phone",
  station: "Metro station id", provision_button: "Provision", provisioned: "Provisioned {id}",
  shown_once: "Shown once: copy it now; the broker keeps only a hash.", password_word: "Password",
  config_file: "Configuration file (var/kiosk.ini)",
  no_broker_account: "No broker account was created: {why}",
  why_no_admin_password: "the API has no broker admin account (set SR_MQTT_ADMIN_PASSWORD). The device is in the fleet; create its account with python -m backend.accounts create.",
  why_embedded_broker: "make run is using the embedded broker, which has no accounts: any client connects, so the device needs no password.",
  status_at: "status", report_at: "last report", device_detail: "Device",
  minutes_short: "{n} min", hours_short: "{n} h", days_short: "{n} d",
});
Object.assign(WORDS.zh, {
  fleet_state_online: "在线", fleet_state_offline: "离线（近期有消息）",
  fleet_state_long_offline: "离线过久", fleet_state_never_seen: "从未上线",
  fleet_all: "全部", fleet_search: "搜索编号或站点", fleet_sort: "排序",
  sort_state: "按状态", sort_device: "按编号", sort_last_seen: "最近在线优先", sort_silent: "沉默最久优先",
  fleet_shown: "第 {from}–{to} 台，共 {total} 台", fleet_prev: "上一页", fleet_next: "下一页",
  fleet_legend: "状态（阈值 {min} 分钟）", ago: "{n}前", never: "从未",
  show_on_map: "在地图上显示", revoke: "撤销", revoke_confirm: "确认撤销 {id}", revoked: "已撤销 {id}",
  provision: "开通终端", device_id: "终端编号", kind: "类型", kiosk: "站内终端", phone: "手机",
  station: "地铁站编号", provision_button: "开通", provisioned: "已开通 {id}",
  shown_once: "仅显示一次：请立即复制；代理服务器只保存其哈希值。", password_word: "密码",
  config_file: "配置文件（var/kiosk.ini）",
  no_broker_account: "未创建代理服务器账号：{why}",
  why_no_admin_password: "API 没有代理服务器管理员账号（请设置 SR_MQTT_ADMIN_PASSWORD）。终端已加入列表；请用 python -m backend.accounts create 创建账号。",
  why_embedded_broker: "make run 正在使用内置代理服务器，它没有账号：任何客户端都能连接，终端无需密码。",
  status_at: "状态消息", report_at: "最近报告", device_detail: "终端",
  minutes_short: "{n} 分钟", hours_short: "{n} 小时", days_short: "{n} 天",
});

const fleet = { state: null, sort: "state", q: "", offset: 0, ctx: null, built: null, selected: null,
  provisioning: null, timer: null };
window.deskFleet = fleet;  // for the browser tests

function fill(text, values) { return text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? "")); }

function ago(iso) {
  const { t } = fleet.ctx;
  if (!iso) return t("never");
  const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  const span = minutes < 120 ? fill(t("minutes_short"), { n: minutes })
    : minutes < 2880 ? fill(t("hours_short"), { n: Math.round(minutes / 60) })
      : fill(t("days_short"), { n: Math.round(minutes / 1440) });
  return fill(t("ago"), { n: span });
}

function badge(state) {
  const { el, t } = fleet.ctx;
  return el("span", { class: `badge fleet-state state-${state}`, "data-state": state },
    el("span", { class: "symbol", "aria-hidden": "true" }, SYMBOLS[state]), " ", t(`fleet_state_${state}`));
}

function build() {
  const { el, t } = fleet.ctx;
  const view = document.getElementById("operator-view");
  const list = document.getElementById("fleet");
  const legend = el("div", { id: "fleet-legend", class: "fleet-legend", role: "group" });
  const search = el("input", { id: "fleet-search", type: "search", "aria-label": t("fleet_search"), placeholder: t("fleet_search") });
  search.addEventListener("input", () => { fleet.q = search.value; fleet.offset = 0; refreshList(); });
  const sort = el("select", { id: "fleet-sort", "aria-label": t("fleet_sort") },
    ...["state", "device", "last_seen", "silent"].map((s) => el("option", { value: s }, t(`sort_${s}`))));
  sort.addEventListener("change", () => { fleet.sort = sort.value; fleet.offset = 0; refreshList(); });
  const pager = el("div", { class: "fleet-pager" },
    el("button", { type: "button", id: "fleet-prev", onclick: () => { fleet.offset = Math.max(0, fleet.offset - PAGE); refreshList(); } }, t("fleet_prev")),
    el("span", { id: "fleet-shown", role: "status" }),
    el("button", { type: "button", id: "fleet-next", onclick: () => { fleet.offset += PAGE; refreshList(); } }, t("fleet_next")));
  const before = [legend, el("div", { class: "fleet-controls" }, search, sort), pager];
  const after = [el("div", { id: "fleet-detail" }), provisionForm()];
  for (const node of [...before, ...after]) node.classList.add("fleet-built");
  list.before(...before);
  list.after(...after);
  fleet.built = stateLang();
  fleet.provisioning = null;
  if (!fleet.timer) fleet.timer = setInterval(() => { if (!document.hidden && !view.hidden && fleet.ctx.state.me) refreshList(); }, 30000);
}

function stateLang() { return fleet.ctx.state.lang; }

function provisionForm() {
  const { el, t } = fleet.ctx;
  const form = el("form", { id: "provision-form", class: "provision" },
    el("h2", {}, t("provision")),
    el("label", {}, el("span", {}, t("device_id")), el("input", { name: "device_id", required: true, pattern: "[A-Za-z0-9_.\\-]{1,64}", placeholder: "kiosk-SH-999" })),
    el("label", {}, el("span", {}, t("kind")), el("select", { name: "kind" }, el("option", { value: "kiosk" }, t("kiosk")), el("option", { value: "phone" }, t("phone")))),
    el("label", {}, el("span", {}, t("station")), el("input", { name: "station_id", placeholder: "SH-013" })),
    el("p", { id: "provision-note", class: "meta" }),
    el("button", { type: "submit", id: "provision-button" }, t("provision_button")),
    el("div", { id: "provision-result", role: "status" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const result = document.getElementById("provision-result");
    const body = { device_id: f.device_id.value.trim(), kind: f.kind.value };
    if (f.station_id.value.trim()) body.station_id = f.station_id.value.trim();
    try {
      const made = await fleet.ctx.api("/fleet/devices", { method: "POST", body: JSON.stringify(body) });
      result.replaceChildren(el("p", { class: "ok" }, fill(t("provisioned"), { id: made.device.device_id })),
        made.password ? el("p", {}, `${t("password_word")}: `, el("code", { id: "provision-password" }, made.password)) : "",
        made.broker_account ? "" : el("p", { class: "meta" }, fill(t("no_broker_account"), { why: t(`why_${made.reason}`) })),
        el("p", { class: "meta" }, t("config_file")), el("pre", { id: "provision-config" }, made.config),
        made.password ? el("p", { class: "meta" }, t("shown_once")) : "");
      f.device_id.value = ""; f.station_id.value = "";
      fleet.selected = made.device.device_id;
      await refreshFleet(fleet.ctx);
    } catch (err) { result.replaceChildren(el("p", { class: "error" }, `${t("error")}: ${err.message}`)); }
  });
  return form;
}

function legend(page) {
  const { el, t } = fleet.ctx;
  const box = document.getElementById("fleet-legend");
  const total = Object.values(page.counts).reduce((a, b) => a + b, 0);
  const button = (state, label, count) => el("button", { type: "button", class: `fleet-filter${fleet.state === state ? " active" : ""}`,
    "aria-pressed": String(fleet.state === state), "data-state": state || "all",
    onclick: () => { fleet.state = state; fleet.offset = 0; refreshList(); } }, label, " ", el("span", { class: "count" }, String(count)));
  box.replaceChildren(el("span", { class: "meta" }, fill(t("fleet_legend"), { min: page.offline_after_min })),
    button(null, t("fleet_all"), total),
    ...STATES.map((s) => button(s, badge(s), page.counts[s])));
}

function item(d) {
  const { el, t, time } = fleet.ctx;
  return el("li", { class: `item device${fleet.selected === d.device_id ? " selected" : ""}`, "data-device-id": d.device_id,
    "data-state": d.fleet_state, "data-last-seen": d.last_seen_at || "" },
    el("div", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); openDevice(d.device_id); } }, d.device_id),
      ` · ${d.station_name || t(d.kind)} `, badge(d.fleet_state)),
    el("div", { class: "meta" }, `${t("last_seen")}: `, el("time", { datetime: d.last_seen_at || "" }, d.last_seen_at ? `${time(d.last_seen_at)} (${ago(d.last_seen_at)})` : t("never")),
      ` · ${t("outbox")}: ${d.outbox_depth ?? "—"} · ${t("version")}: ${d.app_version || "—"}`));
}

async function refreshList() {
  const { api, t } = fleet.ctx;
  const query = new URLSearchParams({ sort: fleet.sort, offset: String(fleet.offset), limit: String(PAGE) });
  if (fleet.state) query.set("state", fleet.state);
  if (fleet.q.trim()) query.set("q", fleet.q.trim());
  const page = await api(`/fleet?${query}`);
  if (page.total && fleet.offset >= page.total) { fleet.offset = Math.floor((page.total - 1) / PAGE) * PAGE; return refreshList(); }
  fleet.page = page;
  legend(page);
  const list = document.getElementById("fleet");
  list.replaceChildren(...(page.devices.length ? page.devices.map(item) : [fleet.ctx.el("li", { class: "empty" }, t("no_items"))]));
  document.getElementById("fleet-shown").textContent = fill(t("fleet_shown"),
    { from: page.total ? page.offset + 1 : 0, to: page.offset + page.devices.length, total: page.total });
  document.getElementById("fleet-prev").disabled = page.offset === 0;
  document.getElementById("fleet-next").disabled = page.offset + page.devices.length >= page.total;
  fleet.listed = (fleet.listed || 0) + 1;
}

function markers(layer) {
  const { layers } = fleet.ctx;
  layers.devices.clearLayers();
  fleet.markers = {};
  fleet.features = {};
  for (const f of layer.features) {
    const [lon, lat] = f.geometry.coordinates;
    const state = f.properties.fleet_state;
    const marker = L.marker([lat, lon], { keyboard: false, title: `${f.id} · ${fleet.ctx.t(`fleet_state_${state}`)}`,
      icon: L.divIcon({ className: `device-marker state-${state}`, html: SYMBOLS[state], iconSize: [16, 16] }) });
    marker.on("click", () => openDevice(f.id));
    marker.addTo(layers.devices);
    marker.getElement()?.setAttribute("data-device-id", f.id);
    fleet.markers[f.id] = marker;
    fleet.features[f.id] = f.properties;
  }
}

async function openDevice(deviceId) {
  const { el, t, time, api } = fleet.ctx;
  fleet.selected = deviceId;
  for (const li of document.querySelectorAll("#fleet li.device")) li.classList.toggle("selected", li.dataset.deviceId === deviceId);
  const d = fleet.features?.[deviceId] || (fleet.page?.devices || []).find((x) => x.device_id === deviceId) || { device_id: deviceId };
  const box = document.getElementById("fleet-detail");
  const revoke = el("button", { type: "button", id: "revoke-device", class: "danger", onclick: async () => {
    if (revoke.dataset.armed !== "1") { revoke.dataset.armed = "1"; revoke.textContent = fill(t("revoke_confirm"), { id: deviceId }); return; }
    await api(`/fleet/devices/${encodeURIComponent(deviceId)}`, { method: "DELETE" });
    box.replaceChildren(el("p", { class: "ok", role: "status" }, fill(t("revoked"), { id: deviceId })));
    fleet.selected = null;
    await refreshFleet(fleet.ctx);
  } }, t("revoke"));
  const show = el("button", { type: "button", onclick: () => {
    const m = fleet.markers?.[deviceId]; if (m) fleet.ctx.state.map.setView(m.getLatLng(), 15);
  } }, t("show_on_map"));
  box.replaceChildren(el("h2", {}, `${t("device_detail")}: ${deviceId}`),
    d.fleet_state ? el("p", {}, badge(d.fleet_state), ` ${d.station_name || ""}`) : "",
    el("p", { class: "meta" }, `${t("last_seen")}: ${d.last_seen_at ? `${time(d.last_seen_at)} (${ago(d.last_seen_at)})` : t("never")}`),
    el("p", { class: "meta" }, `${t("status_at")}: ${time(d.last_status_at)} · ${t("report_at")}: ${time(d.last_report_at)}`),
    el("p", {}, d.lat !== undefined || fleet.markers?.[deviceId] ? show : "", " ", revoke),
    el("div", { id: "device-dead-letters" }));
  const letters = await api(`/devices/${encodeURIComponent(deviceId)}/dead-letters`).catch(() => []);
  document.getElementById("device-dead-letters").replaceChildren(el("h3", {}, `${t("dead_letters")} (${letters.length})`),
    el("ul", {}, ...letters.map((x) => el("li", {}, `${time(x.received_at)} · ${x.reasons.map((r) => r.code).join(", ")} · ${x.size_bytes} B`))));
}

async function provisioningNote() {
  const { api, t } = fleet.ctx;
  const p = await api("/fleet/provisioning").catch(() => null);
  fleet.provisioning = p;
  document.getElementById("provision-note").textContent = p && !p.broker_accounts ? fill(t("no_broker_account"), { why: t(`why_${p.reason}`) }) : "";
}

// ctx: { api, el, t, time, layers, state } of desk.js. One fetch of the page, one of the map layer.
export async function refreshFleet(ctx) {
  fleet.ctx = ctx;
  if (fleet.built !== ctx.state.lang || !document.getElementById("fleet-legend")) {
    for (const node of document.querySelectorAll(".fleet-built")) node.remove();
    build();
  }
  const [, layer] = await Promise.all([refreshList(), ctx.api("/layers/devices"), fleet.provisioning ? null : provisioningNote()]);
  markers(layer);
  fleet.refreshed = (fleet.refreshed || 0) + 1;
}
