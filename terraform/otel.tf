# The OpenTelemetry Collector every function sends its traces to (OTEL_EXPORTER_OTLP_ENDPOINT in
# knative/base/config.yaml: otel-collector.observability:4317, OTLP/gRPC).

locals {
  otel_exporters = var.otlp_export_endpoint == null ? {
    debug = { verbosity = "basic" }
    } : {
    otlp = { endpoint = var.otlp_export_endpoint }
  }
}

resource "helm_release" "otel_collector" {
  name       = "otel-collector"
  repository = "https://open-telemetry.github.io/opentelemetry-helm-charts"
  chart      = "opentelemetry-collector"
  version    = var.otel_collector_chart_version
  namespace  = kubernetes_namespace_v1.observability.metadata[0].name

  values = [yamlencode({
    mode             = "deployment"
    replicaCount     = 2
    fullnameOverride = "otel-collector"
    image            = { repository = "otel/opentelemetry-collector-contrib" }
    config = {
      receivers = {
        otlp = {
          protocols = {
            grpc = { endpoint = "0.0.0.0:4317" }
            http = { endpoint = "0.0.0.0:4318" }
          }
        }
      }
      processors = {
        batch          = {}
        memory_limiter = { check_interval = "1s", limit_percentage = 80, spike_limit_percentage = 25 }
      }
      exporters = local.otel_exporters
      service = {
        pipelines = {
          traces = {
            receivers  = ["otlp"]
            processors = ["memory_limiter", "batch"]
            exporters  = keys(local.otel_exporters)
          }
        }
      }
    }
  })]
}
