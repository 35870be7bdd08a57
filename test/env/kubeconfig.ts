/** The kubeconfig files of the environment, and an admin client of one of its clusters. */
import { stringify as toYaml } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import type { EnvInfo } from './info.ts';

export function kubeconfigYaml(entries: { name: string; server: string; caFile: string; certFile: string; keyFile: string }[], current: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: entries.map((e) => ({ name: e.name, cluster: { server: e.server, 'certificate-authority': e.caFile } })),
    users: entries.map((e) => ({ name: `${e.name}-user`, user: { 'client-certificate': e.certFile, 'client-key': e.keyFile } })),
    contexts: entries.map((e) => ({ name: e.name, context: { cluster: e.name, user: `${e.name}-user` } })),
    'current-context': current,
  });
}

/** kubeconfig-format file of --authentication-token-webhook-config-file: where the TokenReviews go. */
export function webhookKubeconfigYaml(url: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'eks-webhook', cluster: { server: url } }],
    users: [{ name: 'kube-apiserver', user: {} }],
    contexts: [{ name: 'eks-webhook', context: { cluster: 'eks-webhook', user: 'kube-apiserver' } }],
    'current-context': 'eks-webhook',
  });
}

/** An in-memory KubeConfig with the admin identity (system:masters) of one cluster. */
export function adminKubeConfig(env: EnvInfo, cluster: string): KubeConfig {
  const c = env.clusters[cluster];
  if (!c) throw new Error(`no cluster "${cluster}" in the test environment (have: ${Object.keys(env.clusters).join(', ')})`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: c.name, server: c.server, caData: c.caData, skipTLSVerify: false }],
    users: [{ name: `${c.name}-admin`, certFile: c.adminCertFile, keyFile: c.adminKeyFile }],
    contexts: [{ name: c.context, cluster: c.name, user: `${c.name}-admin` }],
    currentContext: c.context,
  });
  return kc;
}
