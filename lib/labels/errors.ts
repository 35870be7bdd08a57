/**
 * Errors of the labels feature: FlyteAdmin calls and the routing guard. Both are
 * {@link CredsyncError}s with stable codes; messages pass through redact (no token, no secret).
 */
import { CredsyncError, type ErrorCode } from '../errors.ts';

/** A FlyteAdmin call failed: `FlyteAdmin <endpoint>: <method> <what>: <detail>`. */
export class FlyteAdminError extends CredsyncError {
  readonly method: string;
  constructor(code: ErrorCode, endpoint: string, method: string, what: string, detail: string, options?: { cause?: unknown }) {
    super(code, `FlyteAdmin ${endpoint}: ${method} ${what}: ${detail.slice(0, 300)}`, options);
    this.name = 'FlyteAdminError';
    this.method = method;
  }
}

/** Our code for a gRPC status: unreachable (retry later), refused credentials, or an API answer. */
export function grpcErrorCode(status: number): ErrorCode {
  // gRPC status codes (numbers, so this module does not load grpc-js for every sync).
  switch (status) {
    case 14: // UNAVAILABLE
    case 4: // DEADLINE_EXCEEDED
      return 'FLYTEADMIN_UNREACHABLE';
    case 16: // UNAUTHENTICATED
    case 7: // PERMISSION_DENIED
      return 'FLYTEADMIN_AUTH';
    default:
      return 'FLYTEADMIN_API';
  }
}

/** One reason the routing guard refuses a configuration. */
export interface RoutingProblem {
  /** project/domain[/workflow], or `default` for defaultExecutionLabel. */
  scope: string;
  label: string;
  /** Where the assignment comes from. */
  source: 'configuration' | 'flyteadmin';
  reason: string;
}

/** The routing guard refused: a label in use would route nowhere (or everywhere). Nothing was written. */
export class LabelRoutingError extends CredsyncError {
  readonly problems: RoutingProblem[];
  constructor(problems: RoutingProblem[]) {
    super(
      'LABEL_ROUTING',
      `refusing to write the control plane: ${problems.length} execution-cluster label assignment(s) would not route as configured (flyteadmin would silently send them to every enabled cluster):\n` +
        problems.map((p) => `  - ${p.scope} -> label "${p.label}" (${p.source}): ${p.reason}`).join('\n'),
    );
    this.name = 'LabelRoutingError';
    this.problems = problems;
  }
}
