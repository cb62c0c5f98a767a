# Redis for the cache and the shared rate limits, behind serverless-redis-http: the functions speak the Upstash
# REST protocol (@upstash/redis) so the same code runs on Lambda with Upstash and here with this pair.
# Redis keeps nothing that must survive a restart (cache entries, rate-limit windows, idempotency keys expire).

resource "random_password" "redis_rest_token" {
  length  = 48
  special = false
}

resource "kubernetes_deployment_v1" "redis" {
  metadata {
    name      = "redis"
    namespace = kubernetes_namespace_v1.data.metadata[0].name
    labels    = { "app.kubernetes.io/name" = "redis" }
  }
  spec {
    replicas = 1
    selector {
      match_labels = { "app.kubernetes.io/name" = "redis" }
    }
    template {
      metadata {
        labels = { "app.kubernetes.io/name" = "redis" }
      }
      spec {
        container {
          name  = "redis"
          image = var.redis_image
          # A cache: bounded memory, least-recently-used keys go first, no persistence.
          args = ["--maxmemory", "200mb", "--maxmemory-policy", "allkeys-lru", "--save", "", "--appendonly", "no"]
          port {
            container_port = 6379
          }
          resources {
            requests = { cpu = "50m", memory = "128Mi" }
            limits   = { memory = "256Mi" }
          }
          readiness_probe {
            tcp_socket {
              port = 6379
            }
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "redis" {
  metadata {
    name      = "redis"
    namespace = kubernetes_namespace_v1.data.metadata[0].name
  }
  spec {
    selector = { "app.kubernetes.io/name" = "redis" }
    port {
      port        = 6379
      target_port = 6379
    }
  }
}

resource "kubernetes_deployment_v1" "serverless_redis_http" {
  metadata {
    name      = "serverless-redis-http"
    namespace = kubernetes_namespace_v1.data.metadata[0].name
    labels    = { "app.kubernetes.io/name" = "serverless-redis-http" }
  }
  spec {
    replicas = 2
    selector {
      match_labels = { "app.kubernetes.io/name" = "serverless-redis-http" }
    }
    template {
      metadata {
        labels = { "app.kubernetes.io/name" = "serverless-redis-http" }
      }
      spec {
        container {
          name  = "srh"
          image = var.serverless_redis_http_image
          env {
            name  = "SRH_MODE"
            value = "env"
          }
          env {
            name = "SRH_TOKEN"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.redis_rest.metadata[0].name
                key  = "upstash-redis-rest-token"
              }
            }
          }
          env {
            name  = "SRH_CONNECTION_STRING"
            value = "redis://redis.${var.data_namespace}.svc.cluster.local:6379"
          }
          port {
            container_port = 80
          }
          resources {
            requests = { cpu = "50m", memory = "128Mi" }
            limits   = { memory = "256Mi" }
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "serverless_redis_http" {
  metadata {
    # UPSTASH_REDIS_REST_URL in knative/base/config.yaml points here.
    name      = "serverless-redis-http"
    namespace = kubernetes_namespace_v1.data.metadata[0].name
  }
  spec {
    selector = { "app.kubernetes.io/name" = "serverless-redis-http" }
    port {
      port        = 80
      target_port = 80
    }
  }
}
