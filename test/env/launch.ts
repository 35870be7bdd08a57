/**
 * Starts every server of one environment, in order: etcd, each cluster's PKI and kube-apiserver,
 * the controllers, moto and the GCP emulator, the stand-ins, and the control plane's rollouts
 * (kube-scheduler, KWOK); then seeds the clusters and writes env.json.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import type { Binaries, Log } from './build.ts';
import { KWOK_NODES, seedControllerManagerRbac, seedControlPlane, seedDataPlane, waitForControllers } from './seed.ts';
import { CLOUD_PLATFORM_SCOPE, CONTROL_PLANE, CROSS_ACCOUNT_ROLE_ARN, EKS_GROUP, FLYTEADMIN_CLIENT_ID, GCP_PROJECT, GKE_SERVICE_ACCOUNT, GKE_SHORT_TOKEN_SECONDS, GOOGLE_TOKEN_URL, MOTO_DEFAULT_CALLER_ARN, envFile, formatSeconds, type ClusterInfo, type EnvInfo } from './info.ts';
import { adminKubeConfig, kubeconfigYaml, webhookKubeconfigYaml } from './kubeconfig.ts';
import { makeClusterPki } from './pki.ts';
import { apiserverReady, httpStatus, tcpOpen } from './probes.ts';
import { Launcher, isProcessAlive, tailFile, type Running, waitUntil } from './processes.ts';
import { startEksWebhookProcess, startFlyteAdminProcess, startGkeAuthProcess } from './standins.ts';

export async function start(
  dir: string,
  dataPlaneCount: number,
  ports: number[],
  binaries: Binaries,
  launcher: Launcher,
  log: Log,
  t0: number,
  tStart: number,
): Promise<EnvInfo> {
  const dataPlanes = Array.from({ length: dataPlaneCount }, (_, i) => `dp${i + 1}`);
  const names = [CONTROL_PLANE, ...dataPlanes];
  const [etcdClient, etcdPeer, motoPort, gcpPort, webhookPort, gkePort, faInsecure, faSecure, faToken, kwokPort, ...apiPorts] = ports;

  const clusters: Record<string, ClusterInfo> = {};
  names.forEach((name, i) => {
    const cdir = path.join(dir, name);
    clusters[name] = {
      name,
      context: name,
      server: `https://127.0.0.1:${apiPorts[i]}`,
      caFile: path.join(cdir, 'ca.crt'),
      caData: '',
      adminCertFile: path.join(cdir, 'admin.crt'),
      adminKeyFile: path.join(cdir, 'admin.key'),
      role: name === CONTROL_PLANE ? 'control-plane' : 'data-plane',
      logFile: path.join(dir, 'logs', `kube-apiserver-${name}.log`),
      controllerManagerLogFile: path.join(dir, 'logs', `kube-controller-manager-${name}.log`),
      etcdPrefix: `/registry-${name}`,
      serviceAccountIssuer: `https://${name}.credsync.local`,
    };
  });
  const env: EnvInfo = {
    version: 1,
    dir,
    kubeconfig: path.join(dir, 'kubeconfig'),
    controlPlane: CONTROL_PLANE,
    dataPlanes,
    clusters,
    etcd: { endpoint: `http://127.0.0.1:${etcdClient}` },
    aws: { endpoint: `http://127.0.0.1:${motoPort}`, region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' },
    gcp: { secretManagerEndpoint: `127.0.0.1:${gcpPort}`, project: GCP_PROJECT },
    eks: {
      webhook: `http://127.0.0.1:${webhookPort}`,
      clusterNames: Object.fromEntries(dataPlanes.map((dp) => [dp, `credsync-${dp}`])),
      mappedArn: MOTO_DEFAULT_CALLER_ARN,
      crossAccountRoleArn: CROSS_ACCOUNT_ROLE_ARN,
      username: `eks:${MOTO_DEFAULT_CALLER_ARN}`,
      group: EKS_GROUP,
      keyStore: path.join(dir, 'eks-webhook', 'keys.json'),
      logFile: path.join(dir, 'logs', 'eks-webhook.log'),
    },
    gke: {
      server: `http://127.0.0.1:${gkePort}`,
      tokenEndpoint: `http://127.0.0.1:${gkePort}/token`,
      googleTokenUrl: GOOGLE_TOKEN_URL,
      scope: CLOUD_PLATFORM_SCOPE,
      keyFile: path.join(dir, 'gcp-sa-key.json'),
      clientEmail: `${GKE_SERVICE_ACCOUNT}@${GCP_PROJECT}.iam.gserviceaccount.com`,
      tokenLifetimeSeconds: 3600,
      username: `gke:${GKE_SERVICE_ACCOUNT}@${GCP_PROJECT}.iam.gserviceaccount.com`,
      group: EKS_GROUP,
      shortLived: {
        keyFile: path.join(dir, 'gcp-sa-key-short-lived.json'),
        clientEmail: `${GKE_SERVICE_ACCOUNT}-short@${GCP_PROJECT}.iam.gserviceaccount.com`,
        tokenLifetimeSeconds: GKE_SHORT_TOKEN_SECONDS,
        username: `gke:${GKE_SERVICE_ACCOUNT}-short@${GCP_PROJECT}.iam.gserviceaccount.com`,
      },
      project: GCP_PROJECT,
      location: 'europe-west1',
      clusterNames: Object.fromEntries(dataPlanes.map((dp) => [dp, `credsync-${dp}`])),
      logFile: path.join(dir, 'logs', 'gke-auth.log'),
    },
    flyteadmin: {
      insecureEndpoint: `127.0.0.1:${faInsecure}`,
      endpoint: `127.0.0.1:${faSecure}`,
      caFile: path.join(dir, 'flyteadmin', 'ca.crt'),
      tokenEndpoint: `https://127.0.0.1:${faToken}/oauth2/token`,
      clientId: FLYTEADMIN_CLIENT_ID,
      clientSecretFile: path.join(dir, 'flyteadmin', 'client-secret'),
      projects: ['flytesnacks'],
      logFile: path.join(dir, 'logs', 'flyteadmin.log'),
    },
    rollouts: {
      nodes: [...KWOK_NODES],
      kwokServer: `http://127.0.0.1:${kwokPort}`,
      kwokLogFile: path.join(dir, 'logs', 'kwok.log'),
      schedulerLogFile: path.join(dir, 'logs', 'kube-scheduler.log'),
    },
    binaries,
    startedAt: new Date().toISOString(),
  };

  // etcd first (the API servers need it); certificates meanwhile.
  const etcd = await launcher.start('etcd', binaries.etcd, [
    '--name', 'testenv',
    '--data-dir', path.join(dir, 'etcd'),
    '--listen-client-urls', env.etcd.endpoint,
    '--advertise-client-urls', env.etcd.endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `testenv=http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster-state', 'new',
    '--unsafe-no-fsync',
    '--log-level', 'warn',
  ]);
  const moto = await launcher.start('moto', binaries.motoServer, ['-H', '127.0.0.1', '-p', String(motoPort)]);
  const gcpsm = await launcher.start('gcpsm', binaries.gcpsm, ['-listen', env.gcp.secretManagerEndpoint]);
  const [webhook, gkeAuth, flyteadmin] = await Promise.all([
    startEksWebhookProcess(dir, env, launcher),
    startGkeAuthProcess(dir, env, launcher),
    startFlyteAdminProcess(dir, env, launcher),
  ]);

  await Promise.all(names.map((n) => makeClusterPki(path.join(dir, n), n)));
  for (const c of Object.values(clusters)) c.caData = (await fs.readFile(c.caFile)).toString('base64');
  await fs.writeFile(
    env.kubeconfig,
    kubeconfigYaml(
      names.map((n) => ({ name: n, server: clusters[n]!.server, caFile: clusters[n]!.caFile, certFile: clusters[n]!.adminCertFile, keyFile: clusters[n]!.adminKeyFile })),
      CONTROL_PLANE,
    ),
    { mode: 0o600 },
  );
  await waitUntil(etcd, `etcd on ${env.etcd.endpoint}`, async () => (await httpStatus(`${env.etcd.endpoint}/health`)) === 200, 30_000, log);

  const apiservers = new Map<string, Running>();
  for (const n of names) {
    const c = clusters[n]!;
    const cdir = path.join(dir, n);
    const port = new URL(c.server).port;
    // Data planes also take EKS tokens, through the webhook (after the built-in authenticators:
    // client certificates and ServiceAccount tokens are unaffected).
    const eksAuthn: string[] = [];
    if (c.role === 'data-plane') {
      const webhookKubeconfig = path.join(cdir, 'eks-webhook.kubeconfig');
      await fs.writeFile(webhookKubeconfig, webhookKubeconfigYaml(`${env.eks.webhook}/authenticate/${env.eks.clusterNames[n]}`), { mode: 0o600 });
      eksAuthn.push(
        `--authentication-token-webhook-config-file=${webhookKubeconfig}`,
        '--authentication-token-webhook-version=v1',
        '--authentication-token-webhook-cache-ttl=10s',
      );
    }
    apiservers.set(
      n,
      await launcher.start(`kube-apiserver-${n}`, binaries.kubeApiserver, [
        `--etcd-servers=${env.etcd.endpoint}`,
        `--etcd-prefix=${c.etcdPrefix}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        '--advertise-address=127.0.0.1',
        `--cert-dir=${cdir}`,
        `--tls-cert-file=${path.join(cdir, 'apiserver.crt')}`,
        `--tls-private-key-file=${path.join(cdir, 'apiserver.key')}`,
        `--client-ca-file=${c.caFile}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=${c.serviceAccountIssuer}`,
        `--service-account-key-file=${path.join(cdir, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(cdir, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        // No kubelet, no other API server replicas: the `kubernetes` Service endpoints (which may
        // not be loopback anyway) and priority-and-fairness are not needed.
        '--endpoint-reconciler-type=none',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        ...eksAuthn,
      ]),
    );
  }
  await Promise.all([
    ...names.map((n) =>
      waitUntil(apiservers.get(n)!, `kube-apiserver ${n} on :${new URL(clusters[n]!.server).port}`, () => apiserverReady(clusters[n]!), 120_000, log),
    ),
    waitUntil(moto, `moto on :${motoPort}`, async () => (await httpStatus(`${env.aws.endpoint}/moto-api/`)) > 0, 60_000, log),
    waitUntil(gcpsm, `GCP Secret Manager emulator on :${gcpPort}`, () => tcpOpen('127.0.0.1', gcpPort!), 30_000, log),
    waitUntil(webhook, `EKS webhook on :${webhookPort}`, async () => (await httpStatus(`${env.eks.webhook}/healthz`)) === 200, 30_000, log),
    waitUntil(gkeAuth, `GKE auth stand-in on :${gkePort}`, async () => (await httpStatus(`${env.gke.server}/healthz`)) === 200, 30_000, log),
    waitUntil(
      flyteadmin,
      `FlyteAdmin stand-in on :${faInsecure}, :${faSecure}, :${faToken}`,
      async () => (await Promise.all([faInsecure, faSecure, faToken].map((p) => tcpOpen('127.0.0.1', p!)))).every(Boolean),
      60_000,
      log,
    ),
  ]);
  log(`API servers ready after ${formatSeconds(Date.now() - tStart)}`);

  // Controller managers (their RBAC first), then the Flyte objects.
  await Promise.all(names.map((n) => seedControllerManagerRbac(adminKubeConfig(env, n), n)));
  const kcms = new Map<string, Running>();
  for (const n of names) {
    const c = clusters[n]!;
    const cdir = path.join(dir, n);
    const kubeconfig = path.join(cdir, 'kcm.kubeconfig');
    await fs.writeFile(
      kubeconfig,
      kubeconfigYaml([{ name: n, server: c.server, caFile: c.caFile, certFile: path.join(cdir, 'kcm.crt'), keyFile: path.join(cdir, 'kcm.key') }], n),
      { mode: 0o600 },
    );
    kcms.set(
      n,
      await launcher.start(`kube-controller-manager-${n}`, binaries.kubeControllerManager, [
        `--kubeconfig=${kubeconfig}`,
        `--controllers=${[...CONTROLLERS, ...(c.role === 'control-plane' ? ROLLOUT_CONTROLLERS : [])].join(',')}`,
        `--service-account-private-key-file=${path.join(cdir, 'sa.key')}`,
        `--root-ca-file=${c.caFile}`,
        '--use-service-account-credentials=false',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
      ]),
    );
  }
  const rollouts = await startRollouts(dir, env, binaries, launcher, log);
  const lastDp = dataPlanes[dataPlanes.length - 1];
  await Promise.all(
    names.map(async (n) => {
      const kc = adminKubeConfig(env, n);
      const tokenSecret = clusters[n]!.role === 'data-plane' && n !== lastDp;
      if (clusters[n]!.role === 'control-plane') await seedControlPlane(kc, n);
      else await seedDataPlane(kc, n, { tokenSecret });
      const kcm = kcms.get(n)!;
      // On the control plane the Deployments must roll out: that needs the scheduler and KWOK too.
      const procs = [kcm, ...(clusters[n]!.role === 'control-plane' ? rollouts : [])];
      const gone = () => procs.find((p) => p.exit || !isProcessAlive(p.rec));
      try {
        await waitForControllers(kc, n, {
          tokenSecret,
          rollouts: clusters[n]!.role === 'control-plane',
          timeoutMs: 90_000,
          exited: () => {
            const p = gone();
            return p ? `${p.rec.name} ${p.exit ?? 'is gone'}` : undefined;
          },
        });
      } catch (err) {
        const logs = await Promise.all(procs.map(async (p) => `last 40 lines of ${p.rec.logFile}:\n${await tailFile(p.rec.logFile)}`));
        throw new Error(`${(err as Error).message}; ${logs.join('\n')}`);
      }
    }),
  );

  await fs.writeFile(envFile(dir), JSON.stringify(env, null, 2) + '\n');
  log(`test environment up in ${formatSeconds(Date.now() - tStart)} (total ${formatSeconds(Date.now() - t0)} including checks/builds)`);
  return env;
}

/** What every cluster's kube-controller-manager runs. */
const CONTROLLERS = ['serviceaccount-token-controller', 'serviceaccount-controller', 'namespace-controller', 'garbage-collector-controller'];

