// The risk map: the GeoJSON of open hazards per town, drawn with the vendored Leaflet on a
// plain background (no tiles from the internet). A circle's size follows the open hazards;
// red where a major one is open.
window.addEventListener("load", function () {
  var box = document.getElementById("risk-map");
  if (!box || !window.L) { return; }
  fetch(box.getAttribute("data-source"), { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var map = L.map(box, { attributionControl: false, zoomSnap: 0.25 });
      var layer = L.geoJSON(data, {
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
      var bounds = layer.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds.pad(0.5), { maxZoom: 12 }); } else { map.setView([39.9, 116.4], 9); }
      box.setAttribute("data-drawn", String(layer.getLayers().length));
    });
});
