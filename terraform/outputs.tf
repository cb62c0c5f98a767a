output "app_namespace" {
  description = "Namespace to deploy knative/overlays/* into (kubectl apply -k, or skaffold)."
  value       = kubernetes_namespace_v1.app.metadata[0].name
}

output "ingress_gateway_service" {
  description = "The Istio ingress gateway Service; its external address is the API's address (http://<address>/api)."
  value       = "${helm_release.istio_ingressgateway.namespace}/${helm_release.istio_ingressgateway.name}"
}

output "database_url" {
  description = "DATABASE_URL of the functions: the PgBouncer Pooler's read-write service."
  value       = local.database_url
  sensitive   = true
}

output "upstash_redis_rest_url" {
  description = "UPSTASH_REDIS_REST_URL of the functions: serverless-redis-http in front of Redis."
  value       = "http://${kubernetes_service_v1.serverless_redis_http.metadata[0].name}.${var.data_namespace}.svc.cluster.local"
}

output "otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of the functions: the OpenTelemetry Collector (OTLP/gRPC)."
  value       = "http://otel-collector.${kubernetes_namespace_v1.observability.metadata[0].name}.svc.cluster.local:4317"
}

output "jwt_public_key_pem" {
  description = "Public key the tokens are verified with (also served by auth at /api/auth/jwks.json)."
  value       = tls_private_key.jwt.public_key_pem
}

output "first_superuser_password" {
  description = "Password of the first superuser (FIRST_SUPERUSER_EMAIL in knative/base/config.yaml)."
  value       = kubernetes_secret_v1.app.data["first-superuser-password"]
  sensitive   = true
}