/**
 * What the control plane's adds so Deployments roll out: node-lifecycle removes the not-ready taint
 * that admission puts on every new Node once KWOK reports it Ready (and would taint it again if
 * KWOK stopped renewing its Lease).
 */
const ROLLOUT_CONTROLLERS = ['deployment-controller', 'replicaset-controller', 'node-lifecycle-controller'];

/**
 * kube-scheduler (its own identity, system:kube-scheduler) and KWOK (admin identity; manages the
 * nodes annotated kwok.x-k8s.io/node=fake with the stages copied from its module) on the control
 * plane. The nodes themselves are seeded by seedControlPlane.
 */
async function startRollouts(dir: string, env: EnvInfo, binaries: Binaries, launcher: Launcher, log: Log): Promise<Running[]> {
  const c = env.clusters[env.controlPlane]!;
  const cdir = path.join(dir, c.name);
  const schedKubeconfig = path.join(cdir, 'scheduler.kubeconfig');
  const kwokKubeconfig = path.join(cdir, 'kwok.kubeconfig');
  await fs.writeFile(schedKubeconfig, kubeconfigYaml([{ name: c.name, server: c.server, caFile: c.caFile, certFile: path.join(cdir, 'scheduler.crt'), keyFile: path.join(cdir, 'scheduler.key') }], c.name), { mode: 0o600 });
  await fs.writeFile(kwokKubeconfig, kubeconfigYaml([{ name: c.name, server: c.server, caFile: c.caFile, certFile: c.adminCertFile, keyFile: c.adminKeyFile }], c.name), { mode: 0o600 });
  const scheduler = await launcher.start('kube-scheduler', binaries.kubeScheduler, [
    `--kubeconfig=${schedKubeconfig}`,
    '--leader-elect=false',
    // No serving at all (and so no delegated authentication to look up).
    '--secure-port=0',
  ]);
  const kwok = await launcher.start('kwok', binaries.kwok, [
    `--kubeconfig=${kwokKubeconfig}`,
    `--config=${binaries.kwokStages}`,
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    `--server-address=${new URL(env.rollouts.kwokServer).host}`,
    '--node-ip=127.0.0.1',
    '--node-lease-duration-seconds=40',
  ]);
  await waitUntil(kwok, `KWOK on ${env.rollouts.kwokServer}`, async () => (await httpStatus(`${env.rollouts.kwokServer}/healthz`)) === 200, 60_000, log);
  return [scheduler, kwok];
}
