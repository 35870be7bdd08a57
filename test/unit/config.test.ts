import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/errors.ts';
import { readRuntimeEnv } from '../../lib/runtime/env.ts';

const base = () => ({
  controlPlane: { access: { type: 'kubeconfig', context: 'control' } },
  store: { aws: { region: 'eu-west-1' } },
  dataPlanes: [{ id: 'dp1', access: { type: 'kubeconfig', context: 'dp1' }, labels: { team1: 1 } }],
});

function issues(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills the documented defaults', () => {
    const c = parseConfig(base());
    expect(c.controlPlane).toMatchObject({
      namespace: 'flyte',
      credentialsSecret: 'cluster-credentials',
      mountPath: '/var/run/credentials',
      configMaps: ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'],
      configKey: 'clusters.yaml',
      deployments: ['flyteadmin', 'syncresources'],
      maxRepairsPerHour: 3,
    });
    expect(c.dataPlanes[0]).toMatchObject({ namespace: 'flyte', serviceAccount: 'flyteadmin', tokenSecret: 'flyteadmin-token', enabled: true });
    expect(c.store.aws).toMatchObject({ prefix: 'flyte-credsync/', tags: {} });
    expect(c.concurrency).toBe(32);
  });

  it('rejects unknown keys, naming the path', () => {
    const cfg = base() as Record<string, unknown>;
    (cfg['dataPlanes'] as Array<Record<string, unknown>>)[0]!['lables'] = {};
    cfg['extra'] = 1;
    expect(issues(cfg)).toEqual(
      expect.arrayContaining(['dataPlanes[0]: unknown key(s): dataPlanes[0].lables', ': unknown key(s): extra']),
    );
  });

  it('rejects duplicate ids, bad ids, bad weights, upper-case labels, unknown default label, bad names', () => {
    const cfg = base();
    cfg.dataPlanes.push({ id: 'dp1', access: { type: 'kubeconfig', context: 'x' }, labels: { Team: 0.5 } } as never);
    cfg.dataPlanes.push({ id: 'DP.2', access: { type: 'kubeconfig', context: 'x' }, labels: { t: 1.5 } } as never);
    (cfg.controlPlane as Record<string, unknown>)['defaultExecutionLabel'] = 'nobody';
    (cfg.controlPlane as Record<string, unknown>)['credentialsSecret'] = 'cluster_credentials';
    const got = issues(cfg);
    expect(got).toEqual(
      expect.arrayContaining([
        'dataPlanes[1].id: duplicate id "dp1" (also dataPlanes[0])',
        'dataPlanes[2].id: must be lower-case alphanumerics, - or _, start and end alphanumeric, max 63',
        'dataPlanes[2].labels.t: weight must be in [0, 1]',
        'controlPlane.defaultExecutionLabel: label "nobody" names no cluster (no enabled data plane carries it)',
        "controlPlane.credentialsSecret: credentialsSecret must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.')",
      ]),
    );
    expect(got.some((g) => g.startsWith('dataPlanes[1].labels.Team'))).toBe(true);
  });

  it('controlPlane.maxRepairsPerHour: a whole number from 1 to 100; anything else is refused naming the field', () => {
    const withLimit = (v: unknown) => ({ ...base(), controlPlane: { ...(base().controlPlane as object), maxRepairsPerHour: v } });
    expect(parseConfig(withLimit(10)).controlPlane.maxRepairsPerHour).toBe(10);
    for (const bad of [0, -1, 1.5, 101, '3', null])
      expect(issues(withLimit(bad)).filter((i) => i.startsWith('controlPlane.maxRepairsPerHour: '))).toHaveLength(1);
  });

  it('rejects a malformed rotation duration as a configuration error naming the field (global and per data plane), not a crash', () => {
    const cfg = base() as Record<string, unknown>;
    cfg['rotation'] = { every: '7x', runEvery: '6h' };
    (cfg['dataPlanes'] as Array<Record<string, unknown>>)[0]!['rotation'] = { mode: 'tokenRequest', every: '1' };
    expect(issues(cfg)).toEqual(['dataPlanes[0].rotation.every: must be a duration such as 30m, 6h or 7d', 'rotation.every: must be a duration such as 30m, 6h or 7d']);
    // With valid durations, the checks across fields still run.
    cfg['rotation'] = { every: '7d', runEvery: '2d' };
    (cfg['dataPlanes'] as Array<Record<string, unknown>>)[0]!['rotation'] = { mode: 'tokenRequest', expirationSeconds: 3600 };
    expect(issues(cfg)).toEqual([expect.stringMatching(/^dataPlanes\[0\]\.rotation: /)]);
  });

  it('rejects a negative weight, naming the label', () => {
    const cfg = base();
    (cfg.dataPlanes[0] as Record<string, unknown>)['labels'] = { team1: -0.5 };
    expect(issues(cfg)).toContain('dataPlanes[0].labels.team1: weight must be in [0, 1]');
  });

  it('requires exactly one token source and an https endpoint for token access', () => {
    const cfg = base();
    (cfg.dataPlanes[0] as Record<string, unknown>)['access'] = { type: 'token', endpoint: 'http://x', caFile: 'a', caData: 'b' };
    const got = issues(cfg);
    expect(got).toEqual(
      expect.arrayContaining([
        'dataPlanes[0].access.endpoint: must be an https:// URL',
        'dataPlanes[0].access: set exactly one of caFile, caData',
        'dataPlanes[0].access: set exactly one of tokenFile, tokenEnv',
      ]),
    );
  });

  it('rejects qps without burst (flyteadmin would not start)', () => {
    const cfg = base();
    (cfg.dataPlanes[0] as Record<string, unknown>)['kubeClientConfig'] = { qps: 10 };
    expect(issues(cfg)).toContain('dataPlanes[0].kubeClientConfig.burst: must be > 0 when qps > 0 (flyteadmin refuses to start)');
  });

  it('loads YAML from the path CREDSYNC_CONFIG names and resolves relative paths against the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'controlPlane:\n  access: {type: kubeconfig, context: c, path: kube.yaml}\nstore: {aws: {region: us-east-1}}\ndataPlanes:\n  - {id: a, access: {type: kubeconfig, context: a}}\n');
    const c = await loadConfig(readRuntimeEnv({ CREDSYNC_CONFIG: file }).configPath);
    expect(c.controlPlane.access).toMatchObject({ path: join(dir, 'kube.yaml') });
  });

  it('says which file is broken and why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'controlPlane: [unclosed\n');
    await expect(loadConfig(file)).rejects.toThrow(/invalid configuration \(.*c\.yaml\):\n {2}- <root>: not valid YAML/);
    await expect(loadConfig(readRuntimeEnv({}).configPath)).rejects.toThrow('no configuration: pass --config FILE or set CREDSYNC_CONFIG');
  });
});

