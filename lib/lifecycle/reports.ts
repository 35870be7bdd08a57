/**
 * What reports say of a retiring data plane, and what `credsync retire` asks (lib/sync/retire.ts
 * does it; docs/data-plane-lifecycle.md).
 */
import type { RetireState } from '../stores/lifecycle.ts';

/** What a report says of a retiring or retired data plane. */
export interface RetireReport {
  /** `retired`: its store entry's deletion is scheduled; nothing is left to do. */
  phase: RetireState['phase'] | 'retired';
  /** When retirement was decided. */
  decidedAt: string;
  /** Retired with executions unfinished: how many (absent: they could not be counted), and why. */
  forced?: { unfinished?: number; reason: NonNullable<RetireState['reason']> };
  /** Whether its credential was revoked on the data plane, or skipped because it did not answer (with why). */
  revoke?: 'done' | 'skipped';
  revokeSkipped?: string;
  /** The objects deleted on the data plane (namespace/name). */
  revokedObjects?: string[];
  /** When the store entry goes for good (AWS), or may be deleted (GCP). */
  deletionDate?: string;
  /** A dry run: it would be retired now. */
  wouldRetire?: boolean;
  /** Why this run did not finish it (resumed by the next run). */
  error?: { code: string; reason: string };
}

/** Retirement asked for on the command line (`credsync retire --cluster ID [--force]`). */
export interface RetireRequest {
  clusters: string[];
  force: boolean;
}
