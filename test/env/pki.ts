/**
 * PKI of the local clusters: openssl for each cluster's CA and certificates, node:crypto for the
 * service-account keys (Kubernetes' and the GKE stand-in's).
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { CONTROL_PLANE } from './info.ts';

const execFileP = promisify(execFile);

const generateKeyPairP = promisify(generateKeyPair);

export async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed in ${cwd}: ${e.stderr?.trim() || e.message}`);
  }
}

export const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function issue(cwd: string, name: string, subj: string, ext: string[]): Promise<void> {
  await openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], cwd);
  await fs.writeFile(path.join(cwd, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '3650', '-sha256',
      '-extfile', `${name}.ext`, '-out', `${name}.crt`,
    ],
    cwd,
  );
  await fs.rm(path.join(cwd, `${name}.csr`));
  await fs.chmod(path.join(cwd, `${name}.key`), 0o600);
}

/** CA, serving cert, admin and controller-manager client certs, SA key pair for one cluster. */
export async function makeClusterPki(cdir: string, cluster: string): Promise<void> {
  await fs.mkdir(cdir, { recursive: true, mode: 0o700 });
  await openssl(
    [
      'req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-sha256',
      '-subj', `/CN=credsync-testenv-${cluster}-ca`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    cdir,
  );
  await fs.chmod(path.join(cdir, 'ca.key'), 0o600);
  const client = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
  await Promise.all([
    issue(cdir, 'apiserver', `/CN=kube-apiserver-${cluster}`, [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ]),
    issue(cdir, 'admin', '/O=system:masters/CN=credsync-admin', client),
    issue(cdir, 'kcm', '/CN=system:kube-controller-manager', client),
    // Only the control plane runs a scheduler; its bootstrap ClusterRole binds this user.
    ...(cluster === CONTROL_PLANE ? [issue(cdir, 'scheduler', '/CN=system:kube-scheduler', client)] : []),
    (async () => {
      const { privateKey, publicKey } = await generateKeyPairP('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      await fs.writeFile(path.join(cdir, 'sa.key'), privateKey, { mode: 0o600 });
      await fs.writeFile(path.join(cdir, 'sa.pub'), publicKey);
    })(),
  ]);
}

/** A key in the format of a downloaded Google service-account key (token_uri: the local endpoint). */
export async function writeServiceAccountKey(file: string, email: string, project: string, tokenUri: string): Promise<{ privateKeyId: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateKeyPairP('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateKeyId = randomBytes(20).toString('hex');
  const clientId = `1${Array.from(randomBytes(20), (b) => String(b % 10)).join('')}`;
  const key = {
    type: 'service_account',
    project_id: project,
    private_key_id: privateKeyId,
    private_key: privateKey,
    client_email: email,
    client_id: clientId,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
    universe_domain: 'googleapis.com',
  };
  await fs.writeFile(file, JSON.stringify(key, null, 2) + '\n', { mode: 0o600 });
  return { privateKeyId, publicKeyPem: publicKey };
}
