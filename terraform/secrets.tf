# The one Secret the functions and the migration Job read (knative/base references its keys, never its values).
# Values are generated here, so they also live in the Terraform state: keep the state in an encrypted backend.

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "random_password" "first_superuser" {
  length  = 24
  special = false
}

# Tokens are signed with Ed25519 by auth; users, items and the Istio gateway (through the JWKS) verify them.
resource "tls_private_key" "jwt" {
  algorithm = "ED25519"
}

resource "kubernetes_secret_v1" "app" {
  metadata {
    name      = "function-set-secrets"
    namespace = kubernetes_namespace_v1.app.metadata[0].name
  }
  data = {
    "database-url"             = local.database_url
    "secret-key"               = random_password.secret_key.result
    "jwt-private-key"          = tls_private_key.jwt.private_key_pem
    "jwt-public-key"           = tls_private_key.jwt.public_key_pem
    "upstash-redis-rest-token" = random_password.redis_rest_token.result
    "first-superuser-password" = coalesce(var.first_superuser_password, random_password.first_superuser.result)
    # Given, not generated: the mail provider issues it. Empty is a valid value, so the key always exists.
    "smtp-password" = var.smtp_password
  }
}

# serverless-redis-http checks the same token; it runs in the data namespace, so it gets its own copy.
resource "kubernetes_secret_v1" "redis_rest" {
  metadata {
    name      = "serverless-redis-http"
    namespace = kubernetes_namespace_v1.data.metadata[0].name
  }
  data = {
    "upstash-redis-rest-token" = random_password.redis_rest_token.result
  }
}
