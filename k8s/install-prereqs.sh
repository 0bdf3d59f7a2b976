#!/usr/bin/env bash
# Install what the rtad chart expects in the cluster, at pinned chart versions:
#   kube-prometheus-stack (Prometheus Operator CRDs, Prometheus, Grafana with its dashboard
#   sidecar) in "monitoring", release "kps" — the chart's monitoring.additionalLabels match it;
#   KEDA (ScaledObject CRDs, the redis-streams scaler) in "keda", unless WITH_KEDA=0;
#   the "rtad" namespace with the Pod Security "restricted" labels (kubectl apply -k k8s/).
# Needs helm >= 3.8 (v4 fine) and kubectl on PATH (`make tools` puts both in .tools/), and the
# current kube context pointing at the target cluster (kind-rtad, minikube...).
set -euo pipefail
cd "$(dirname "$0")/.."

KPS_CHART_VERSION="${KPS_CHART_VERSION:-88.5.3}"    # Prometheus Operator v0.93
KEDA_CHART_VERSION="${KEDA_CHART_VERSION:-2.20.2}"  # KEDA 2.20 (redis-streams lagCount)
TIMEOUT="${TIMEOUT:-10m}"

for tool in helm kubectl; do
  command -v "$tool" >/dev/null || { echo "need $tool on PATH (make tools; export PATH=\$PWD/.tools:\$PATH)" >&2; exit 1; }
done
echo "context: $(kubectl config current-context)"

helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
helm repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
helm repo update prometheus-community kedacore >/dev/null

echo "kube-prometheus-stack ${KPS_CHART_VERSION} -> namespace monitoring (release kps)"
helm upgrade --install kps prometheus-community/kube-prometheus-stack \
  --version "${KPS_CHART_VERSION}" --namespace monitoring --create-namespace \
  --values k8s/values/kube-prometheus-stack.yaml --wait --timeout "${TIMEOUT}"

if [ "${WITH_KEDA:-1}" = 1 ]; then  # WITH_KEDA=0: the chart's CPU HPA scales the scorer instead
  echo "KEDA ${KEDA_CHART_VERSION} -> namespace keda"
  helm upgrade --install keda kedacore/keda \
    --version "${KEDA_CHART_VERSION}" --namespace keda --create-namespace \
    --wait --timeout "${TIMEOUT}"
fi

echo "namespace rtad (Pod Security: restricted)"
kubectl apply -k k8s/

echo "ready: skaffold run -p kind   (or: helm install rtad charts/rtad -n rtad)"
