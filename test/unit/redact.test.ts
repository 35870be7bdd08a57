import { describe, expect, it } from '@jest/globals';
import { redact, registerSecret } from '../../lib/util/redact.ts';
import { describeError, CredsyncError } from '../../lib/errors.ts';

describe('redact', () => {
  it('removes registered values, JWTs, PEM blocks, bearer headers, AWS key ids and SigV4 fragments', () => {
    registerSecret('opaque-secret-value-123');
    const text = [
      'token=opaque-secret-value-123',
      'jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
      'Authorization: Bearer abcdefghijklmnop',
      'key AKIAIOSFODNN7EXAMPLE',
      'Credential=AKIDEXAMPLE/20261123/us-east-1/sts/aws4_request&X-Amz-Signature=deadbeef',
      'k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8',
      'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t',
    ].join('\n');
    const out = redact(text);
    for (const secret of ['opaque-secret-value-123', 'eyJhbGciOiJSUzI1NiJ9', 'MIIB', 'abcdefghijklmnop', 'AKIAIOSFODNN7EXAMPLE', 'AKIDEXAMPLE', 'deadbeef', 'aHR0cHM6Ly9zdHMu', 'LS0tLS1CRUdJTi']) {
      expect(out).not.toContain(secret);
    }
  });

  it('applies to every error message the core raises or wraps', () => {
    registerSecret('another-secret-token-xyz');
    expect(new CredsyncError('STORE_ERROR', 'failed with another-secret-token-xyz').message).toBe('failed with [REDACTED]');
    expect(describeError(new Error('bad eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'))).toBe('Error: bad [REDACTED JWT]');
  });
});
