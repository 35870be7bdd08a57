/**
 * The benchmark's fleet: data plane k (ids b1..bN) on cluster dp((k-1) % D + 1) in its own namespace
 * `bench-k`, set up idempotently, its configuration, and the store entries a size leaves behind.
 */
import path from 'node:path';
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { ApiException, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { parseConfig } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/schema.ts';
import { mapBounded } from '../../lib/util/log.ts';
import { FLYTEADMIN_CLUSTER_ROLE, FLYTEADMIN_SA, TOKEN_SECRET } from '../../test/env/seed.ts';
import { adminKubeConfig, type EnvInfo } from '../../test/env/testenv.ts';
import { awsClient } from '../../test/integration/helpers.ts';
import { sleep } from './common.ts';

export const clusterOf = (env: EnvInfo, k: number) => env.dataPlanes[(k - 1) % env.dataPlanes.length]!;

export const namespaceOf = (k: number) => `bench-${k}`;

export const idOf = (k: number) => `b${k}`;

export const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export async function ignoreConflict(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 409) return false;
    throw err;
  }
}

/** Namespace, ServiceAccount, ClusterRoleBinding and filled token Secret for b1..bN (409 = there). */
export async function setUpDataPlanes(env: EnvInfo, n: number): Promise<{ created: number; fillWaitMs: number[] }> {
  const fillWaitMs: number[] = [];
  let created = 0;
  await mapBounded(range(n), 8, async (k) => {
    const kc = adminKubeConfig(env, clusterOf(env, k));
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const namespace = namespaceOf(k);
    const labels = { 'app.kubernetes.io/part-of': 'credsync-bench' };
    await ignoreConflict(core.createNamespace({ body: { metadata: { name: namespace, labels } } }));
    await ignoreConflict(core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: FLYTEADMIN_SA, namespace, labels } } }));
    await ignoreConflict(
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `credsync-bench-${namespace}-flyteadmin`, labels },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FLYTEADMIN_CLUSTER_ROLE },
          subjects: [{ kind: 'ServiceAccount', name: FLYTEADMIN_SA, namespace }],
        },
      }),
    );
    const t0 = performance.now();
    const isNew = await ignoreConflict(
      core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: TOKEN_SECRET, namespace, labels, annotations: { 'kubernetes.io/service-account.name': FLYTEADMIN_SA } },
          type: 'kubernetes.io/service-account-token',
        },
      }),
    );
    for (let i = 0; ; i++) {
      const s = await core.readNamespacedSecret({ name: TOKEN_SECRET, namespace });
      if (s.data?.['token'] && s.data['ca.crt']) break;
      if (i > 600) throw new Error(`token Secret ${namespace}/${TOKEN_SECRET} on ${clusterOf(env, k)} was never filled`);
      await sleep(50);
    }
    if (isNew) {
      created++;
      fillWaitMs.push(performance.now() - t0);
    }
  });
  return { created, fillWaitMs };
}

export function benchConfig(env: EnvInfo, n: number, prefix: string, concurrency?: number): Config {
  return parseConfig(benchConfigInput(env, n, prefix, concurrency));
}

export function benchConfigInput(env: EnvInfo, n: number, prefix: string, concurrency?: number): Record<string, unknown> {
  return {
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes: range(n).map((k) => ({
      id: idOf(k),
      access: { type: 'kubeconfig', context: clusterOf(env, k), path: env.kubeconfig },
      namespace: namespaceOf(k),
      labels: { team1: 1 },
    })),
    tokenWaitSeconds: 60,
    ...(concurrency ? { concurrency } : {}),
  };
}

/** Deletes the store entries a run created (untimed; keeps moto small across runs). */
export async function deleteEntries(env: EnvInfo, names: string[]): Promise<void> {
  const sm = awsClient(env);
  await mapBounded(names, 8, (name) =>
    sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })).catch(() => undefined),
  );
  sm.destroy();
}

// ---------------------------------------------------------------------------------------------
// credsync runs
