import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * The JSON Schemas the manifests and workflows are validated against (GitHub workflows, Skaffold, and the
 * strict variants of the Knative, Istio, CloudNativePG and Prometheus CRDs). Copied from the team's shared
 * reference folder (tests/schemas/SOURCES.json says where each came from) so that a fresh clone tests offline
 * on its own; tests/ops/schemas.test.ts checks the copies against ../shared/schemas when that folder exists.
 */
export const SCHEMAS_DIR = resolve(process.env.SCHEMAS_DIR ?? 'tests/schemas');

const validators = new Map<string, ValidateFunction>();

/**
 * A validator for one schema file of SCHEMAS_DIR (draft-07). The CRD schemas are OpenAPI v3 structural
 * schemas: x-kubernetes-* keywords are ignored (strict: false) and their int32/int64 formats are checked here.
 */
export function schemaValidator(file: string): ValidateFunction {
  let validate = validators.get(file);
  if (!validate) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addFormat('int32', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/);
    ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
    validate = ajv.compile(JSON.parse(readFileSync(resolve(SCHEMAS_DIR, file), 'utf8')));
    validators.set(file, validate);
  }
  return validate;
}

/** The errors as "path: message" lines, for assertion messages. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}
