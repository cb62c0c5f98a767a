// Swagger UI start-up, served as a file so the page's Content-Security-Policy can forbid inline scripts.
window.ui = SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // Keep the token across reloads (in this browser's localStorage), so Authorize is needed once.
  persistAuthorization: true,
  // The default sends the document to validator.swagger.io for a badge: nothing may leave the host.
  validatorUrl: null,
  displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
