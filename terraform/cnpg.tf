# PostgreSQL: the CloudNativePG operator, a Cluster (one primary, two replicas) and a PgBouncer Pooler in front.

resource "helm_release" "cnpg" {
  name             = "cnpg"
  repository       = "https://cloudnative-pg.github.io/charts"
  chart            = "cloudnative-pg"
  version          = var.cnpg_chart_version
  namespace        = "cnpg-system"
  create_namespace = true
}

resource "random_password" "db_app" {
  length  = 32
  special = false
}

# The application role's credentials, given to initdb; the DATABASE_URL of the functions is built from them.
resource "kubernetes_secret_v1" "db_app" {
  metadata {
    name      = "function-set-db-app"
    namespace = kubernetes_namespace_v1.data.metadata[0].name
  }
  type = "kubernetes.io/basic-auth"
  data = {
    username = "app"
    password = random_password.db_app.result
  }
}

resource "kubernetes_manifest" "db_cluster" {
  manifest = yamldecode(templatefile("${path.module}/manifests/cnpg-cluster.yaml.tftpl", {
    namespace         = kubernetes_namespace_v1.data.metadata[0].name
    instances         = var.postgres_instances
    storage_size      = var.postgres_storage_size
    app_secret        = kubernetes_secret_v1.db_app.metadata[0].name
    statement_timeout = var.postgres_statement_timeout
  }))

  depends_on = [helm_release.cnpg]
}

resource "kubernetes_manifest" "db_pooler" {
  manifest = yamldecode(templatefile("${path.module}/manifests/cnpg-pooler.yaml.tftpl", {
    namespace         = kubernetes_namespace_v1.data.metadata[0].name
    instances         = var.pgbouncer_instances
    max_client_conn   = var.pgbouncer_max_client_conn
    default_pool_size = var.pgbouncer_default_pool_size
  }))

  depends_on = [kubernetes_manifest.db_cluster]
}

locals {
  database_url = "postgresql://app:${random_password.db_app.result}@function-set-db-pooler-rw.${var.data_namespace}.svc.cluster.local:5432/app"
}
