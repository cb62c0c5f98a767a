import type { Container, KnativeService, Probe } from './manifests.ts';

/**
 * Knative Serving's admission rules, as its webhook applies them with stock settings (no feature flag turned on),
 * for what our Services use. The JSON schema of the CRD cannot express these; a Service that breaks one is
 * refused at `kubectl apply` time, so the tests check them offline.
 */

const AUTOSCALING = 'autoscaling.knative.dev/';
const KPA = 'kpa.autoscaling.knative.dev';
const HPA = 'hpa.autoscaling.knative.dev';
/** Metrics each autoscaler class accepts. */
const METRICS_BY_CLASS: Record<string, string[]> = {
  [KPA]: ['concurrency', 'rps'],
  [HPA]: ['cpu', 'memory'],
};
const KNOWN_AUTOSCALING_KEYS = new Set([
  'class',
  'metric',
  'target',
  'target-utilization-percentage',
  'min-scale',
  'max-scale',
  'initial-scale',
  'activation-scale',
  'scale-down-delay',
  'scale-to-zero-pod-retention-period',
  'window',
  'panic-window-percentage',
  'panic-threshold-percentage',
]);
export const RESERVED_ENV = new Set(['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION']);
/** Ports the queue-proxy and Knative's own components listen on inside the pod. */
export const RESERVED_PORTS = new Set([8012, 8013, 8022, 8112, 9090, 9091]);
const PORT_NAMES = new Set(['http1', 'h2c']);
/** Container securityContext fields stock Knative passes through (its field mask); others are refused. */
const CONTAINER_SECURITY_FIELDS = new Set([
  'runAsUser',
  'runAsGroup',
  'runAsNonRoot',
  'readOnlyRootFilesystem',
  'allowPrivilegeEscalation',
  'capabilities',
  'seccompProfile',
]);
/** Pod spec fields that need a config-features flag turned on. */
const FLAGGED_POD_FIELDS = [
  'securityContext',
  'initContainers',
  'affinity',
  'nodeSelector',
  'tolerations',
  'hostAliases',
  'runtimeClassName',
  'priorityClassName',
  'schedulerName',
  'topologySpreadConstraints',
  'dnsPolicy',
  'dnsConfig',
  'shareProcessNamespace',
  'hostNetwork',
  'hostPID',
  'hostIPC',
];
/** Container fields Knative never accepts (lifecycle hooks, terminationMessage... are not in its mask). */
const CONTAINER_FIELDS = new Set([
  'name',
  'image',
  'args',
  'command',
  'env',
  'envFrom',
  'imagePullPolicy',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
  'ports',
  'resources',
  'securityContext',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'volumeMounts',
  'workingDir',
]);
export const DEFAULT_MAX_REVISION_TIMEOUT_SECONDS = 600;
const MAX_CONTAINER_CONCURRENCY = 1000;

export interface ClusterLimits {
  /** config-defaults max-revision-timeout-seconds. */
  maxRevisionTimeoutSeconds: number;
  /** config-autoscaler max-scale-limit (0 = none). */
  maxScaleLimit: number;
}

function isInt(value: string): boolean {
  return /^\d+$/.test(value);
}

/** Knative durations are Go durations: "60s", "5m", "1h30m". */
export function parseDuration(value: string): number | undefined {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value);
  if (!match || value === '') return undefined;
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

