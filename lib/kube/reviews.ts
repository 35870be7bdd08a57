/**
 * The two questions the sync asks an API server about an identity, as the identity itself:
 * who am I (SelfSubjectReview), and may I (one SelfSubjectAccessReview per action, asked at once:
 * Kubernetes has no batch form). Both persist nothing. Used by verification (lib/dataplane/verify.ts)
 * and by `credsync doctor`.
 */
import type { V1SelfSubjectAccessReview, V1SelfSubjectReview, V1UserInfo } from '@kubernetes/client-node';
import { kubeCall } from './errors.ts';
import type { KubeHttp } from './http2.ts';

/** An action, as a SelfSubjectAccessReview's resourceAttributes. */
export interface ReviewedAction {
  verb: string;
  group: string;
  /** The resource alone (`serviceaccounts`), never `resource/subresource`: see {@link subresource}. */
  resource: string;
  /**
   * A subresource (`token` of `serviceaccounts`), in its own field as the API defines it. RBAC
   * matches either form, but a webhook authorizer (EKS, GKE) is asked about what the review
   * names: a resource called `serviceaccounts/token` does not exist there. Default: none.
   */
  subresource?: string;
  namespace?: string;
  name?: string;
}

/**
 * An action as a person reads it: `update configmaps flyte/flyte-admin-clusters-config`,
 * `patch deployments.apps flyte/flyteadmin`, `create secrets flyte/*`, `list
 * flyteworkflows.flyte.lyft.com (every namespace)/*` (namespace ''); with neither namespace nor
 * name (a cluster-wide question, or a cluster-scoped resource), `delete flyteworkflows.flyte.lyft.com`.
 */
export const describeAction = (a: ReviewedAction): string =>
  `${a.verb} ${rbacResource(a)}${a.group ? '.' + a.group : ''}${a.namespace === undefined && a.name === undefined ? '' : ` ${a.namespace || '(every namespace)'}/${a.name ?? '*'}`}`;

/** An action in RBAC's notation: `serviceaccounts/token` for a subresource. */
export const rbacResource = (a: Pick<ReviewedAction, 'resource' | 'subresource'>): string => (a.subresource ? `${a.resource}/${a.subresource}` : a.resource);

/**
 * Whom the API server authenticates this connection as.
 * @param cancel aborts the request (then its reason is thrown)
 * @throws what {@link kubeCall} throws (a 401 is a KubernetesApiError with status 401)
 */
export async function whoAmI(http: KubeHttp, cluster: string, server: string, timeoutMs?: number, cancel?: AbortSignal): Promise<V1UserInfo> {
  const review = await kubeCall(
    cluster,
    server,
    'SelfSubjectReview',
    (o) =>
      http.request<V1SelfSubjectReview>({
        ...o,
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      }),
    timeoutMs,
    cancel,
  );
  return review.status?.userInfo ?? {};
}

/**
 * For each action, in order, whether this connection's identity may do it. `cancel` aborts the requests.
 * @throws what {@link kubeCall} throws (a 401 is a KubernetesApiError with status 401)
 */
export function mayDo(http: KubeHttp, cluster: string, server: string, actions: readonly ReviewedAction[], timeoutMs?: number, cancel?: AbortSignal): Promise<boolean[]> {
  return Promise.all(
    actions.map(async (a) => {
      const r = await kubeCall(
        cluster,
        server,
        'SelfSubjectAccessReview',
        (o) =>
          http.request<V1SelfSubjectAccessReview>({
            ...o,
            method: 'POST',
            path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: {
                resourceAttributes: {
                  verb: a.verb,
                  group: a.group,
                  resource: a.resource,
                  ...(a.subresource ? { subresource: a.subresource } : {}),
                  namespace: a.namespace,
                  ...(a.name ? { name: a.name } : {}),
                },
              },
            },
          }),
        timeoutMs,
        cancel,
      );
      return r.status?.allowed === true;
    }),
  );
}

/** One resource rule of a SelfSubjectRulesReview (authorization.k8s.io/v1 ResourceRule). */
export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/**
 * Whether an RBAC-style rule allows an action, the way the RBAC authorizer matches
 * (pkg/apis/rbac/v1 helpers): `*` for any verb, group or resource, `*\/sub` for a subresource of
 * any resource, and resourceNames empty for every name.
 */
export function ruleAllows(rule: ResourceRule, a: ReviewedAction): boolean {
  const has = (list: readonly string[] | undefined, v: string) => !!list && (list.includes('*') || list.includes(v));
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.group)) return false;
  const res = rbacResource(a);
  const resources = rule.resources ?? [];
  if (!(resources.includes('*') || resources.includes(res) || (a.subresource !== undefined && resources.includes(`*/${a.subresource}`)))) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

/**
 * For each action, in order, whether this connection's identity may do it in `namespace`: one
 * SelfSubjectRulesReview for the namespace (one call whatever the number of actions) matched
 * locally ({@link ruleAllows}). An action the rules do not allow, when the API server says its
 * list is incomplete (a webhook authorizer, as on EKS and GKE, lists no rules), is asked with a
 * SelfSubjectAccessReview ({@link mayDo}); an allowed one never is.
 * @throws what {@link kubeCall} throws
 */
export async function mayDoInNamespace(
  http: KubeHttp,
  cluster: string,
  server: string,
  namespace: string,
  actions: readonly ReviewedAction[],
  timeoutMs?: number,
  cancel?: AbortSignal,
): Promise<boolean[]> {
  const review = await kubeCall(
    cluster,
    server,
    'SelfSubjectRulesReview',
    (o) =>
      http.request<{ status?: { resourceRules?: ResourceRule[]; incomplete?: boolean } }>({
        ...o,
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
      }),
    timeoutMs,
    cancel,
  );
  const rules = review.status?.resourceRules ?? [];
  const answers = actions.map((a) => rules.some((r) => ruleAllows(r, { ...a, namespace })));
  if (!review.status?.incomplete) return answers;
  const unsure = actions.flatMap((a, i) => (answers[i] ? [] : [i]));
  const asked = await mayDo(http, cluster, server, unsure.map((i) => ({ ...actions[i]!, namespace })), timeoutMs, cancel);
  unsure.forEach((i, k) => (answers[i] = asked[k]!));
  return answers;
}
