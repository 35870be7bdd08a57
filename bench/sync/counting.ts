/**
 * What the sync benchmark counts: each port call (DataPlaneApi, ControlPlaneApi, the reviews as the
 * HTTP requests the transport sent), the store's real HTTP requests, writes apart from reads, and
 * the spans a data plane's calls cover (its critical-path share). Also used by bench/rotation-bench.ts.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../../lib/config/schema.ts';
import type { ControlPlaneApi, DataPlaneApi } from '../../lib/kube/ports.ts';
import type { SecretStore } from '../../lib/stores/types.ts';
import type { SyncDeps } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { silentLog } from '../../lib/util/log.ts';
import type { EnvInfo } from '../../test/env/testenv.ts';
import { awsClient } from '../../test/integration/helpers.ts';

export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: Math.round(median), min: Math.round(s[0]!), max: Math.round(s[s.length - 1]!), runs: xs.map((x) => Math.round(x)) };
}

// ---------------------------------------------------------------------------------------------
// Counting API calls

const DATA_PLANE_WRITES = new Set(['createTokenSecret']);

export const CONTROL_PLANE_WRITES = new Set(['createSecret', 'replaceSecret', 'replaceConfigMap', 'restartDeployment', 'createLease', 'replaceLease', 'createEvent']);

const isAwsRead = (command: string) => /^(Describe|Get|List|BatchGet)/.test(command);

export interface Counts {
  /** DataPlaneApi method -> calls (each one HTTP request). */
  dataPlane: Record<string, number>;
  /** SelfSubjectReview / SelfSubjectAccessReview requests sent (creates that persist nothing: counted as reads). */
  verify: Record<string, number>;
  /** SecretStore port: get, put, and puts that wrote (outcome != unchanged, not a dry run). */
  store: { get: number; put: number; writes: number };
  /** AWS commands sent (SecretsManagerClient.send), by command name. */
  aws: Record<string, number>;
  /** Real HTTP requests of the SecretsManagerClient (retries included). */
  awsHttp: number;
  /** ControlPlaneApi method -> calls (each one HTTP request). */
  controlPlane: Record<string, number>;
  /** Summed latency per target (ms; concurrent calls overlap, so these exceed wall time). */
  busyMs: { dataPlane: number; verify: number; store: number; controlPlane: number };
  /**
   * Each control-plane call's time span (performance.now): the drain plan's reads before the data
   * planes, the apply's after them ({@link criticalPath}).
   */
  controlPlaneSpans: Array<[number, number]>;
  /**
   * Per data plane: the time spans of its own calls (reads, verification, store put). Its chain is
   * the length of their union: calls it makes one after another add up, calls it has in flight at
   * once (the no-op's access reviews asked while its Secret is read) count once.
   */
  chainSpans: Map<string, Array<[number, number]>>;
  /** The store's batch read (ms), its time span, and whether it fell back to one read per entry. */
  batchMs: number;
  batchSpan?: [number, number];
  batchFallback: boolean;
}

export const newCounts = (): Counts => ({
  dataPlane: {},
  verify: {},
  store: { get: 0, put: 0, writes: 0 },
  aws: {},
  awsHttp: 0,
  controlPlane: {},
  busyMs: { dataPlane: 0, verify: 0, store: 0, controlPlane: 0 },
  chainSpans: new Map(),
  controlPlaneSpans: [],
  batchMs: 0,
  batchFallback: false,
});

export const bump = (m: Record<string, number>, k: string, by = 1) => {
  m[k] = (m[k] ?? 0) + by;
};

const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);

export interface CallSummary {
  /** HTTP requests in total, and split. */
  total: number;
  reads: number;
  writes: number;
  kube: { dataPlane: number; verify: number; controlPlane: number };
  awsHttp: number;
  storeWrites: number;
  detail: Omit<Counts, 'busyMs' | 'controlPlaneSpans' | 'chainSpans' | 'batchMs' | 'batchSpan' | 'batchFallback'>;
}

