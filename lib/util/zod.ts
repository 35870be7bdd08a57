/**
 * zod's tree-shakable API (`zod/mini`), set up as zod's classic API sets itself up on first use:
 * English messages and the default memoizer. The configuration and event schemas are built with
 * it: a classic schema carries every method of its type, a mini schema only its checks, so a
 * bundle keeps only what the schemas use (zod in the scheduled Lambda bundle 105 → 42 KB) and a
 * cold start builds them with less CPU (bench/RESULTS.md "Cold start (session 4)"). Same core,
 * same checks, same messages and paths.
 *
 * Import it as `import * as z from '../util/zod.ts'` (static `z.x` accesses keep it tree-shakable).
 */
import { config, memoizer } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());
config({ memoizer: memoizer() });

export * from 'zod/mini';