describe('runtime environment variables', () => {
  it('has documented defaults', () => {
    expect(readRuntimeEnv({})).toEqual({ logLevel: 'info', eventMaxAgeSeconds: 21600, timeoutSeconds: 300 });
  });

  it('reads every variable', () => {
    expect(
      readRuntimeEnv({ CREDSYNC_CONFIG: '/c.yaml', CREDSYNC_LOG_LEVEL: ' WARNING ', CREDSYNC_EVENT_MAX_AGE_SECONDS: '60', CREDSYNC_TIMEOUT_SECONDS: '540' }),
    ).toEqual({ configPath: '/c.yaml', logLevel: 'warn', eventMaxAgeSeconds: 60, timeoutSeconds: 540 });
  });

  it('refuses a malformed value, naming the variable, instead of falling back to the default', () => {
    const bad = () => readRuntimeEnv({ CREDSYNC_EVENT_MAX_AGE_SECONDS: '6h', CREDSYNC_LOG_LEVEL: 'loud', CREDSYNC_TIMEOUT_SECONDS: '0' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(
      'invalid configuration (environment variables):\n' +
        '  - environment CREDSYNC_LOG_LEVEL: must be debug, info, warn or error\n' +
        '  - environment CREDSYNC_EVENT_MAX_AGE_SECONDS: must be a whole number of seconds\n' +
        '  - environment CREDSYNC_TIMEOUT_SECONDS: must be between 1 and 31536000 seconds',
    );
  });
});