export function summarize(c: Counts): CallSummary {
  const dpWrites = Object.entries(c.dataPlane).reduce((a, [k, v]) => a + (DATA_PLANE_WRITES.has(k) ? v : 0), 0);
  const cpWrites = Object.entries(c.controlPlane).reduce((a, [k, v]) => a + (CONTROL_PLANE_WRITES.has(k) ? v : 0), 0);
  const awsWrites = Object.entries(c.aws).reduce((a, [k, v]) => a + (isAwsRead(k) ? 0 : v), 0);
  const kube = { dataPlane: sum(c.dataPlane), verify: sum(c.verify), controlPlane: sum(c.controlPlane) };
  const total = kube.dataPlane + kube.verify + kube.controlPlane + c.awsHttp;
  const writes = dpWrites + cpWrites + awsWrites;
  return {
    total,
    reads: total - writes,
    writes,
    kube,
    awsHttp: c.awsHttp,
    storeWrites: c.store.writes,
    detail: { dataPlane: c.dataPlane, verify: c.verify, store: c.store, aws: c.aws, awsHttp: c.awsHttp, controlPlane: c.controlPlane },
  };
}

/** Every method call on the target is tallied by name (and timed) before it runs. */
export function countingProxy<T extends object>(target: T, tally: Record<string, number>, busy: (ms: number) => void): T {
  return new Proxy(target, {
    get(t, prop) {
      const v: unknown = Reflect.get(t, prop, t);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        bump(tally, String(prop));
        const t0 = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        } finally {
          busy(performance.now() - t0);
        }
      };
    },
  });
}

/** A SecretsManagerClient of the env whose commands and HTTP requests are counted. */
export function countingSecretsManager(env: EnvInfo, c: Pick<Counts, 'aws' | 'awsHttp'>): SecretsManagerClient {
  const client = awsClient(env);
  const send = client.send.bind(client) as (cmd: unknown, ...rest: unknown[]) => Promise<unknown>;
  (client as unknown as { send: typeof send }).send = (cmd, ...rest) => {
    bump(c.aws, (cmd as object).constructor.name.replace(/Command$/, ''));
    return send(cmd, ...rest);
  };
  // The deserialize step runs below the retry middleware (finalizeRequest): once per HTTP attempt.
  client.middlewareStack.add(
    (next) => async (args) => {
      c.awsHttp++;
      return next(args);
    },
    { step: 'deserialize', name: 'credsyncBenchHttpCounter' },
  );
  return client;
}

