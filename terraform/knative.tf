# Knative through its operator: Serving with net-istio (KnativeServing CR), and Eventing (KnativeEventing CR).
# The CRs' config, including config-features, is in manifests/knative-*.yaml.tftpl.
#
# Feature flags relied on: none beyond stock Serving. The Services use only container-level securityContext
# fields that stock Knative accepts; "secure-pod-defaults: enabled" makes the same settings the default for any
# other Service in the cluster.

resource "helm_release" "knative_operator" {
  name             = "knative-operator"
  repository       = "https://knative.github.io/operator"
  chart            = "knative-operator"
  version          = var.knative_operator_version
  namespace        = "knative-operator"
  create_namespace = true

  depends_on = [helm_release.istiod]
}

# kubernetes_manifest needs the operator's CRDs at plan time: on a new cluster, apply the helm releases first
# (see the README's Deploy section).
resource "kubernetes_manifest" "knative_serving" {
  manifest = yamldecode(templatefile("${path.module}/manifests/knative-serving.yaml.tftpl", {
    namespace = kubernetes_namespace_v1.knative_serving.metadata[0].name
    version   = var.knative_version
  }))

  depends_on = [helm_release.knative_operator, helm_release.istio_ingressgateway]
}

resource "kubernetes_manifest" "knative_eventing" {
  manifest = yamldecode(templatefile("${path.module}/manifests/knative-eventing.yaml.tftpl", {
    namespace = kubernetes_namespace_v1.knative_eventing.metadata[0].name
    version   = var.knative_version
  }))

  depends_on = [helm_release.knative_operator]
}
