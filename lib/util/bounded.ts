/**
 * Bounded echoes: whatever a caller sent (ids, names, bodies) is quoted back in errors and
 * reports only up to a bound, so a million unknown ids or a 1 MB name cannot turn an error into
 * megabytes.
 */

/** Longest single value (an id, a name) an error quotes. */
export const MAX_ECHO_CHARS = 200;
/** Most list items an error quotes. */
export const MAX_ECHO_ITEMS = 20;

/**
 * `s` cut to `max` characters, saying how much was left out.
 *
 * @param max default {@link MAX_ECHO_CHARS}
 * @example truncate('x'.repeat(1_000_000), 10) // "xxxxxxxxxx… (999990 more characters)"
 */
export function truncate(s: string, max = MAX_ECHO_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

/**
 * A list for an error message: at most `max` items, each {@link echo}ed, joined by ", ",
 * with how many were left out.
 *
 * @param max default {@link MAX_ECHO_ITEMS}
 * @example boundedList(['a', 'b', 'c'], 2) // "a, b and 1 more"
 */
export function boundedList(items: readonly string[], max = MAX_ECHO_ITEMS): string {
  const shown = items.slice(0, max).map((i) => echo(i));
  return items.length <= max ? shown.join(', ') : `${shown.join(', ')} and ${items.length - max} more`;
}

/** What a schema's `expected` names, as a person says it. */
export const EXPECTED_WORDS: Readonly<Record<string, string>> = { string: 'a string', number: 'a number', boolean: 'true or false', object: 'a mapping', array: 'a list', record: 'a mapping' };

/** A field that is missing, said so ("required but missing (a string)"), not "expected string, received undefined". */
export function requiredMessage(expected: string): string {
  return `required but missing (${EXPECTED_WORDS[expected] ?? expected})`;
}

/** zod's message for a missing field said as {@link requiredMessage}; any other message as it is. */
function plainMessage(message: string): string {
  const m = /^Invalid input: expected (\w+), received undefined$/.exec(message);
  return m ? requiredMessage(m[1]!) : message;
}

/** A zod issue, as far as {@link describeIssues} reads it. */
export interface IssueLike {
  path: ReadonlyArray<PropertyKey>;
  message: string;
  code?: string;
  keys?: string[];
}

/**
 * Schema issues as one line: `field.path: message; ...`, at most `max` of them (each bounded) and
 * how many were left out. Messages name what was expected, never the value received.
 *
 * @param max default 5
 */
export function describeIssues(issues: readonly IssueLike[], max = 5): string {
  const one = (i: IssueLike) =>
    `${echo(i.path.map(String).join('.'), 100) || '<root>'}: ${i.code === 'unrecognized_keys' && i.keys ? `unknown key(s) ${boundedList(i.keys, 5)}` : echo(plainMessage(i.message))}`;
  const shown = issues.slice(0, max).map(one).join('; ');
  return issues.length > max ? `${shown}; and ${issues.length - max} more` : shown;
}

/**
 * Characters that must not reach a terminal or a log line as they are: C0 controls (newline, ESC,
 * carriage return...), DEL, C1 controls (U+009B is a one-character CSI on some terminals), the line
 * and paragraph separators, and the bidirectional overrides and isolates (text that reads
 * differently from what it is).
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `s` with every control character written as a visible escape (`\n`, `\r`, `\t`, `\x1b`,
 * `\u2028`...), so that quoted input cannot forge a log line or drive a terminal.
 *
 * @param opts.json every escape as `\uXXXX`, so that JSON text stays valid JSON (default false)
 * @example escapeControl('dp1\u001b[31m\nFAKE') // "dp1\\x1b[31m\\nFAKE"
 */
export function escapeControl(s: string, opts: { json?: boolean } = {}): string {
  return s.replace(CONTROL, (c) => {
    const n = c.charCodeAt(0);
    if (opts.json) return `\\u${n.toString(16).padStart(4, '0')}`;
    return NAMED[c] ?? (n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`);
  });
}

/**
 * A value someone sent (an argument, a path, a configuration value, an event or request field),
 * as an error or a log line quotes it: control characters escaped ({@link escapeControl}), then
 * cut to `max` characters ({@link truncate}). Not a string: its JSON (or `String()`) form, bounded
 * the same way.
 *
 * @param max default {@link MAX_ECHO_CHARS}
 * @example echo('dp1\u001b[31mRED\nFAKE LOG LINE') // "dp1\\x1b[31mRED\\nFAKE LOG LINE"
 */
export function echo(value: unknown, max = MAX_ECHO_CHARS): string {
  let s: string;
  if (typeof value === 'string') s = value;
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  // An escape is at most 6 characters wide: escaping more than that of a huge value is wasted.
  const escaped = escapeControl(s.length > max * 6 ? s.slice(0, max * 6) : s);
  if (escaped.length <= max) return escaped;
  // Never cut a surrogate pair in half.
  const cut = /[\ud800-\udbff]/.test(escaped.charAt(max - 1)) ? max - 1 : max;
  return `${escaped.slice(0, cut)}… (${s.length} characters in all)`;
}

/** Most ids a log line lists (the rest are counted). */
export const MAX_LOGGED_IDS = 10;

/**
 * A list of ids (data planes, clusters) for a log field: the first `max`, each {@link echo}ed,
 * then one item `… and N more` when some were left out, so that a line about 5,000 data planes
 * stays short.
 *
 * @param max default {@link MAX_LOGGED_IDS}
 * @example loggedIds(['dp1', 'dp2', 'dp3'], 2) // ['dp1', 'dp2', '… and 1 more']
 */
export function loggedIds(ids: readonly string[], max = MAX_LOGGED_IDS): string[] {
  const shown = ids.slice(0, max).map((i) => echo(i, 100));
  return ids.length > max ? [...shown, `… and ${ids.length - max} more`] : shown;
}

/** Most rows of one kind a person-facing report lists (the rest are counted; `--json` has every one). */
export const MAX_REPORT_ROWS = 50;
/** Rows of the plain kind (unchanged, passing) a report lists when there are more than {@link MAX_REPORT_ROWS} rows. */
export const MAX_PLAIN_ROWS = 10;

/**
 * The rows a person-facing report lists, whatever their number: every row when there are at most
 * `max`; otherwise up to `max` rows by rank (rank 0 first, e.g. failed; then rank 1, e.g. changed)
 * and the first `plainMax` of rank 2 and above (unchanged, passing), in their order. `left` are the
 * rows not listed, for the report to count ({@link countedRest}).
 *
 * @param rank 0 most important (default: every row 0)
 * @example pickRows(reports, (c) => (c.status === 'failed' ? 0 : c.status === 'updated' ? 1 : 2))
 */
export function pickRows<T>(items: readonly T[], rank: (t: T) => number = () => 0, max = MAX_REPORT_ROWS, plainMax = MAX_PLAIN_ROWS): { shown: T[]; left: T[] } {
  if (items.length <= max) return { shown: [...items], left: [] };
  const ranks = items.map(rank);
  const keep = new Set<number>();
  for (const r of [0, 1]) for (let i = 0; i < items.length && keep.size < max; i++) if (ranks[i] === r) keep.add(i);
  let plains = 0;
  for (let i = 0; i < items.length && plains < plainMax; i++) if (ranks[i]! >= 2) (keep.add(i), plains++);
  const shown: T[] = [];
  const left: T[] = [];
  items.forEach((t, i) => (keep.has(i) ? shown : left).push(t));
  return { shown, left };
}

/**
 * One line counting the rows a report did not list, by kind, most frequent first:
 * `… and 4950 more data planes not listed: 4940 unchanged, 10 failed (--json lists every one)`.
 * Empty when nothing was left out.
 */
export function countedRest<T>(left: readonly T[], what: string, kind: (t: T) => string, indent = ''): string[] {
  if (!left.length) return [];
  const by = new Map<string, number>();
  for (const t of left) by.set(kind(t), (by.get(kind(t)) ?? 0) + 1);
  const counts = [...by].sort((a, b) => b[1] - a[1]).slice(0, MAX_ECHO_ITEMS).map(([k, n]) => `${n} ${k}`);
  return [`${indent}… and ${left.length} more ${what} not listed: ${counts.join(', ')} (--json lists every one)`];
}

/**
 * Lines for a person-facing report, at most `max` (then one line saying how many were left out).
 *
 * @example boundedLines(diff.split('\n'), 200, '    ', 'lines of the diff')
 */
export function boundedLines(lines: readonly string[], max: number, indent: string, what: string): string[] {
  return lines.length <= max ? [...lines] : [...lines.slice(0, max), `${indent}… and ${lines.length - max} more ${what} (--json has them all)`];
}
