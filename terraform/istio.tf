# Istio: CRDs and cluster resources (base), the control plane (istiod), and the ingress gateway that
# knative/base/istio.yaml's Gateway selects (label istio=ingressgateway, from the release name).

locals {
  istio_repository = "https://istio-release.storage.googleapis.com/charts"
}

resource "helm_release" "istio_base" {
  name       = "istio-base"
  repository = local.istio_repository
  chart      = "base"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_system.metadata[0].name
}

resource "helm_release" "istiod" {
  name       = "istiod"
  repository = local.istio_repository
  chart      = "istiod"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_system.metadata[0].name

  values = [yamlencode({
    meshConfig = {
      # "/api//items" must not slip past the gateway's path-based JWT policy: merge slashes before matching.
      pathNormalization = { normalization = "MERGE_SLASHES" }
      # Prometheus scrapes app metrics through the sidecar (prometheus.io/* annotations) despite STRICT mTLS.
      enablePrometheusMerge = true
    }
  })]

  depends_on = [helm_release.istio_base]
}

resource "helm_release" "istio_ingressgateway" {
  name       = "istio-ingressgateway"
  repository = local.istio_repository
  chart      = "gateway"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_system.metadata[0].name

  depends_on = [helm_release.istiod]
}
