// Swagger UI on the gateway's own OpenAPI document; "Try it out" calls this same origin
// with the bearer token entered under "Authorize". No inline script: the page's CSP forbids it.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                                docExpansion: "none", defaultModelsExpandDepth: 0 });
});