export function autoscalingErrors(annotations: Record<string, string>, limits: ClusterLimits): string[] {
  const errors: string[] = [];
  const get = (key: string) => annotations[AUTOSCALING + key];
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(AUTOSCALING) && !KNOWN_AUTOSCALING_KEYS.has(key.slice(AUTOSCALING.length))) {
      errors.push(`unknown annotation ${key}`);
    }
  }
  const cls = get('class') ?? KPA;
  const allowedMetrics = METRICS_BY_CLASS[cls];
  if (!allowedMetrics) errors.push(`class ${cls} is not kpa or hpa`);
  const metric = get('metric') ?? (cls === HPA ? 'cpu' : 'concurrency');
  if (allowedMetrics && !allowedMetrics.includes(metric))
    errors.push(`metric ${metric} is not valid for ${cls}`);

  const ints: Record<string, number> = {};
  for (const key of ['min-scale', 'max-scale', 'initial-scale', 'activation-scale']) {
    const value = get(key);
    if (value === undefined) continue;
    if (!isInt(value)) errors.push(`${key} "${value}" is not a whole number >= 0`);
    else ints[key] = Number(value);
  }
  const min = ints['min-scale'] ?? 0;
  const max = ints['max-scale'] ?? 0;
  if (max > 0 && min > max) errors.push(`min-scale ${min} > max-scale ${max}`);
  if (limits.maxScaleLimit > 0) {
    if (max === 0) errors.push('max-scale must be set (and > 0) when max-scale-limit is configured');
    if (max > limits.maxScaleLimit) errors.push(`max-scale ${max} > max-scale-limit ${limits.maxScaleLimit}`);
    if (min > limits.maxScaleLimit) errors.push(`min-scale ${min} > max-scale-limit ${limits.maxScaleLimit}`);
  }
  // initial-scale 0 needs allow-zero-initial-scale, which is off by default.
  if (ints['initial-scale'] === 0) errors.push('initial-scale 0 needs allow-zero-initial-scale');
  if (ints['activation-scale'] !== undefined && ints['activation-scale'] < 1)
    errors.push('activation-scale < 1');

  const target = get('target');
  if (target !== undefined && !(Number(target) >= 0.01))
    errors.push(`target "${target}" must be a number >= 0.01`);
  const utilization = get('target-utilization-percentage');
  if (utilization !== undefined && !(Number(utilization) >= 1 && Number(utilization) <= 100)) {
    errors.push(`target-utilization-percentage "${utilization}" must be within 1..100`);
  }
  const window = get('window');
  if (window !== undefined) {
    const seconds = parseDuration(window);
    if (seconds === undefined || seconds < 6 || seconds > 3600)
      errors.push(`window "${window}" must be 6s..1h`);
    if (cls !== KPA) errors.push('window applies to the kpa class only');
  }
  const delay = get('scale-down-delay');
  if (delay !== undefined) {
    const seconds = parseDuration(delay);
    if (seconds === undefined || seconds > 3600) errors.push(`scale-down-delay "${delay}" must be 0..1h`);
  }
  const retention = get('scale-to-zero-pod-retention-period');
  if (retention !== undefined) {
    const seconds = parseDuration(retention);
    if (seconds === undefined || seconds > 3600)
      errors.push(`scale-to-zero-pod-retention-period "${retention}" must be 0..1h`);
    if (cls !== KPA) errors.push('scale-to-zero-pod-retention-period applies to the kpa class only');
  }
  const panicWindow = get('panic-window-percentage');
  if (panicWindow !== undefined && !(Number(panicWindow) >= 1 && Number(panicWindow) <= 100)) {
    errors.push(`panic-window-percentage "${panicWindow}" must be within 1..100`);
  }
  const panicThreshold = get('panic-threshold-percentage');
  if (panicThreshold !== undefined && !(Number(panicThreshold) >= 110 && Number(panicThreshold) <= 1000)) {
    errors.push(`panic-threshold-percentage "${panicThreshold}" must be within 110..1000`);
  }
  return errors;
}

function probeErrors(name: string, probe: Probe | undefined, containerPort: number | undefined): string[] {
  if (!probe) return [];
  const errors: string[] = [];
  const handlers = (['httpGet', 'tcpSocket', 'grpc', 'exec'] as const).filter((h) => probe[h] !== undefined);
  if (handlers.length !== 1)
    errors.push(`${name}: exactly one handler expected, got ${handlers.join(', ') || 'none'}`);
  for (const handler of ['httpGet', 'tcpSocket', 'grpc'] as const) {
    const port = probe[handler]?.port;
    // The queue-proxy probes the user container itself: any other port is refused.
    if (port !== undefined && port !== containerPort) {
      errors.push(`${name}: ${handler}.port ${port} is not the container port ${containerPort}`);
    }
  }
  if (probe.httpGet?.path !== undefined && !probe.httpGet.path.startsWith('/')) {
    errors.push(`${name}: httpGet.path must start with /`);
  }
  if (probe.periodSeconds !== undefined && probe.periodSeconds < 0) errors.push(`${name}: periodSeconds < 0`);
  if (probe.timeoutSeconds !== undefined && probe.timeoutSeconds < 1)
    errors.push(`${name}: timeoutSeconds < 1`);
  if (probe.failureThreshold !== undefined && probe.failureThreshold < 1)
    errors.push(`${name}: failureThreshold < 1`);
  if (probe.successThreshold !== undefined && probe.successThreshold < 1)
    errors.push(`${name}: successThreshold < 1`);
  if (
    name.endsWith('livenessProbe') &&
    probe.successThreshold !== undefined &&
    probe.successThreshold !== 1
  ) {
    errors.push(`${name}: successThreshold must be 1`);
  }
  return errors;
}

