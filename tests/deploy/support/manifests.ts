import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { schemaValidator } from '../../support/schemas.ts';

export { schemaValidator };

/** A rendered Kubernetes object, loosely typed: the tests read it through the helpers below. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export const repoRoot = resolve(import.meta.dirname, '../../..');

/** The kustomizations that are deployed: each overlay and its migration Job. */
export const kustomizations = [
  'knative/overlays/dev',
  'knative/overlays/prod',
  'knative/overlays/dev/migrate',
  'knative/overlays/prod/migrate',
] as const;

/** `kubectl kustomize <dir>`, the same renderer `kubectl apply -k` and Skaffold's kustomize use. */
export function render(dir: string): Manifest[] {
  return parseYamlDocuments(runTool('kubectl', ['kustomize', resolve(repoRoot, dir)])) as Manifest[];
}

/** Runs a CLI the deploy tests need (kubectl, terraform); a missing one fails with what to install. */
export function runTool(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `${command} is not installed: tests/deploy need kubectl (with kustomize v5) and terraform`,
      );
    }
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}${stderr}`);
  }
}

export function parseYamlDocuments(text: string): unknown[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
      return doc.toJS() as unknown;
    })
    .filter((doc) => doc !== null && doc !== undefined);
}

/** Which strict schema (tests/schemas) validates which kind. */
export const schemaFiles: Record<string, string> = {
  'serving.knative.dev/v1 Service': 'knative-serving-service-v1.strict.schema.json',
  'eventing.knative.dev/v1 Broker': 'knative-broker-v1.strict.schema.json',
  'eventing.knative.dev/v1 Trigger': 'knative-trigger-v1.strict.schema.json',
  'sources.knative.dev/v1 SinkBinding': 'knative-sinkbinding-v1.strict.schema.json',
  'networking.istio.io/v1 Gateway': 'istio-gateway-v1.strict.schema.json',
  'networking.istio.io/v1 VirtualService': 'istio-virtualservice-v1.strict.schema.json',
  'networking.istio.io/v1 DestinationRule': 'istio-destinationrule-v1.strict.schema.json',
  'security.istio.io/v1 RequestAuthentication': 'istio-requestauthentication-v1.strict.schema.json',
  'security.istio.io/v1 AuthorizationPolicy': 'istio-authorizationpolicy-v1.strict.schema.json',
  'security.istio.io/v1 PeerAuthentication': 'istio-peerauthentication-v1.strict.schema.json',
  'postgresql.cnpg.io/v1 Cluster': 'cnpg-cluster-v1.strict.schema.json',
  'postgresql.cnpg.io/v1 Pooler': 'cnpg-pooler-v1.strict.schema.json',
  'monitoring.coreos.com/v1 PodMonitor': 'prometheus-podmonitor-v1.strict.schema.json',
  'monitoring.coreos.com/v1 ServiceMonitor': 'prometheus-servicemonitor-v1.strict.schema.json',
  'monitoring.coreos.com/v1 PrometheusRule': 'prometheus-rule-v1.strict.schema.json',
};

/**
 * Core Kubernetes kinds we deploy and have no CRD schema for: the API server validates them. Anything that is
 * neither here nor in schemaFiles fails the tests, so a new kind cannot slip in unchecked.
 */
export const coreKinds = new Set(['v1 Namespace', 'v1 ConfigMap', 'batch/v1 Job']);

export const kindKey = (m: { apiVersion: string; kind: string }) => `${m.apiVersion} ${m.kind}`;

/** Schema errors of one object, as readable lines; empty when valid. */
export function schemaErrors(file: string, value: unknown): string[] {
  const validate = schemaValidator(file);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
  );
}

export function knativeServices(manifests: Manifest[]): KnativeService[] {
  return manifests.filter(
    (m) => kindKey(m) === 'serving.knative.dev/v1 Service',
  ) as unknown as KnativeService[];
}

export interface Probe {
  httpGet?: { path?: string; port?: number | string };
  tcpSocket?: { port?: number | string };
  grpc?: { port?: number };
  exec?: unknown;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
  initialDelaySeconds?: number;
}

export interface Container {
  name?: string;
  image: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  env?: { name: string; value?: string; valueFrom?: Record<string, unknown> }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface KnativeService extends Manifest {
  spec: {
    template: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        containers: Container[];
        containerConcurrency?: number;
        timeoutSeconds?: number;
        [field: string]: unknown;
      };
    };
  };
}
