/**
 * Reading the files a configuration names (the configuration itself, kubeconfigs, token and CA
 * files) without ever hanging on one: only a regular file (symlinks followed, as Kubernetes
 * mounts Secrets) of at most a bound is read. `/dev/zero`, a FIFO, a directory or a socket is
 * refused at once instead of being read forever.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Bounds per kind of file: far above any real one, far below what exhausts a function's memory. */
export const FILE_LIMITS = {
  config: 8 * 1024 * 1024,
  kubeconfig: 8 * 1024 * 1024,
  token: 64 * 1024,
  ca: 1024 * 1024,
} as const;

/** The system's reasons a path cannot be opened, in words (the path is named by the caller). */
const SYSTEM_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'a part of the path is not a directory',
  ENAMETOOLONG: 'the path is too long',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links',
  ENXIO: 'no such device (a FIFO or socket nobody serves)',
  EISDIR: 'a directory',
};
/** System errors that say there is no file at the path (the rest: it is there but cannot be read). */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);

/**
 * Why a file cannot be read, said in a few words without the path (the caller names the field and
 * the path, bounded). `missing`: there is no file at the path; `unreadable`: something is there but
 * is not a readable regular file within the bound (a directory, a device, too large, permission denied).
 */
export class FileRefusedError extends Error {
  readonly kind: 'missing' | 'unreadable';
  constructor(message: string, kind: 'missing' | 'unreadable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FileRefusedError';
    this.kind = kind;
  }
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8. The file is opened non-blocking (so a FIFO
 * without a writer cannot block the open), checked with fstat on the open descriptor (so what is
 * checked is what is read), and read up to `maxBytes + 1` bytes at most (a file that grows past
 * the bound while being read is refused too).
 *
 * @throws FileRefusedError "not a regular file (a character device)", "larger than N bytes", or
 *   the system's reason in words ("no such file (ENOENT)", "permission denied (EACCES)"), never the path
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<string> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const known = typeof code === 'string' ? SYSTEM_REASONS[code] : undefined;
    throw new FileRefusedError(known ? `${known} (${code as string})` : typeof code === 'string' ? code : 'cannot be opened', typeof code === 'string' && MISSING.has(code) ? 'missing' : 'unreadable', { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FileRefusedError(`not a regular file (${kindOf(st)})`, 'unreadable');
    if (st.size > maxBytes) throw new FileRefusedError(`larger than ${maxBytes} bytes (${st.size})`, 'unreadable');
    // One buffer of the file's size plus the byte that shows its end (it grows only if the file
    // grows while being read). A fixed 64 KiB buffer per read, twice per file, made a sync of 500
    // kubeconfig data planes hold 77 MB of short-lived buffers at its peak (heaptrack).
    let buf = Buffer.alloc(Math.min(st.size + 1, maxBytes + 1));
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        const bigger = Buffer.alloc(Math.min(buf.length * 2, maxBytes + 1));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new FileRefusedError(`larger than ${maxBytes} bytes`, 'unreadable');
    }
    return buf.toString('utf8', 0, total);
  } finally {
    await fh.close();
  }
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