function containerErrors(container: Container, index: number): string[] {
  const at = `containers[${index}]`;
  const errors: string[] = [];
  if (!container.image) errors.push(`${at}: image is required`);
  for (const field of Object.keys(container)) {
    if (!CONTAINER_FIELDS.has(field)) errors.push(`${at}: field ${field} is not accepted by Knative`);
  }
  for (const env of container.env ?? []) {
    if (RESERVED_ENV.has(env.name)) errors.push(`${at}: env ${env.name} is reserved (Knative sets it)`);
    for (const source of Object.keys(env.valueFrom ?? {})) {
      if (source !== 'configMapKeyRef' && source !== 'secretKeyRef') {
        errors.push(`${at}: env ${env.name} valueFrom.${source} needs a feature flag`);
      }
    }
  }
  const security = container.securityContext ?? {};
  for (const field of Object.keys(security)) {
    if (!CONTAINER_SECURITY_FIELDS.has(field)) errors.push(`${at}: securityContext.${field} is not accepted`);
  }
  const capabilities = security.capabilities as { add?: unknown[] } | undefined;
  if (capabilities?.add && capabilities.add.length > 0)
    errors.push(`${at}: capabilities.add needs a feature flag`);
  if ((container.volumeMounts as unknown[] | undefined)?.length)
    errors.push(`${at}: volumes are not used here`);
  return errors;
}

/** Every admission error of one Knative Service; empty when the webhook would accept it. */
export function knativeServiceErrors(service: KnativeService, limits: ClusterLimits): string[] {
  const errors: string[] = [];
  const name = service.metadata.name;
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) errors.push(`name ${name} is not a DNS-1035 label`);
  for (const key of Object.keys(service.metadata.annotations ?? {})) {
    if (key.startsWith(AUTOSCALING)) errors.push(`${key} belongs on spec.template.metadata.annotations`);
  }
  const spec = service.spec.template.spec;
  for (const field of FLAGGED_POD_FIELDS) {
    if (spec[field] !== undefined) errors.push(`spec.template.spec.${field} needs a feature flag`);
  }
  if (spec.timeoutSeconds !== undefined) {
    if (spec.timeoutSeconds < 1 || spec.timeoutSeconds > limits.maxRevisionTimeoutSeconds) {
      errors.push(`timeoutSeconds ${spec.timeoutSeconds} outside 1..${limits.maxRevisionTimeoutSeconds}`);
    }
  }
  if (spec.containerConcurrency !== undefined) {
    if (spec.containerConcurrency < 0 || spec.containerConcurrency > MAX_CONTAINER_CONCURRENCY) {
      errors.push(
        `containerConcurrency ${spec.containerConcurrency} outside 0..${MAX_CONTAINER_CONCURRENCY}`,
      );
    }
  }
  const containers = spec.containers ?? [];
  if (containers.length === 0) errors.push('at least one container');
  const ports = containers.flatMap((c) => c.ports ?? []);
  if (ports.length > 1) errors.push('only one container port in the whole pod');
  if (containers.length > 1 && ports.length !== 1)
    errors.push('with several containers, exactly one declares the port');
  const port = ports[0];
  if (port) {
    if (RESERVED_PORTS.has(port.containerPort))
      errors.push(`containerPort ${port.containerPort} is reserved`);
    if (port.containerPort < 1 || port.containerPort > 65535)
      errors.push(`containerPort ${port.containerPort} invalid`);
    if (port.name !== undefined && !PORT_NAMES.has(port.name))
      errors.push(`port name ${port.name} not http1/h2c`);
    if (port.protocol !== undefined && port.protocol !== 'TCP') errors.push('port protocol must be TCP');
  }
  const servingPort = port?.containerPort ?? 8080;
  containers.forEach((container, index) => {
    errors.push(...containerErrors(container, index));
    for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
      errors.push(...probeErrors(`containers[${index}].${kind}`, container[kind], servingPort));
    }
  });
  errors.push(...autoscalingErrors(service.spec.template.metadata?.annotations ?? {}, limits));
  return errors;
}
