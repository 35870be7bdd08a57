/** The published guide's manual steps (kubectl and the AWS API), timed against the same servers. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CoreV1Api } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { ADMIN_CLUSTERS_CONFIGMAP, CLUSTERRESOURCESYNC_CONFIGMAP, CONTROL_PLANE_DEPLOYMENTS, FLYTE_NAMESPACE, TOKEN_SECRET } from '../../test/env/seed.ts';
import { adminKubeConfig, type EnvInfo } from '../../test/env/testenv.ts';
import { awsClient } from '../../test/integration/helpers.ts';
import { execFileP } from './common.ts';
import { clusterOf, idOf, namespaceOf, range } from './fleet.ts';

export interface ManualRun {
  ms: number;
  kubectlInvocations: number;
  awsCalls: number;
}

class Kubectl {
  invocations = 0;
  private readonly bin: string;
  private readonly kubeconfig: string;

  constructor(bin: string, kubeconfig: string) {
    this.bin = bin;
    this.kubeconfig = kubeconfig;
  }

  private args(context: string, args: string[]): string[] {
    return ['--kubeconfig', this.kubeconfig, '--context', context, ...args];
  }

  /** Runs kubectl; returns stdout (never put into errors: it may hold secrets). */
  async run(context: string, args: string[]): Promise<string> {
    this.invocations++;
    try {
      const { stdout } = await execFileP(this.bin, this.args(context, args), { maxBuffer: 64 << 20, encoding: 'utf8' });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; code?: unknown };
      throw new Error(`kubectl ${args.slice(0, 4).join(' ')} failed (exit ${String(e.code)}): ${(e.stderr ?? '').trim().slice(0, 500)}`);
    }
  }

  /** `kubectl A | kubectl B`, as a shell pipeline would run them (both at once). */
  pipe(context: string, a: string[], b: string[]): Promise<void> {
    this.invocations += 2;
    return new Promise((resolve, reject) => {
      const p1 = spawn(this.bin, this.args(context, a), { stdio: ['ignore', 'pipe', 'pipe'] });
      const p2 = spawn(this.bin, this.args(context, b), { stdio: ['pipe', 'ignore', 'pipe'] });
      const errs = ['', ''];
      p1.stderr.on('data', (d: Buffer) => (errs[0] += d.toString()));
      p2.stderr.on('data', (d: Buffer) => (errs[1] += d.toString()));
      p2.stdin.on('error', () => undefined);
      p1.stdout.pipe(p2.stdin);
      const codes: Array<number | null> = [];
      let pending = 2;
      const done = () => {
        if (--pending > 0) return;
        if (codes.every((c) => c === 0)) return resolve();
        reject(new Error(`kubectl ${a.slice(0, 3).join(' ')} | kubectl ${b.join(' ')} failed (exit ${codes.join(',')}): ${errs.join(' ').trim().slice(0, 500)}`));
      };
      for (const [i, p] of [p1, p2].entries()) {
        p.once('error', reject);
        p.once('close', (code) => {
          codes[i] = code;
          done();
        });
      }
    });
  }
}

/** What the guide puts into clusters.yaml (and what credsync renders for the same clusters). */
function manualClustersYaml(env: EnvInfo, n: number): string {
  return toYaml({
    clusters: {
      labelClusterMap: { team1: range(n).map((k) => ({ id: idOf(k), weight: 1 })) },
      clusterConfigs: range(n).map((k) => ({
        name: idOf(k),
        endpoint: env.clusters[clusterOf(env, k)]!.server,
        enabled: true,
        auth: { tokenPath: `/var/run/credentials/${idOf(k)}_token`, certPath: `/var/run/credentials/${idOf(k)}_cacert` },
      })),
      defaultExecutionLabel: 'team1',
    },
  });
}

