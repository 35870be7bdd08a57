/**
 * The environment's process table: every server is started detached (so the environment outlives
 * the process that started it) and recorded in <dir>/pids.json with its /proc start time, so a
 * recycled pid is never signalled; the Launcher starts them, waits for them and stops them.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import type { Log } from './build.ts';
import { pidsFile, sleep, stateDir } from './info.ts';

export interface ProcessRecord {
  name: string;
  pid: number;
  /** /proc/<pid>/stat start time: guards against signalling a recycled pid. */
  startTime: string;
  logFile: string;
  argv: string[];
}

export interface PidsFile {
  version: 1;
  processes: ProcessRecord[];
}

export function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', startTime: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

const HAVE_PROC = existsSync('/proc/self/stat');

/** Whether the recorded process still runs (a zombie or a recycled pid counts as gone). */
export function isProcessAlive(rec: Pick<ProcessRecord, 'pid' | 'startTime'>): boolean {
  if (!HAVE_PROC) {
    try {
      process.kill(rec.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const st = procStat(rec.pid);
  return !!st && st.state !== 'Z' && st.state !== 'X' && st.startTime === rec.startTime;
}

export async function readProcessRecords(dir?: string): Promise<ProcessRecord[]> {
  try {
    const file = JSON.parse(await fs.readFile(pidsFile(stateDir(dir)), 'utf8')) as PidsFile;
    return file.processes ?? [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function tailFile(file: string, lines = 40): Promise<string> {
  try {
    const text = (await fs.readFile(file, 'utf8')).trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(log file missing)';
  }
}

export interface Running {
  rec: ProcessRecord;
  child: ChildProcess;
  exit?: string;
}

/** Starts servers detached, recording each in pids.json as soon as it exists. */
export class Launcher {
  readonly running: Running[] = [];
  private writes: Promise<void> = Promise.resolve();
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async start(name: string, cmd: string, args: string[]): Promise<Running> {
    const logFile = path.join(this.dir, 'logs', `${name}.log`);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: this.dir, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot start ${name} (${cmd}): ${err.message}`)));
    });
    child.unref();
    const pid = child.pid!;
    const rec: ProcessRecord = { name, pid, startTime: procStat(pid)?.startTime ?? '', logFile, argv: [cmd, ...args] };
    const r: Running = { rec, child };
    child.once('exit', (code, signal) => {
      r.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
    this.running.push(r);
    const snapshot: PidsFile = { version: 1, processes: this.running.map((x) => x.rec) };
    this.writes = this.writes.then(() => fs.writeFile(pidsFile(this.dir), JSON.stringify(snapshot, null, 2) + '\n'));
    await this.writes;
    return r;
  }
}

async function failure(r: Running, what: string, reason: string): Promise<Error> {
  return new Error(`${what} ${reason}; last 40 lines of ${r.rec.logFile}:\n${await tailFile(r.rec.logFile)}`);
}

/** Polls probe until true; fails fast (with the log tail) if the process exits. */
export async function waitUntil(r: Running, what: string, probe: () => Promise<boolean>, timeoutMs: number, log: Log): Promise<void> {
  log(`waiting for ${what}…`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (r.exit || !isProcessAlive(r.rec)) throw await failure(r, what, r.exit ?? 'is gone');
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw await failure(r, what, `not ready after ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// Probes

/**
 * Stops processes in dependency order: controller managers, then API servers and the rest, etcd
 * last (an API server whose etcd is gone hangs in its shutdown). SIGTERM, SIGKILL after 8s.
 */
export async function stopProcesses(procs: ProcessRecord[], log: Log): Promise<ProcessRecord[]> {
  const first = ['kube-controller-manager', 'kube-scheduler', 'kwok'];
  const phase = (p: ProcessRecord) => (first.some((f) => p.name.startsWith(f)) ? 0 : p.name === 'etcd' ? 2 : 1);
  const stopped: ProcessRecord[] = [];
  for (const n of [0, 1, 2]) stopped.push(...(await stopGroup(procs.filter((p) => phase(p) === n), log)));
  return stopped;
}

async function stopGroup(procs: ProcessRecord[], log: Log): Promise<ProcessRecord[]> {
  const alive = () => procs.filter((p) => isProcessAlive(p));
  const signal = (sig: NodeJS.Signals) => {
    for (const p of alive()) {
      // Each server leads its own process group (spawned detached): signal the group.
      try {
        process.kill(-p.pid, sig);
      } catch {
        try {
          process.kill(p.pid, sig);
        } catch {
          /* already gone */
        }
      }
    }
  };
  const targets = alive();
  if (targets.length === 0) return [];
  log(`stopping ${targets.map((p) => p.name).join(', ')}…`);
  signal('SIGTERM');
  for (const [sig, waitMs] of [['SIGKILL', 8_000], [undefined, 5_000]] as const) {
    const deadline = Date.now() + waitMs;
    while (alive().length > 0 && Date.now() < deadline) await sleep(50);
    if (alive().length === 0) return targets;
    if (sig) {
      log(`still running 8s after SIGTERM, sending SIGKILL: ${alive().map((p) => `${p.name} (${p.pid})`).join(', ')}`);
      signal(sig);
    }
  }
  throw new Error(`could not stop: ${alive().map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
}
