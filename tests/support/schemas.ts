import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * The JSON Schemas the manifests and workflows are validated against (GitHub workflows, Skaffold, and the
 * strict variants of the Knative, Istio, CloudNativePG and Prometheus CRDs). Copied from the team's shared
 * reference folder (tests/schemas/SOURCES.json says where each came from) so that a fresh clone tests offline
 * on its own; tests/ops/schemas.test.ts checks the copies against ../shared/schemas when that folder exists.
 */
export const SCHEMAS_DIR = resolve(import.meta.dirname, '..', 'schemas');

function newAjv(): Ajv {
  // The CRD schemas are OpenAPI-flavoured: x-kubernetes-* keywords (strict: false) and int32/int64-style formats.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  for (const format of ['int32', 'int64', 'byte', 'double', 'float']) ajv.addFormat(format, true);
  return ajv;
}

const ajv = newAjv();
const validators = new Map<string, ValidateFunction>();

/** A compiled validator for one schema file of SCHEMAS_DIR. */
export function schemaValidator(file: string): ValidateFunction {
  let validate = validators.get(file);
  if (!validate) {
    const schema = JSON.parse(readFileSync(resolve(SCHEMAS_DIR, file), 'utf8')) as Record<string, unknown>;
    // Draft markers vary between sources; ajv's default draft reads all of these schemas.
    delete schema.$schema;
    validate = ajv.compile(schema);
    validators.set(file, validate);
  }
  return validate;
}

/** The errors as "path: message" lines, for assertion messages. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}
