/**
 * SelfSubjectAccessReviews (lib/kube/reviews.ts) against a real API server: a subresource is asked
 * in its own field (`subresource`), as webhook authorizers (EKS, GKE) need it, and RBAC answers it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { connect } from '../../lib/clusters/access.ts';
import { dataPlanePermissions } from '../../lib/doctor/doctor.ts';
import { closeAllSessions, KubeHttp } from '../../lib/kube/http2.ts';
import { mayDo, type ReviewedAction } from '../../lib/kube/reviews.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { settingsFor } from '../../lib/rotation/config.ts';
import { adminKubeConfig, loadTestEnv, restrictedKubeconfig, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const USER = 'reviews-test-bot';
const ROLE = 'reviews-test-token';

beforeAll(() => {
  env = loadTestEnv();
});
afterAll(() => closeAllSessions());

describe('SelfSubjectAccessReview with a subresource', () => {
  it('an RBAC Role granting create on serviceaccounts/token is answered allowed through `subresource`, and only for that subresource and name', async () => {
    // Prepare: an identity whose only right on the data plane is TokenRequest for flyte/flyteadmin,
    // granted as deploy/dataplane-rotation-rbac.yaml grants it.
    const dp = env.dataPlanes[0]!;
    const rbac = adminKubeConfig(env, dp).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: 'flyte',
      body: { metadata: { name: ROLE }, rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['flyteadmin'], verbs: ['create'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'flyte',
      body: { metadata: { name: ROLE }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ROLE }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }] },
    });
    try {
      const kubeconfig = restrictedKubeconfig(env, USER, 'reviews-test');
      const http = new KubeHttp(await connect(`data plane ${dp}`, { type: 'kubeconfig', context: dp, path: kubeconfig }));
      const token: ReviewedAction = { verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace: 'flyte', name: 'flyteadmin' };
      // Act
      const answers = await mayDo(http, dp, http.server, [
        token,
        // The resource itself: not granted, so the subresource above was really sent as one.
        { ...token, subresource: undefined },
        { ...token, name: 'default' },
        { ...token, namespace: 'default' },
        { ...token, subresource: 'status' },
      ]);
      // Assess
      expect(answers).toEqual([true, false, false, false, false]);
      // What doctor asks for a tokenRequest data plane is allowed by exactly this Role.
      const cfg = parseConfig({
        controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: kubeconfig } },
        store: { aws: { region: env.aws.region, prefix: 'reviews-test-', endpoint: env.aws.endpoint } },
        dataPlanes: [{ id: dp, access: { type: 'kubeconfig', context: dp, path: kubeconfig }, labels: { team1: 1 }, rotation: { mode: 'tokenRequest', every: '1d', expirationSeconds: 86400, runEvery: '1h' } }],
      });
      const asked = dataPlanePermissions(cfg.dataPlanes[0]!, settingsFor(cfg, cfg.dataPlanes[0]!)).filter((p) => p.subresource);
      expect(asked).toEqual([{ verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace: 'flyte', name: 'flyteadmin', for: 'rotation' }]);
      expect(await mayDo(http, dp, http.server, asked)).toEqual([true]);
    } finally {
      await rbac.deleteNamespacedRoleBinding({ name: ROLE, namespace: 'flyte' }).catch(() => undefined);
      await rbac.deleteNamespacedRole({ name: ROLE, namespace: 'flyte' }).catch(() => undefined);
    }
  });
});
