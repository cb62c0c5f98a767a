import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { CONTRACT_FUNCTIONS, functionFolders, sendsMail } from './support/functions.ts';
import { type ClusterLimits, knativeServiceErrors } from './support/knative-rules.ts';
import {
  coreKinds,
  type KnativeService,
  kindKey,
  knativeServices,
  kustomizations,
  type Manifest,
  render,
  schemaErrors,
  schemaFiles,
} from './support/manifests.ts';
import { parseTerraform, renderTemplate, terraformDir, variableDefaults } from './support/terraform.ts';

const rendered = new Map(kustomizations.map((dir) => [dir, render(dir)]));
const manifestsOf = (dir: (typeof kustomizations)[number]) => rendered.get(dir)!;
const dev = manifestsOf('knative/overlays/dev');
const prod = manifestsOf('knative/overlays/prod');

function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

const serving = renderTemplate('knative-serving.yaml.tftpl', {
  namespace: 'knative-serving',
  version: '1.16',
}) as {
  spec: { config: Record<string, Record<string, string>> };
};
/** The limits the Knative that Terraform installs enforces. */
const limits: ClusterLimits = {
  maxRevisionTimeoutSeconds: Number(serving.spec.config.defaults?.['max-revision-timeout-seconds']),
  maxScaleLimit: Number(serving.spec.config.autoscaler?.['max-scale-limit']),
};

/** Every env valueFrom.secretKeyRef anywhere in an object. */
function secretKeyRefs(value: unknown): { name: string; key: string }[] {
  if (Array.isArray(value)) return value.flatMap(secretKeyRefs);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([field, inner]) =>
    field === 'secretKeyRef' ? [inner as { name: string; key: string }] : secretKeyRefs(inner),
  );
}

const annotation = (service: KnativeService, key: string) =>
  service.spec.template.metadata?.annotations?.[`autoscaling.knative.dev/${key}`];

