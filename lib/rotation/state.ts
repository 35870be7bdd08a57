/**
 * The rotation state machine, as it is kept in the store (never only in memory).
 *
 * Per data plane the store holds versions of the credential record (each carrying its
 * `generation`: the per-generation object on the data plane, when it was issued, when it
 * expires) under three markers, and one small piece of metadata, the {@link RotationState}:
 *
 *   version markers             AWS Secrets Manager          GCP Secret Manager
 *   current (published)         AWSCURRENT                   version alias `current`
 *   pending (staged, unproven)  AWSPENDING                   version alias `pending`
 *   previous                    AWSPREVIOUS                  version alias `previous`
 *   state                       tag `flyte-credsync-rotation` annotation `flyte-credsync-rotation`
 *
 * The steps of one rotation, each a write that the next run can see:
 *   1. mint generation g+1 on the data plane (object `<tokenSecret>-<g+1>`), record `highest`;
 *   2. stage it as pending;                         -> a killed run finds the pending version
 *   3. verify it; promote it (pending -> current, current -> previous) and set the state
 *      `published` with `publishedAt` and `revoke: g`;
 *   4. publish (control plane Secret + ConfigMaps) and restart the Deployments;
 *   5. wait for the rollout (every Deployment restarted at or after `publishedAt`, complete);
 *   6. revoke generation g on the data plane, set the state `idle` with `revoked: g`.
 * A run that finds `published` resumes at 4 (re-applying is a no-op, a missing restart is made);
 * one that finds a pending version resumes at 3.
 */

/** The per-generation object's name: generation 0 is the data plane's own token Secret. */
export function objectName(tokenSecret: string, generation: number): string {
  return generation === 0 ? tokenSecret : `${tokenSecret}-${generation}`;
}