/** The total length of time spans, overlapping ones counted once (ms). */
export function unionMs(spans: ReadonlyArray<readonly [number, number]>): number {
  let total = 0;
  let end = -Infinity;
  for (const [s, e] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

/** One sync's phases on the critical path, and their sum: the bound (ms). */
export interface CriticalPath {
  /** Control-plane calls before the data planes' phase (the drain plan's reads), overlapping ones counted once. */
  preludeMs: number;
  /** The store's batch read. */
  batchMs: number;
  /** The slowest data plane's own calls ({@link unionMs} of its spans). */
  slowestChainMs: number;
  /** From the start of the sync to the first control-plane call after the data planes' phase (the apply's first read). */
  dataPlanePhaseMs: number;
  /** From that call to the end of the sync: the apply, measured as it ran (its waits included). */
  controlPlaneMs: number;
  /** preludeMs + batchMs + slowestChainMs + controlPlaneMs: what no amount of concurrency could beat. */
  boundMs: number;
}

/**
 * The critical-path bound of one sync, from the spans it measured (performance.now times; `start`
 * and `end` are the sync's). A sync runs in three phases, one after the other: the drain plan's
 * control-plane reads, the data planes (the store's batch read, then each data plane's reads,
 * verification and store write, all data planes at once), and the apply (control-plane reads,
 * writes, restarts). So the bound is the first phase's calls, plus the batch read and the slowest
 * data plane's chain, plus the apply phase as measured: from the first control-plane call that
 * starts once the data planes' phase is over to the end. Each phase's own time is counted once:
 * the bound is never more than the sync (up to the gaps between calls the bound leaves out).
 */
export function criticalPath(s: {
  start: number;
  end: number;
  batchSpan?: readonly [number, number] | undefined;
  chainSpans: Iterable<ReadonlyArray<readonly [number, number]>>;
  controlPlaneSpans: ReadonlyArray<readonly [number, number]>;
}): CriticalPath {
  const chains = [...s.chainSpans];
  const batchMs = s.batchSpan ? s.batchSpan[1] - s.batchSpan[0] : 0;
  const slowestChainMs = Math.max(0, ...chains.map(unionMs));
  // The data planes' phase: from the batch read (or the first data-plane call) to the last data-plane call.
  const dpStart = Math.min(s.batchSpan?.[0] ?? Infinity, ...chains.flatMap((c) => c.map(([a]) => a)));
  const dpEnd = Math.max(s.batchSpan?.[1] ?? -Infinity, ...chains.flatMap((c) => c.map(([, b]) => b)));
  const prelude = Number.isFinite(dpStart) ? s.controlPlaneSpans.filter(([a]) => a < dpStart) : [];
  const applyFrom = Math.min(s.end, ...s.controlPlaneSpans.filter(([a]) => a >= (Number.isFinite(dpEnd) ? dpEnd : s.start)).map(([a]) => a));
  const preludeMs = unionMs(prelude);
  const controlPlaneMs = s.end - applyFrom;
  return {
    preludeMs,
    batchMs,
    slowestChainMs,
    dataPlanePhaseMs: applyFrom - s.start,
    controlPlaneMs,
    boundMs: preludeMs + batchMs + slowestChainMs + controlPlaneMs,
  };
}

/** The real wiring (buildDeps), with every port counted and each data plane's chain timed. */
export function countedDeps(cfg: Config, env: EnvInfo, c: Counts): SyncDeps {
  const deps = buildDeps(cfg, silentLog, { secretsManager: countingSecretsManager(env, c) });
  const chain = (id: string, ms: number) => {
    const end = performance.now();
    const spans = c.chainSpans.get(id) ?? [];
    spans.push([end - ms, end]);
    c.chainSpans.set(id, spans);
  };
  const timed = async <T>(key: keyof Counts['busyMs'], fn: () => Promise<T>, id?: string): Promise<T> => {
    const s = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - s;
      c.busyMs[key] += ms;
      if (id !== undefined) chain(id, ms);
    }
  };
  const counted = (store: SecretStore): SecretStore => ({
    kind: store.kind,
    entryName: (id) => store.entryName(id),
    get: (id) => {
      c.store.get++;
      return timed('store', () => store.get(id));
    },
    put: async (record, opts) => {
      c.store.put++;
      const r = await timed('store', () => store.put(record, opts), record.clusterId);
      if (r.outcome !== 'unchanged' && !opts?.dryRun) c.store.writes++;
      return r;
    },
    ...(store.batch
      ? {
          batch: async (ids: readonly string[], onFallback?: (err: unknown) => void) => {
            const s = performance.now();
            const view = await store.batch!(ids, (err) => {
              c.batchFallback = true;
              onFallback?.(err);
            });
            const e = performance.now();
            c.batchMs += e - s;
            c.batchSpan = [c.batchSpan?.[0] ?? s, e];
            return counted(view);
          },
        }
      : {}),
  });
  return {
    ...deps,
    dataPlane: async (dp) => countingProxy<DataPlaneApi>(await deps.dataPlane(dp), c.dataPlane, (ms) => ((c.busyMs.dataPlane += ms), chain(dp.id, ms))),
    controlPlane: async () =>
      countingProxy<ControlPlaneApi>(await deps.controlPlane(), c.controlPlane, (ms) => {
        const end = performance.now();
        c.busyMs.controlPlane += ms;
        c.controlPlaneSpans.push([end - ms, end]);
      }),
    // The reviews are counted as the HTTP requests the transport sent (timedSync): a verification
    // asks the SelfSubjectReview only when the identity is not proven already.
    verify: (req) => timed('verify', () => deps.verify(req), req.cluster),
    store: counted(deps.store),
  };
}

// ---------------------------------------------------------------------------------------------
// Data planes b1..bN

export const median = (xs: number[]) => stat(xs.map((x) => x * 100)).median / 100;
