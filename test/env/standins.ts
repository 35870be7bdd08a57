/**
 * Starts the stand-ins of what the environment cannot run itself: EKS's token authentication
 * (./eks-webhook.ts), GKE's (./gke-auth.ts) and FlyteAdmin (./flyteadmin.ts).
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { EksWebhookConfig, KeyStoreFile } from './eks-webhook.ts';
import type { GkeAuthConfig } from './gke-auth.ts';
import type { FlyteAdminStandInConfig } from './flyteadmin.ts';
import { REPO_ROOT, type EnvInfo } from './info.ts';
import { EC, issue, openssl, writeServiceAccountKey } from './pki.ts';
import { Launcher, type Running } from './processes.ts';

const EKS_WEBHOOK_SCRIPT = path.join(REPO_ROOT, 'test', 'env', 'eks-webhook.ts');

const GKE_AUTH_SCRIPT = path.join(REPO_ROOT, 'test', 'env', 'gke-auth.ts');

const FLYTEADMIN_SCRIPT = path.join(REPO_ROOT, 'test', 'env', 'flyteadmin.ts');

/**
 * The EKS authentication stand-in (./eks-webhook.ts), on this Node: its STS key store holds
 * moto's static credentials, and the principal moto answers for them is mapped to
 * eks.username / eks.group.
 */
export async function startEksWebhookProcess(dir: string, env: EnvInfo, launcher: Launcher): Promise<Running> {
  const wdir = path.join(dir, 'eks-webhook');
  await fs.mkdir(wdir, { recursive: true, mode: 0o700 });
  const keys: KeyStoreFile = { keys: { [env.aws.accessKeyId]: { secretAccessKey: env.aws.secretAccessKey } } };
  await fs.writeFile(env.eks.keyStore, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  const cfg: EksWebhookConfig = {
    port: Number(new URL(env.eks.webhook).port),
    stsEndpoint: env.aws.endpoint,
    clusters: Object.values(env.eks.clusterNames),
    keyStore: env.eks.keyStore,
    mappings: [
      { arn: env.eks.mappedArn, username: env.eks.username, groups: [env.eks.group] },
      { arn: env.eks.crossAccountRoleArn, username: `eks:${env.eks.crossAccountRoleArn}`, groups: [env.eks.group] },
    ],
    // The API servers' one webhook URL: `ya29.` tokens go on to the GKE stand-in.
    gkeReview: env.gke.server,
  };
  const cfgFile = path.join(wdir, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  return launcher.start('eks-webhook', process.execPath, ['--disable-warning=ExperimentalWarning', EKS_WEBHOOK_SCRIPT, cfgFile]);
}

/**
 * The GKE authentication stand-in (./gke-auth.ts), on this Node: two service-account keys
 * (gke.keyFile, and gke.shortLived's with tokens of a few seconds), both mapped to their
 * `gke:<email>` user in gke.group.
 */
export async function startGkeAuthProcess(dir: string, env: EnvInfo, launcher: Launcher): Promise<Running> {
  const gdir = path.join(dir, 'gke-auth');
  await fs.mkdir(gdir, { recursive: true, mode: 0o700 });
  const accounts = [env.gke, env.gke.shortLived];
  const keys = await Promise.all(accounts.map((a) => writeServiceAccountKey(a.keyFile, a.clientEmail, env.gke.project, env.gke.tokenEndpoint)));
  const cfg: GkeAuthConfig = {
    port: Number(new URL(env.gke.server).port),
    audiences: [env.gke.googleTokenUrl, env.gke.tokenEndpoint],
    serviceAccounts: accounts.map((a, i) => ({ clientEmail: a.clientEmail, privateKeyId: keys[i]!.privateKeyId, publicKeyPem: keys[i]!.publicKeyPem, tokenLifetimeSeconds: a.tokenLifetimeSeconds })),
    clusters: Object.values(env.gke.clusterNames),
    requiredScope: env.gke.scope,
    mappings: accounts.map((a) => ({ email: a.clientEmail, username: a.username, groups: [env.gke.group] })),
  };
  const cfgFile = path.join(gdir, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  return launcher.start('gke-auth', process.execPath, ['--disable-warning=ExperimentalWarning', GKE_AUTH_SCRIPT, cfgFile]);
}

/**
 * The FlyteAdmin stand-in (./flyteadmin.ts), on this Node: its own CA and serving certificate
 * (127.0.0.1), one OAuth2 client with a random secret (the stand-in's config holds its SHA-256 only).
 */
export async function startFlyteAdminProcess(dir: string, env: EnvInfo, launcher: Launcher): Promise<Running> {
  const fdir = path.join(dir, 'flyteadmin');
  await fs.mkdir(fdir, { recursive: true, mode: 0o700 });
  await openssl(
    [
      'req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-sha256',
      '-subj', '/CN=credsync-testenv-flyteadmin-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    fdir,
  );
  await fs.chmod(path.join(fdir, 'ca.key'), 0o600);
  await issue(fdir, 'server', '/CN=flyteadmin-standin', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const secret = randomBytes(24).toString('base64url');
  await fs.writeFile(env.flyteadmin.clientSecretFile, secret, { mode: 0o600 });
  const port = (hostPort: string) => Number(hostPort.split(':')[1]);
  const cfg: FlyteAdminStandInConfig = {
    insecurePort: port(env.flyteadmin.insecureEndpoint),
    secure: {
      port: port(env.flyteadmin.endpoint),
      tokenPort: Number(new URL(env.flyteadmin.tokenEndpoint).port),
      certFile: path.join(fdir, 'server.crt'),
      keyFile: path.join(fdir, 'server.key'),
      clients: [{ clientId: env.flyteadmin.clientId, secretSha256: createHash('sha256').update(secret).digest('hex'), scopes: ['all'] }],
      scopes: ['all'],
    },
    projects: env.flyteadmin.projects,
  };
  const cfgFile = path.join(fdir, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  return launcher.start('flyteadmin', process.execPath, ['--disable-warning=ExperimentalWarning', FLYTEADMIN_SCRIPT, cfgFile]);
}

// ---------------------------------------------------------------------------------------------
// Public API