describe.each(kustomizations)('kubectl kustomize %s', (dir) => {
  const manifests = manifestsOf(dir);

  it('renders only kinds we can check', () => {
    expect(manifests.length).toBeGreaterThan(0);
    const unchecked = manifests.map(kindKey).filter((key) => !schemaFiles[key] && !coreKinds.has(key));
    expect(unchecked).toEqual([]);
  });

  it('passes the strict schema of every kind', () => {
    const failures = manifests
      .filter((m) => schemaFiles[kindKey(m)])
      .flatMap((m) =>
        schemaErrors(schemaFiles[kindKey(m)]!, m).map((e) => `${m.kind}/${m.metadata.name}: ${e}`),
      );
    expect(failures).toEqual([]);
  });

  it('would refuse an object the schema does not allow', () => {
    // The strict schemas reject unknown fields: a misspelt field must fail here, not be dropped by the API server.
    const [first] = manifests.filter((m) => schemaFiles[kindKey(m)]);
    if (!first) return expect(dir).toMatch(/migrate$/);
    const broken = { ...first, spec: { ...(first.spec as object), notAField: true } };
    expect(schemaErrors(schemaFiles[kindKey(first)]!, broken).join('\n')).toMatch(/notAField/);
  });

  it('puts every object in an explicit namespace (no kustomize namespace override)', () => {
    const missing = manifests.filter((m) => m.kind !== 'Namespace' && !m.metadata.namespace);
    expect(missing.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([]);
  });
});

describe.each([
  ['dev', dev],
  ['prod', prod],
])('the %s overlay', (_, manifests) => {
  const services = knativeServices(manifests);

  it('has one Knative Service per function, image named after it, cluster-local', () => {
    // The contract's functions and whatever functions/ holds on this branch, so a new folder needs a Service.
    const expected = [...new Set([...CONTRACT_FUNCTIONS, ...functionFolders()])].sort();
    expect(services.map((s) => s.metadata.name).sort()).toEqual(expected);
    for (const service of services) {
      expect(service.metadata.labels?.['networking.knative.dev/visibility']).toBe('cluster-local');
      const [container] = service.spec.template.spec.containers;
      expect(container?.image).toBe(service.metadata.name);
    }
  });

  it("passes Knative Serving's admission rules", () => {
    const failures = services.flatMap((s) =>
      knativeServiceErrors(s, limits).map((e) => `${s.metadata.name}: ${e}`),
    );
    expect(failures).toEqual([]);
  });

  it('sets autoscaling in one place: a class, metric, target, min and max on every function', () => {
    for (const service of services) {
      for (const key of ['class', 'metric', 'target', 'min-scale', 'max-scale']) {
        expect(annotation(service, key), `${service.metadata.name} ${key}`).toBeDefined();
      }
    }
  });

  it('runs every container as non-root on a read-only filesystem with no capabilities', () => {
    for (const service of services) {
      expect(service.spec.template.spec.containers[0]?.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it('gives every function that sends mail its SMTP password from the Secret, never from the ConfigMap', () => {
    const senders = functionFolders().filter(sendsMail);
    expect(senders).toEqual(expect.arrayContaining(['auth', 'users']));
    for (const name of senders) {
      const service = services.find((s) => s.metadata.name === name);
      const env = service?.spec.template.spec.containers[0]?.env ?? [];
      expect(env.find((e) => e.name === 'SMTP_PASSWORD')?.valueFrom, name).toEqual({
        secretKeyRef: { name: 'function-set-secrets', key: 'smtp-password' },
      });
    }
    const config = find(manifests, 'ConfigMap', 'function-set-config') as Manifest & {
      data: Record<string, string>;
    };
    expect(Object.keys(config.data)).not.toContain('SMTP_PASSWORD');
  });

  it('gives the functions a configuration that loadConfig accepts', () => {
    const config = find(manifests, 'ConfigMap', 'function-set-config') as Manifest & {
      data: Record<string, string>;
    };
    // The secrets as Terraform generates them (shapes only); the rest straight from the ConfigMap.
    const parsed = loadConfig({
      ...config.data,
      DATABASE_URL:
        'postgresql://app:pw@function-set-db-pooler-rw.function-set-data.svc.cluster.local:5432/app',
      SECRET_KEY: 'k'.repeat(64),
      UPSTASH_REDIS_REST_TOKEN: 'token',
      // Empty until an SMTP login is configured (terraform/variables.tf's default).
      SMTP_PASSWORD: '',
    });
    expect(parsed.environment).toBe(manifests === dev ? 'development' : 'production');
  });
});

describe('scaling per environment', () => {
  it('dev: every function scales to zero and keeps its last pod for an edit loop', () => {
    for (const service of knativeServices(dev)) {
      expect(annotation(service, 'min-scale'), service.metadata.name).toBe('0');
      expect(annotation(service, 'scale-to-zero-pod-retention-period'), service.metadata.name).toMatch(
        /^(1[0-9]|[2-5][0-9])m$/,
      );
    }
  });

  it('prod: warm minimums and a scale-down delay', () => {
    for (const service of knativeServices(prod)) {
      expect(Number(annotation(service, 'min-scale')), service.metadata.name).toBeGreaterThanOrEqual(1);
      expect(annotation(service, 'scale-down-delay'), service.metadata.name).toMatch(/^[1-9]\d*m$/);
    }
  });

  it("prod: sum(max-scale) x DB_POOL_MAX, plus the migration Job, stays under one PgBouncer's max_client_conn", async () => {
    const defaults = await variableDefaults();
    const maxClientConn = Number(defaults.pgbouncer_max_client_conn);
    const config = find(prod, 'ConfigMap', 'function-set-config') as Manifest & {
      data: Record<string, string>;
    };
    const poolMax = Number(config.data.DB_POOL_MAX);
    const pods = knativeServices(prod).reduce((sum, s) => sum + Number(annotation(s, 'max-scale')), 0);
    expect(pods).toBeGreaterThan(0);
    expect(pods * poolMax + poolMax).toBeLessThan(maxClientConn);

    // And the Pooler Terraform creates really carries that limit.
    const pooler = renderTemplate('cnpg-pooler.yaml.tftpl', {
      namespace: 'function-set-data',
      instances: defaults.pgbouncer_instances,
      max_client_conn: defaults.pgbouncer_max_client_conn,
      default_pool_size: defaults.pgbouncer_default_pool_size,
    }) as { spec: { pgbouncer: { parameters: Record<string, string> } } };
    expect(Number(pooler.spec.pgbouncer.parameters.max_client_conn)).toBe(maxClientConn);
  });
});

describe('wiring between the manifests and the platform', () => {
  it('references only the Secret keys Terraform creates', async () => {
    const secrets = await parseTerraform(`${terraformDir}/secrets.tf`);
    const secretResources = secrets.resource?.kubernetes_secret_v1 as
      | Record<string, { metadata: { name: string }[]; data: object }[]>
      | undefined;
    const app = secretResources?.app?.[0];
    if (!app) throw new Error('terraform/secrets.tf has no kubernetes_secret_v1.app');
    const keys = Object.keys(app.data);
    const refs = [...prod, ...manifestsOf('knative/overlays/prod/migrate')].flatMap((m) => secretKeyRefs(m));
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref.name).toBe(app.metadata[0]!.name);
      expect(keys).toContain(ref.key);
    }
  });

  it("checks tokens at the gateway with the auth function's JWKS, for the issuer and audience the functions use", () => {
    const config = find(prod, 'ConfigMap', 'function-set-config') as Manifest & {
      data: Record<string, string>;
    };
    const requestAuth = find(prod, 'RequestAuthentication', 'api-jwt') as Manifest & {
      spec: { jwtRules: { issuer: string; audiences: string[]; jwksUri: string }[] };
    };
    const [rule] = requestAuth.spec.jwtRules;
    expect(rule?.issuer).toBe(config.data.JWT_ISSUER);
    expect(rule?.audiences).toEqual([config.data.JWT_AUDIENCE]);
    expect(rule?.jwksUri).toBe('http://auth.function-set.svc.cluster.local/api/auth/jwks.json');
  });

  it('requires mutual TLS between pods of the app namespace', () => {
    const peer = find(prod, 'PeerAuthentication', 'default') as Manifest & {
      spec: { mtls: { mode: string } };
    };
    expect(peer.metadata.namespace).toBe('function-set');
    expect(peer.spec.mtls.mode).toBe('STRICT');
  });

  it('gives items its K_SINK: a SinkBinding from the items Service to the Broker', () => {
    const binding = find(prod, 'SinkBinding', 'items-events') as Manifest & {
      spec: { subject: { kind: string; name: string }; sink: { ref: { kind: string; name: string } } };
    };
    expect(binding.spec.subject).toMatchObject({ kind: 'Service', name: 'items' });
    expect(find(prod, binding.spec.sink.ref.kind, binding.spec.sink.ref.name)).toBeDefined();
  });

  it('runs the migrations in a Job, without an Istio sidecar that would keep it from completing', () => {
    for (const dir of ['knative/overlays/dev/migrate', 'knative/overlays/prod/migrate'] as const) {
      const job = find(manifestsOf(dir), 'Job', 'migrate') as Manifest & {
        spec: {
          template: {
            metadata: { annotations: Record<string, string> };
            spec: { containers: { image: string; command: string[] }[] };
          };
        };
      };
      expect(job.spec.template.metadata.annotations['sidecar.istio.io/inject']).toBe('false');
      expect(job.spec.template.spec.containers[0]).toMatchObject({
        image: 'migrate',
        command: ['/nodejs/bin/node', '/app/migrate.mjs'],
      });
    }
  });
});

describe('the admission-rule checker itself', () => {
  // A rule that can never fail proves nothing: break a real Service in each way and watch it object.
  const base = () => structuredClone(knativeServices(prod)[0]!);
  const cases: [string, (s: KnativeService) => void, RegExp][] = [
    [
      'a reserved env name',
      (s) => s.spec.template.spec.containers[0]!.env!.push({ name: 'PORT', value: '1' }),
      /PORT is reserved/,
    ],
    [
      'a reserved port',
      (s) => {
        s.spec.template.spec.containers[0]!.ports![0]!.containerPort = 8012;
      },
      /8012 is reserved/,
    ],
    [
      'two ports',
      (s) => s.spec.template.spec.containers[0]!.ports!.push({ containerPort: 8081 }),
      /only one container port/,
    ],
    [
      'a fieldRef env',
      (s) => s.spec.template.spec.containers[0]!.env!.push({ name: 'X', valueFrom: { fieldRef: {} } }),
      /fieldRef needs a feature flag/,
    ],
    [
      'a pod securityContext',
      (s) => {
        s.spec.template.spec.securityContext = {};
      },
      /securityContext needs a feature flag/,
    ],
    [
      'a preStop hook',
      (s) => {
        s.spec.template.spec.containers[0]!.lifecycle = { preStop: {} };
      },
      /lifecycle is not accepted/,
    ],
    [
      'a probe on another port',
      (s) => {
        s.spec.template.spec.containers[0]!.readinessProbe = { tcpSocket: { port: 9000 } };
      },
      /not the container port/,
    ],
    [
      'hpa with concurrency',
      (s) => {
        s.spec.template.metadata!.annotations!['autoscaling.knative.dev/class'] =
          'hpa.autoscaling.knative.dev';
      },
      /metric concurrency is not valid/,
    ],
    [
      'min above max',
      (s) => {
        s.spec.template.metadata!.annotations!['autoscaling.knative.dev/min-scale'] = '50';
      },
      /min-scale 50 > max-scale/,
    ],
    [
      'a zero target',
      (s) => {
        s.spec.template.metadata!.annotations!['autoscaling.knative.dev/target'] = '0';
      },
      /target "0"/,
    ],
    [
      'a misspelt annotation',
      (s) => {
        s.spec.template.metadata!.annotations!['autoscaling.knative.dev/minScale'] = '1';
      },
      /unknown annotation/,
    ],
    [
      'a long timeout',
      (s) => {
        s.spec.template.spec.timeoutSeconds = 900;
      },
      /timeoutSeconds 900/,
    ],
    [
      'a short window',
      (s) => {
        s.spec.template.metadata!.annotations!['autoscaling.knative.dev/window'] = '2s';
      },
      /window "2s"/,
    ],
  ];
  it.each(cases)('rejects %s', (_, breakIt, message) => {
    const service = base();
    expect(knativeServiceErrors(service, limits)).toEqual([]);
    breakIt(service);
    expect(knativeServiceErrors(service, limits).join('\n')).toMatch(message);
  });
});
