/** What every part of the sync benchmark shares: its log (stderr), sleep, execFile as a promise. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

export const log = (line: string) => console.error(line);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Statistics
