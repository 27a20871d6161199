// The map: Leaflet over the bundled outline (or a configured tile server), and the area editor.
/* global L */

import { lang, onLangChange, t } from "./i18n.js";

const NL_VIEW = { center: [52.2, 5.3], zoom: 7 };
const AREA_STYLE = { color: "#ffcc4d", weight: 3, fillColor: "#ffcc4d", fillOpacity: 0.08 };
const EDIT_STYLE = { color: "#6cc4ff", weight: 3, dashArray: "6 6", fillColor: "#6cc4ff", fillOpacity: 0.12 };

let outline = null;

/** The bundled outline GeoJSON (fetched once). */
export function loadOutline() {
  outline ??= fetch("data/outline.geojson").then((r) => {
    if (!r.ok) throw new Error(`outline: HTTP ${r.status}`);
    return r.json();
  });
  return outline;
}

/** Places for the location field: [{name_nl, name_en, lat, lon}]. */
export async function places() {
  const data = await loadOutline();
  return data.features
    .filter((f) => f.properties.kind === "place")
    .map((f) => ({ ...f.properties, lat: f.geometry.coordinates[1], lon: f.geometry.coordinates[0] }));
}

function placeName(props) {
  return lang() === "en" ? props.name_en : props.name_nl;
}

/** A Leaflet map in container: tiles when configured, else the offline outline with town labels. */
export function createMap(container, config, labelKey) {
  container.dataset.i18nAttr = `aria-label:${labelKey}`;
  container.setAttribute("aria-label", t(labelKey));
  const map = L.map(container, {
    ...NL_VIEW,
    minZoom: 5,
    maxZoom: config.tiles ? 19 : 14,
    zoomSnap: 0.5,
    keyboard: true,
    attributionControl: Boolean(config.tiles),
  });
  L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
  if (config.tiles) {
    map.attributionControl.setPrefix(false);
    L.tileLayer(config.tiles.url, { maxZoom: 19, attribution: escapeText(config.tiles.attribution || "") }).addTo(map);
  } else {
    container.classList.add("outline-map");
    const note = L.control({ position: "bottomleft" });
    note.onAdd = () => {
      const el = L.DomUtil.create("div", "map-note");
      el.dataset.i18n = "map.outline_note";
      el.textContent = t("map.outline_note");
      return el;
    };
    note.addTo(map);
    // the outline arrives later: the map may have been removed by then (the view was left)
    let removed = false;
    map.on("unload", () => { removed = true; });
    loadOutline().then((data) => { if (!removed) drawOutline(map, data); });
  }
  const zoomClass = () => {
    container.classList.toggle("zoom-far", map.getZoom() < 8.5);
  };
  map.on("zoomend", zoomClass);
  zoomClass();
  return map;
}

function drawOutline(map, data) {
  const labels = [];
  L.geoJSON(data, {
    interactive: false,
    style: (f) =>
      f.properties.kind === "dam"
        ? { color: "#5f7488", weight: 2, interactive: false }
        : {
            color: f.properties.country === "NL" ? "#8ea3b8" : "#5f7488",
            weight: f.properties.country === "NL" ? 1.5 : 1,
            fillColor: f.properties.country === "NL" ? "#2b3a48" : "#1f2a35",
            fillOpacity: 1,
            interactive: false,
          },
    pointToLayer: (f, latlng) => {
      const marker = L.circleMarker(latlng, {
        radius: f.properties.rank === 1 ? 3 : 2,
        color: "#c9d4df",
        weight: 1,
        fillColor: "#c9d4df",
        fillOpacity: 1,
        interactive: false,
      });
      marker.bindTooltip(placeName(f.properties), {
        permanent: true,
        direction: "right",
        offset: [4, 0],
        className: `place-label rank-${f.properties.rank}`,
      });
      labels.push([marker, f.properties]);
      return marker;
    },
  }).addTo(map);
  onLangChange(() => {
    for (const [marker, props] of labels) marker.setTooltipContent(placeName(props));
  });
}

