# Namespaces the platform owns. The app namespace is also in knative/base/namespace.yaml, with the same labels:
# Terraform creates it first because the Secret of the functions lives there.

resource "kubernetes_namespace_v1" "istio_system" {
  metadata {
    name = "istio-system"
  }
}

resource "kubernetes_namespace_v1" "knative_serving" {
  metadata {
    name = "knative-serving"
    labels = {
      # The activator sits in the request path; with STRICT mTLS in the app namespace it must be in the mesh.
      "istio-injection" = "enabled"
    }
  }
}

resource "kubernetes_namespace_v1" "knative_eventing" {
  metadata {
    name = "knative-eventing"
  }
}

resource "kubernetes_namespace_v1" "app" {
  metadata {
    name = var.app_namespace
    labels = {
      "istio-injection"              = "enabled"
      "bindings.knative.dev/include" = "true"
    }
  }
}

resource "kubernetes_namespace_v1" "data" {
  metadata {
    name = var.data_namespace
  }
}

resource "kubernetes_namespace_v1" "observability" {
  metadata {
    name = "observability"
  }
}