export async function manualRun(env: EnvInfo, kubectlBin: string, n: number, prefix: string): Promise<ManualRun> {
  const kubectl = new Kubectl(kubectlBin, env.kubeconfig);
  const sm = awsClient(env);
  let awsCalls = 0;
  const cp = env.controlPlane;
  const t0 = performance.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credsync-bench-manual-')); // mode 0700
  try {
    const fromFiles: string[] = [];
    for (const k of range(n)) {
      const ctx = clusterOf(env, k);
      const get = (jsonpath: string) =>
        kubectl.run(ctx, ['-n', namespaceOf(k), 'get', 'secret', TOKEN_SECRET, '-o', `jsonpath=${jsonpath}`]);
      // ... | base64 -d
      const token = Buffer.from(await get('{.data.token}'), 'base64').toString('utf8');
      const caCert = Buffer.from(await get('{.data.ca\\.crt}'), 'base64').toString('utf8');
      if (!token || !caCert.startsWith('-----BEGIN')) throw new Error(`manual: ${namespaceOf(k)} on ${ctx}: empty token or CA`);
      awsCalls++;
      await sm.send(new CreateSecretCommand({ Name: prefix + idOf(k), SecretString: JSON.stringify({ token, caCert }) }));
      for (const [key, value] of [[`${idOf(k)}_token`, token], [`${idOf(k)}_cacert`, caCert]] as const) {
        const file = path.join(dir, key);
        await writeFile(file, value, { mode: 0o600 });
        fromFiles.push(`--from-file=${key}=${file}`);
      }
    }
    await kubectl.pipe(
      cp,
      ['create', 'secret', 'generic', 'cluster-credentials', '-n', FLYTE_NAMESPACE, ...fromFiles, '--dry-run=client', '-o', 'yaml'],
      // Server-side: a client-side apply keeps the whole Secret in an annotation, which Kubernetes
      // caps at 256 KiB, so the guide's plain `kubectl apply` fails from about 100 data planes on.
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    );
    const clustersYaml = manualClustersYaml(env, n);
    const clustersFile = path.join(dir, 'clusters.yaml');
    await writeFile(clustersFile, clustersYaml, { mode: 0o600 });
    // flyte-admin-clusters-config has no other key: recreating it from the file is fine.
    await kubectl.pipe(
      cp,
      ['create', 'configmap', ADMIN_CLUSTERS_CONFIGMAP, '-n', FLYTE_NAMESPACE, `--from-file=clusters.yaml=${clustersFile}`, '--dry-run=client', '-o', 'yaml'],
      ['apply', '-f', '-'],
    );
    // flyte-clusterresourcesync-config has other keys that must stay: patch clusters.yaml only.
    await kubectl.run(cp, [
      'patch', 'configmap', CLUSTERRESOURCESYNC_CONFIGMAP, '-n', FLYTE_NAMESPACE, '--type', 'merge',
      '-p', JSON.stringify({ data: { 'clusters.yaml': clustersYaml } }),
    ]);
    await kubectl.run(cp, ['rollout', 'restart', 'deployment', ...CONTROL_PLANE_DEPLOYMENTS, '-n', FLYTE_NAMESPACE]);
  } finally {
    await rm(dir, { recursive: true, force: true });
    sm.destroy();
  }
  return { ms: performance.now() - t0, kubectlInvocations: kubectl.invocations, awsCalls };
}

/** Untimed: the manual run left what Flyte needs (and kept the other ConfigMap keys). */
export async function checkManual(env: EnvInfo, n: number): Promise<void> {
  const core = adminKubeConfig(env, env.controlPlane).makeApiClient(CoreV1Api);
  const s = await core.readNamespacedSecret({ name: 'cluster-credentials', namespace: FLYTE_NAMESPACE });
  const keys = Object.keys(s.data ?? {}).length;
  if (keys !== 2 * n) throw new Error(`manual baseline: cluster-credentials has ${keys} keys, expected ${2 * n}`);
  const crs = await core.readNamespacedConfigMap({ name: CLUSTERRESOURCESYNC_CONFIGMAP, namespace: FLYTE_NAMESPACE });
  if (!crs.data?.['db.yaml'] || !crs.data['clusters.yaml']?.includes(`name: ${idOf(n)}`))
    throw new Error('manual baseline: flyte-clusterresourcesync-config lost a key or lacks the clusters');
}

// ---------------------------------------------------------------------------------------------
// Report
