/** The configuration source: read once, re-read by version, a bad new version refused and the last good one kept. */
import { describe, expect, it } from '@jest/globals';
import { ConfigWatcher, parseConfigSource, type ConfigText } from '../../lib/config/source.ts';
import { ConfigError } from '../../lib/errors.ts';

const good = (concurrency: number) =>
  `controlPlane: {access: {type: kubeconfig, context: control}}\nstore: {aws: {region: us-east-1}}\ndataPlanes: [{id: dp1, access: {type: kubeconfig, context: dp1}}]\nconcurrency: ${concurrency}\n`;

function source(versions: Array<string | Error>) {
  let i = 0;
  let reads = 0;
  return {
    reads: () => reads,
    next: () => i++,
    read: async (): Promise<ConfigText> => {
      reads++;
      const v = versions[Math.min(i, versions.length - 1)]!;
      if (v instanceof Error) throw v;
      return { text: v, version: String(Math.min(i, versions.length - 1) + 1), name: `ssm:/c version ${i + 1}`, json: false };
    },
  };
}

describe('parseConfigSource (CREDSYNC_CONFIG)', () => {
  it('a path, ssm:NAME or gcpsm:projects/P/secrets/S', () => {
    expect(parseConfigSource('config/credsync.yaml')).toEqual({ kind: 'file', path: 'config/credsync.yaml' });
    expect(parseConfigSource('ssm:/flyte-credsync/config')).toEqual({ kind: 'ssm', name: '/flyte-credsync/config' });
    expect(parseConfigSource('gcpsm:projects/flyte-prod/secrets/credsync-config')).toEqual({ kind: 'gcpsm', secret: 'projects/flyte-prod/secrets/credsync-config' });
    expect(() => parseConfigSource('ssm:')).toThrow('CREDSYNC_CONFIG: "ssm:" must be followed by a parameter name such as /flyte-credsync/config');
    expect(() => parseConfigSource('gcpsm:my-secret')).toThrow('CREDSYNC_CONFIG: "gcpsm:" must be followed by projects/PROJECT/secrets/SECRET');
  });
});

describe('ConfigWatcher', () => {
  it('an unchanged version reuses the parsed configuration; a new valid one replaces it', async () => {
    const s = source([good(4), good(9)]);
    const w = new ConfigWatcher({ kind: 'ssm', name: '/c' }, s.read, '/');
    const a = await w.current();
    const b = await w.current();
    expect(b.config).toBe(a.config);
    expect(a).toMatchObject({ version: '1', source: 'ssm:/c' });
    s.next();
    const c = await w.current();
    expect(c).toMatchObject({ version: '2' });
    expect(c.config.concurrency).toBe(9);
    expect(c.refused).toBeUndefined();
  });

  it('a bad new version is refused with the reason, and the last good one keeps running', async () => {
    const s = source([good(4), 'controlPlane: {access: {type: kubeconfig}}\nstore: {}\n', good(4)]);
    const w = new ConfigWatcher({ kind: 'ssm', name: '/c' }, s.read, '/');
    await w.current();
    s.next();
    const r = await w.current();
    expect(r.version).toBe('1');
    expect(r.config.concurrency).toBe(4);
    expect(r.refused?.version).toBe('2');
    expect(r.refused?.reason).toContain('invalid configuration (ssm:/c version 2):');
    expect(r.refused?.reason).toContain('controlPlane.access.context:');
    // Asked again, the same refused version is not parsed again and is still reported.
    expect((await w.current()).refused?.version).toBe('2');
    // A good version after it clears the refusal.
    s.next();
    const back = await w.current();
    expect(back.refused).toBeUndefined();
    expect(back.version).toBe('3');
  });

  it('with no good version yet (a cold start), a bad configuration is an error', async () => {
    const w = new ConfigWatcher({ kind: 'ssm', name: '/c' }, source(['dataPlanes: 3\n']).read, '/');
    await expect(w.current()).rejects.toThrow(ConfigError);
  });

  it('a source that cannot be read after a good version keeps the last good one and says why', async () => {
    const s = source([good(4), new Error('ParameterNotFound')]);
    const w = new ConfigWatcher({ kind: 'ssm', name: '/c' }, s.read, '/');
    await w.current();
    s.next();
    const r = await w.current();
    expect(r.version).toBe('1');
    // The reader's own error's code (a plain Error here: INTERNAL; wiring.ts's readers throw CONFIG_NOT_FOUND).
    expect(r.refused).toEqual({ version: 'unknown', reason: 'cannot read the configuration: Error: ParameterNotFound', code: 'INTERNAL' });
  });
});
