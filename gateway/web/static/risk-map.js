// The risk map, drawn with the vendored Leaflet on a plain background (no tiles from the internet):
// each district as the area its insured enterprises cover (the convex hull of their positions, computed
// by the risk service; not a legal boundary), coloured by its open hazards (the legend's classes), and
// each town with open hazards as a circle sized by their number, red where a major one is open.
var RISK_CLASSES = [
  { min: 0, color: "#e8f1e4", label: "0" },
  { min: 1, color: "#fde7a9", label: "1–2" },
  { min: 3, color: "#f7a35c", label: "3–5" },
  { min: 6, color: "#d7301f", label: "6 及以上" }
];

function riskColour(open) {
  var colour = RISK_CLASSES[0].color;
  RISK_CLASSES.forEach(function (c) { if (open >= c.min) { colour = c.color; } });
  return colour;
}

window.addEventListener("load", function () {
  var box = document.getElementById("risk-map");
  if (!box || !window.L) { return; }
  fetch(box.getAttribute("data-source"), { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var map = L.map(box, { attributionControl: false, zoomSnap: 0.25 });
      var areas = L.geoJSON({ type: "FeatureCollection",
                              features: (data.districts || []).filter(function (f) { return f.geometry; }) }, {
        style: function (feature) {
          var p = feature.properties;
          return { color: "#5a5a5a", weight: 1.5, fillColor: riskColour(p.open_general + p.open_major),
                   fillOpacity: 0.7, className: "risk-area" };
        },
        onEachFeature: function (feature, area) {
          var p = feature.properties;
          area.bindTooltip(p.district + "：企业 " + p.enterprises + "，未整改一般隐患 " + p.open_general +
                           "，重大隐患 " + p.open_major, { sticky: true });
        }
      }).addTo(map);
      var points = L.geoJSON(data, {
        pointToLayer: function (feature, latlng) {
          var p = feature.properties, open = p.open_general + p.open_major;
          return L.circleMarker(latlng, { radius: 6 + Math.min(18, 3 * open), weight: 2,
                                          color: p.open_major ? "#a3161b" : "#0b4f8a", fillOpacity: 0.45 });
        },
        onEachFeature: function (feature, marker) {
          var p = feature.properties;
          marker.bindTooltip(p.district + " " + p.town + "：一般 " + p.open_general + "，重大 " + p.open_major,
                             { permanent: true, direction: "right" });
        }
      }).addTo(map);
      var bounds = areas.getBounds();
      if (points.getBounds().isValid()) { bounds = bounds.isValid() ? bounds.extend(points.getBounds()) : points.getBounds(); }
      if (bounds.isValid()) { map.fitBounds(bounds.pad(0.2), { maxZoom: 12 }); } else { map.setView([39.9, 116.4], 9); }
      box.setAttribute("data-areas", String(areas.getLayers().length));
      box.setAttribute("data-drawn", String(points.getLayers().length));
    });
});
