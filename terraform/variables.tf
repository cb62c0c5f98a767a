# Every input of the platform. Defaults give a working cluster; override them in a *.tfvars file.

variable "kubeconfig_path" {
  description = "Path to the kubeconfig of the target cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context to use; null means the current context."
  type        = string
  default     = null
}

variable "app_namespace" {
  description = "Namespace of the Knative Services (must match knative/base: function-set)."
  type        = string
  default     = "function-set"
}

variable "data_namespace" {
  description = "Namespace of PostgreSQL, PgBouncer, Redis and serverless-redis-http (must match the URLs in knative/base/config.yaml)."
  type        = string
  default     = "function-set-data"
}

variable "istio_version" {
  description = "Istio Helm chart version (base, istiod, gateway)."
  type        = string
  default     = "1.24.2"
}

variable "knative_operator_version" {
  description = "Knative Operator Helm chart version; it installs Knative Serving, net-istio and Eventing."
  type        = string
  default     = "1.16.1"
}

variable "knative_version" {
  description = "Knative Serving and Eventing version the operator installs."
  type        = string
  default     = "1.16"
}

variable "cnpg_chart_version" {
  description = "CloudNativePG operator Helm chart version."
  type        = string
  default     = "0.23.0"
}

variable "otel_collector_chart_version" {
  description = "OpenTelemetry Collector Helm chart version."
  type        = string
  default     = "0.111.2"
}

variable "postgres_instances" {
  description = "PostgreSQL instances of the CloudNativePG Cluster: one primary, the rest streaming replicas."
  type        = number
  default     = 3

  validation {
    condition     = var.postgres_instances >= 3
    error_message = "Keep at least one primary and two replicas."
  }
}

variable "postgres_storage_size" {
  description = "Volume size of each PostgreSQL instance."
  type        = string
  default     = "10Gi"
}

variable "postgres_statement_timeout" {
  description = "statement_timeout set on the application role. PgBouncer does not forward the client's own (DB_STATEMENT_TIMEOUT_MS), so the role carries it."
  type        = string
  default     = "10s"
}

variable "pgbouncer_instances" {
  description = "PgBouncer pods of the Pooler."
  type        = number
  default     = 2
}

variable "pgbouncer_max_client_conn" {
  description = "max_client_conn of each PgBouncer pod. The prod overlay's max-scale values are sized so that sum(max-scale) x DB_POOL_MAX stays under it (knative/overlays/prod/autoscaling.yaml)."
  type        = number
  default     = 1000
}

variable "pgbouncer_default_pool_size" {
  description = "Server connections per PgBouncer pod (per database and user); pgbouncer_instances x this stays well under PostgreSQL's max_connections."
  type        = number
  default     = 20
}

variable "redis_image" {
  description = "Redis image (cache and shared rate limits; nothing durable lives there)."
  type        = string
  default     = "redis:7.4-alpine"
}

variable "serverless_redis_http_image" {
  description = "serverless-redis-http: the Upstash-compatible REST front of Redis that @upstash/redis speaks to."
  type        = string
  default     = "hiett/serverless-redis-http:0.0.10"
}

variable "otlp_export_endpoint" {
  description = "Where the collector forwards traces (OTLP/gRPC host:port of a tracing backend); null keeps them in the collector's debug log."
  type        = string
  default     = null
}

variable "first_superuser_password" {
  description = "Password of the first superuser created by the migration Job; null generates one (see the first_superuser_password output)."
  type        = string
  default     = null
  sensitive   = true
}

variable "smtp_password" {
  description = "Password of the SMTP login (SMTP_USER in knative/base/config.yaml); empty while the server needs no login or none is configured."
  type        = string
  default     = ""
  nullable    = false
  sensitive   = true
}
