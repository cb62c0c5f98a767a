import { describe, expect, it } from 'vitest';
import { hasTool, inCI, KUBECTL_TEST_FILES } from '../support/tools.ts';

describe('tools the deploy tests drive', () => {
  const kubectl = hasTool('kubectl');
  it.skipIf(!kubectl && !inCI)(
    kubectl || inCI
      ? 'kubectl is installed'
      : `${KUBECTL_TEST_FILES.join(', ')} (skipped: kubectl not installed)`,
    () => {
      expect(kubectl, 'kubectl (with kustomize v5) is needed to render the overlays').toBe(true);
    },
  );

  const terraform = hasTool('terraform');
  it.skipIf(!terraform && !inCI)(
    terraform || inCI ? 'terraform is installed' : 'terraform fmt -check (skipped: terraform not installed)',
    () => {
      expect(terraform, 'terraform is needed for `terraform fmt -check`').toBe(true);
    },
  );
});
