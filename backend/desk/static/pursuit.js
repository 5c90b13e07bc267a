// Metro-aware pursuit on the map (GET /api/v1/desk/pursuits, backend/pursuit/): each trail's
// sightings joined by a line, the most likely ride ahead dashed, and every station ahead with
// its time window and probability (alerted stations ringed). Redrawn on every live change.
import { WORDS } from "./i18n.js";

Object.assign(WORDS.en, {
  pursuit_seen: "seen", pursuit_expected: "expected", pursuit_alerted: "alerted",
  pursuit_not_alerted: "below the threshold", pursuit_withdrawn: "withdrawn", pursuit_expired: "window passed",
});
Object.assign(WORDS.zh, {
  pursuit_seen: "目击", pursuit_expected: "预计", pursuit_alerted: "已通知",
  pursuit_not_alerted: "低于阈值", pursuit_withdrawn: "已撤回", pursuit_expired: "时间窗已过",
});

const TRAIL_COLOUR = "#7b2cbf";
const hm = (iso) => new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });

export async function refreshPursuits({ api, t, time, layers }) {
  const trails = await api("/pursuits");
  layers.pursuits.clearLayers();
  for (const trail of trails) {
    const faded = trail.state !== "open";
    const seen = trail.seen.map((s) => [s.lat, s.lon]);
    if (seen.length > 1) {
      L.polyline(seen, { color: TRAIL_COLOUR, weight: 4, opacity: faded ? .35 : .9, className: "pursuit-trail" })
        .bindTooltip(trail.why || trail.trail_id).addTo(layers.pursuits);
    }
    for (const s of trail.seen) {
      L.circleMarker([s.lat, s.lon], { radius: 5, color: TRAIL_COLOUR, fillColor: TRAIL_COLOUR, fillOpacity: 1, className: "pursuit-seen" })
        .bindTooltip(`${t("pursuit_seen")} ${s.name} ${time(s.at)}`).addTo(layers.pursuits);
    }
    if (trail.path.length > 1 && !faded) {
      L.polyline(trail.path.map(([lon, lat]) => [lat, lon]), { color: TRAIL_COLOUR, weight: 3, dashArray: "6 6", className: "pursuit-path" })
        .addTo(layers.pursuits);
    }
    if (trail.state === "withdrawn") continue;
    for (const stop of trail.stops) {
      const label = `${stop.name} ${hm(stop.earliest)}–${hm(stop.latest)} (p ${stop.probability.toFixed(2)}) · `
        + (trail.state === "expired" ? t("pursuit_expired") : t(stop.alerted ? "pursuit_alerted" : "pursuit_not_alerted"));
      L.circleMarker([stop.lat, stop.lon], {
        radius: stop.alerted ? 9 : 5, weight: stop.alerted ? 3 : 1, color: TRAIL_COLOUR, fill: !stop.alerted,
        fillOpacity: .3, dashArray: stop.alerted ? null : "2 3", className: stop.alerted ? "pursuit-stop alerted" : "pursuit-stop",
      }).bindTooltip(`${t("pursuit_expected")} ${label}`).addTo(layers.pursuits);
    }
  }
  return trails;
}