function escapeText(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

/** Draw a stored area ({type: circle|polygon, ...}) into a layer group and return its bounds. */
export function drawArea(group, area, style = AREA_STYLE) {
  group.clearLayers();
  if (!area) return null;
  if (area.type === "circle") {
    const circle = L.circle([area.lat, area.lon], { radius: area.radius_m, ...style, interactive: false }).addTo(group);
    L.circleMarker([area.lat, area.lon], { radius: 5, color: "#0d1b26", weight: 2, fillColor: "#ffffff", fillOpacity: 1, interactive: false }).addTo(group);
    return circle.getBounds();
  }
  const poly = L.polygon(area.points, { ...style, interactive: false }).addTo(group);
  return poly.getBounds();
}

/**
 * Choosing an area on a map: a circle (location + mode of transport or own radius) or a polygon.
 * Every change calls onChange(editor); editor.area() is the API's area object, or null while incomplete.
 */
export class AreaEditor {
  constructor(map, config, onChange) {
    this.map = map;
    this.config = config;
    this.onChange = onChange;
    this.mode = "circle";
    this.center = null;
    this.transport = "on_foot";
    this.customRadius = null;
    this.plannedRadius = null;
    this.points = [];
    this.group = L.layerGroup().addTo(map);
    this._click = (e) => this.clicked(e.latlng);
    map.on("click", this._click);
    map.getContainer().classList.add("picking");
  }

  destroy() {
    this.map.off("click", this._click);
    this.map.getContainer().classList.remove("picking");
    this.group.remove();
  }

  clicked(latlng) {
    const lat = round(latlng.lat), lon = round(latlng.lng);
    if (this.mode === "circle") this.setCenter(lat, lon, { pan: false });
    else this.addPoint(lat, lon);
  }

  radius() {
    if (this.transport === "custom") return this.customRadius;
    return this.plannedRadius ?? this.config.radius_m[this.transport] ?? null;
  }

  setMode(mode) {
    this.mode = mode;
    this.changed();
  }

  setCenter(lat, lon, { pan = true } = {}) {
    this.center = [lat, lon];
    this.changed();
    if (pan) this.fit();
  }

  setTransport(value) {
    this.transport = value;
    this.plannedRadius = null;
    this.changed();
  }

  setCustomRadius(metres) {
    this.customRadius = metres > 0 ? metres : null;
    this.changed();
  }

  /** The hub's own answer (the dry run's audience.radius_m) wins over the local table. */
  setPlannedRadius(metres) {
    if (this.transport === "custom" || !metres || metres === this.plannedRadius) return;
    this.plannedRadius = metres;
    this.draw();
  }

  addPoint(lat, lon) {
    this.points.push([lat, lon]);
    this.changed();
  }

  undoPoint() {
    this.points.pop();
    this.changed();
  }

  clearPoints() {
    this.points = [];
    this.changed();
  }

  area() {
    if (this.mode === "polygon") return this.points.length >= 3 ? { type: "polygon", points: this.points.map((p) => [...p]) } : null;
    if (!this.center) return null;
    const [lat, lon] = this.center;
    if (this.transport === "custom") return this.customRadius ? { type: "circle", lat, lon, radius_m: this.customRadius } : null;
    return { type: "circle", lat, lon, transport: this.transport };
  }

  changed() {
    this.draw();
    this.onChange(this);
  }

  draw() {
    this.group.clearLayers();
    if (this.mode === "circle" && this.center) {
      const r = this.radius();
      if (r) L.circle(this.center, { radius: r, ...EDIT_STYLE, interactive: false }).addTo(this.group);
      L.circleMarker(this.center, { radius: 6, color: "#0d1b26", weight: 2, fillColor: "#ffffff", fillOpacity: 1, interactive: false }).addTo(this.group);
    } else if (this.mode === "polygon" && this.points.length) {
      if (this.points.length >= 3) L.polygon(this.points, { ...EDIT_STYLE, interactive: false }).addTo(this.group);
      else L.polyline(this.points, { ...EDIT_STYLE, interactive: false }).addTo(this.group);
      for (const p of this.points) {
        L.circleMarker(p, { radius: 5, color: "#0d1b26", weight: 2, fillColor: "#6cc4ff", fillOpacity: 1, interactive: false }).addTo(this.group);
      }
    }
  }

  fit() {
    const layers = this.group.getLayers();
    if (!layers.length) return;
    const bounds = L.featureGroup(layers).getBounds();
    if (bounds.isValid()) this.map.fitBounds(bounds.pad(0.35), { maxZoom: 13 });
  }
}

export function round(x) {
  return Math.round(x * 1e5) / 1e5;
}
