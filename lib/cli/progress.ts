/**
 * The CLI's progress line on long runs: `credsync: 12/50 data planes done, 1 failed`, redrawn in
 * place on a terminal and cleared before the report is printed. Nothing at all when the stream is
 * not a terminal (a pipe, a file, CI) or with `--json`: output stays machine-readable.
 */
export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

export interface Progress {
  update(p: { done: number; total: number; failed: number }): void;
  /** Clears the line (call before printing the report). */
  end(): void;
}

const none: Progress = { update() {}, end() {} };

/**
 * A progress line on `stream` when it is a terminal and `enabled`, else a no-op.
 *
 * @param minIntervalMs redraw at most this often (the last update always shows) @default 100
 */
export function progressLine(stream: ProgressStream, enabled: boolean, minIntervalMs = 100, now: () => number = Date.now): Progress {
  if (!enabled || !stream.isTTY) return none;
  let last = -Infinity;
  let shown = false;
  return {
    update({ done, total, failed }) {
      const t = now();
      if (done < total && t - last < minIntervalMs) return;
      last = t;
      shown = true;
      stream.write(`\r\x1b[2Kcredsync: ${done}/${total} data planes done${failed ? `, ${failed} failed` : ''}`);
    },
    end() {
      if (shown) stream.write('\r\x1b[2K');
    },
  };
}
