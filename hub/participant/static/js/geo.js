// Pure functions the page and the service worker share: is a position in an action's area, which
// coarse regions to subscribe to, and should this push be shown. No I/O; tested with node's runner.

const EARTH_RADIUS_M = 6371008.8;

export function distanceM(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

// Ray casting on (lat, lon) pairs; the ring is closed implicitly. Fine for areas of a few km.
export function inPolygon(lat, lon, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [yi, xi] = points[i];
    const [yj, xj] = points[j];
    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function inArea(position, area) {
  if (!position || !area) return false;
  const { lat, lon } = position;
  if (area.type === "circle") return distanceM(lat, lon, area.lat, area.lon) <= area.radius_m;
  if (area.type === "polygon") return inPolygon(lat, lon, area.points);
  return false;
}

// The app channel's coarse grid: 0.1 degree cells named after their south-west corner.
export function cellOf(lat, lon) {
  const i = Math.floor(lat * 10 + 1e-9);
  const j = Math.floor(lon * 10 + 1e-9);
  const name = (k) => (k / 10).toFixed(1).replace(/^-0\.0$/, "0.0");
  return `r:${name(i)}:${name(j)}`;
}

// A place's cell and its eight neighbours, so an action just across a cell edge still arrives.
export function cellsAround(lat, lon) {
  const out = new Set();
  for (const dy of [-0.1, 0, 0.1]) for (const dx of [-0.1, 0, 0.1]) out.add(cellOf(lat + dy, lon + dx));
  return [...out];
}

export function regionsFor(places, max = 64) {
  const out = new Set();
  for (const p of places) for (const c of cellsAround(p.lat, p.lon)) out.add(c);
  return [...out].slice(0, max);
}

// Whether the device shows a push. A start (or an enlarged area) is shown only inside the area, at
// the device's own position; without a known position it errs towards alerting. Updates and the
// closing message follow an action the device showed before.
export function decide(payload, position, shownBefore) {
  if (!payload || payload.v !== 1 || !payload.action) return { show: false, reason: "unknown" };
  if (payload.kind === "start") {
    if (!position) return { show: true, reason: "no_position" };
    return inArea(position, payload.area) ? { show: true, reason: "inside" } : { show: false, reason: "outside" };
  }
  if (shownBefore) return { show: true, reason: "follow_up" };
  if (position && inArea(position, payload.area)) return { show: true, reason: "inside" };
  return { show: false, reason: position ? "outside" : "not_shown_before" };
}

// A message this device has handled already: pushes and the page's look-ups of the current actions
// bring the same versions, and a push may come twice. A version shown is never shown again; one not
// shown is decided again (the device may have moved into the area since).
export function handledAlready(payload, before) {
  if (!before || !payload) return false;
  if (before.version > payload.version) return true;
  return before.version === payload.version && !!before.shown;
}

// A device that showed an action follows it: a newer start (what a look-up answers for a running
// action that changed) is an update to it, shown wherever the device is now.
export function asFollowUp(payload, before) {
  if (before && before.shown && payload.kind === "start") return { ...payload, kind: "update" };
  return payload;
}

// The closing of an action this device never received tells it nothing (a look-up answers the
// closings of the last hour to every device of the cells; a push brings one only after the start).
export function strangeClosing(payload, before) {
  return !!payload && payload.kind === "end" && !before;
}
