// Choosing a spot: on the map (Leaflet, when it loaded), by coordinates, or by a place from the table.

import { h } from "./dom.js";

const NL_BOUNDS = [[50.75, 3.35], [53.55, 7.25]];

export function parseCoordinates(text) {
  const m = String(text).trim().match(/^(-?\d{1,2}(?:[.,]\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:[.,]\d+)?)$/);
  if (!m) return null;
  const lat = Number(m[1].replace(",", "."));
  const lon = Number(m[2].replace(",", "."));
  if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return null;
  return { lat, lon };
}

export function makeMap(container, config, onPick) {
  const L = window.L;
  if (!L) return null;
  const map = L.map(container, { keyboard: true, zoomSnap: 0.5 });
  map.fitBounds(NL_BOUNDS);
  if (config.tiles) {
    L.tileLayer(config.tiles.url, { attribution: config.tiles.attribution || "", maxZoom: 18 }).addTo(map);
  } else {
    fetch("outline.geojson")
      .then((r) => (r.ok ? r.json() : null))
      .then((shape) => shape && L.geoJSON(shape, {
        filter: (f) => f.geometry && f.geometry.type !== "Point",
        style: { color: "#123a63", weight: 1, fillOpacity: 0.05 },
      }).addTo(map))
      .catch(() => {});
  }
  let marker = null;
  const place = (lat, lon, zoom) => {
    if (marker) marker.setLatLng([lat, lon]);
    else marker = L.marker([lat, lon], { keyboard: false }).addTo(map);
    if (zoom) map.setView([lat, lon], zoom);
  };
  map.on("click", (e) => {
    place(e.latlng.lat, e.latlng.lng);
    onPick({ lat: Number(e.latlng.lat.toFixed(5)), lon: Number(e.latlng.lng.toFixed(5)) });
  });
  const show = (spots) => {
    for (const s of spots) {
      L.circleMarker([s.lat, s.lon], { radius: 6, color: "#0b63b6", weight: 2, fillOpacity: 0.4, interactive: false }).addTo(map);
    }
  };
  return { place, map, show };
}

export function placeOptions(places) {
  return h("datalist", { id: "places" }, places.map((p) => h("option", { value: p.name }, `${p.name} (${p.province})`)));
}

export function findPlace(places, text) {
  const want = String(text).trim().toLowerCase();
  return places.find((p) => p.name.toLowerCase() === want) || null;
}
