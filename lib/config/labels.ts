/**
 * The `labels` section of the configuration: which execution-cluster label each project/domain
 * (optionally workflow) uses, and how to reach FlyteAdmin to set it. Validated strictly, like the
 * rest of the configuration (./schema.ts embeds it).
 *
 * @example
 * ```yaml
 * labels:
 *   flyteadmin:
 *     endpoint: flyte.example.com:443
 *     caFile: /etc/flyte/ca.crt            # optional; the system CAs otherwise
 *     auth:
 *       type: clientCredentials
 *       clientId: credsync
 *       clientSecretName: flyte-credsync/flyteadmin-client-secret   # in the configured secret store
 *   assignments:
 *     - { project: flytesnacks, domain: production, label: team1 }
 *     - { project: flytesnacks, domain: development, workflow: core.hello.my_wf, label: team2 }
 * ```
 */
import * as z from '../util/zod.ts';

/** Flyte project and domain ids are DNS-1123 labels (flyteadmin's project registration checks it). */
const FLYTE_ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Execution labels: lower-case (viper lower-cases config keys); the same rule as lib/config/schema.ts LABEL. */
const LABEL = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
/** host:port, optionally with flytectl's `dns:///` prefix. */
const ENDPOINT = /^(dns:\/\/\/)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

const flyteId = (what: string) => z.string().check(z.maxLength(63), z.regex(FLYTE_ID, `${what} must be a DNS-1123 label (lower-case alphanumerics and '-')`));

export const FlyteAdminAuth = z.strictObject({
  /** OAuth2 client credentials (flytectl's `authType: ClientSecret`). */
  type: z.literal('clientCredentials'),
  clientId: z.string().check(z.minLength(1)),
  /** Name of the secret holding the client secret in the configured secret store (never the secret itself). */
  clientSecretName: z.string().check(z.minLength(1), z.maxLength(512)),
  /** Token endpoint; by default the one FlyteAdmin advertises (AuthMetadataService.GetOAuth2Metadata). */
  tokenUrl: z.optional(z.url({ protocol: /^https$/, error: 'must be an https:// URL' })),
  /** Scopes to ask for; by default the ones FlyteAdmin advertises (GetPublicClientConfig), usually ["all"]. */
  scopes: z.optional(z.array(z.string().check(z.minLength(1)))),
  /** Audience parameter of the token request, when the identity provider needs one. */
  audience: z.optional(z.string().check(z.minLength(1))),
});
export type FlyteAdminAuth = z.infer<typeof FlyteAdminAuth>;

export const FlyteAdminConnection = z
  .strictObject({
    /** FlyteAdmin's gRPC endpoint, host:port (flytectl's admin.endpoint, `dns:///` optional). */
    endpoint: z.string().check(z.regex(ENDPOINT, 'must be host:port, e.g. flyte.example.com:443')),
    /** Plaintext gRPC, no TLS (local sandboxes only). @default false */
    insecure: z._default(z.boolean(), false),
    /** PEM file of the CA that signed FlyteAdmin's certificate (default: the system CAs). */
    caFile: z.optional(z.string().check(z.minLength(1))),
    /** The same CA as PEM text. */
    caData: z.optional(z.string().check(z.minLength(1))),
    auth: z.optional(FlyteAdminAuth),
    /** Deadline of each call, token requests included. @default 10 */
    timeoutSeconds: z._default(z.number().check(z.int(), z.gte(1), z.lte(120)), 10),
  })
  .check(
    z.superRefine((v, ctx) => {
      if (v.caFile && v.caData) ctx.addIssue({ code: 'custom', message: 'set at most one of caFile, caData' });
      if (v.insecure && (v.caFile || v.caData)) ctx.addIssue({ code: 'custom', message: 'insecure: true takes no CA (there is no TLS)' });
      if (v.insecure && v.auth)
        ctx.addIssue({ code: 'custom', path: ['auth'], message: 'auth needs TLS: insecure: true would send the access token in clear' });
    }),
  );
export type FlyteAdminConnection = z.infer<typeof FlyteAdminConnection>;

export const LabelAssignment = z.strictObject({
  project: flyteId('project'),
  domain: flyteId('domain'),
  /** A workflow name (e.g. core.hello.my_wf): a workflow attribute instead of a project-domain one. */
  workflow: z.optional(z.string().check(z.minLength(1), z.maxLength(255))),
  label: z.string().check(z.regex(LABEL, 'labels must be lower-case alphanumerics, -, _ or .')),
});
export type LabelAssignment = z.infer<typeof LabelAssignment>;

/** The scope of an assignment as one string: `project/domain` or `project/domain/workflow`. */
export function scopeKey(a: { project: string; domain: string; workflow?: string | undefined }): string {
  return a.workflow ? `${a.project}/${a.domain}/${a.workflow}` : `${a.project}/${a.domain}`;
}

export const Labels = z
  .strictObject({
    flyteadmin: FlyteAdminConnection,
    /** The execution-cluster labels flyte-credsync owns; anything else in FlyteAdmin is left alone and reported. */
    assignments: z._default(z.array(LabelAssignment), []),
  })
  .check(
    z.superRefine((v, ctx) => {
      const seen = new Map<string, number>();
      v.assignments.forEach((a, i) => {
        const k = scopeKey(a);
        const prev = seen.get(k);
        if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['assignments', i], message: `duplicate assignment for ${k} (also assignments.${prev})` });
        else seen.set(k, i);
      });
    }),
  );
export type Labels = z.infer<typeof Labels>;
