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
 * A list for an error message: at most `max` items, each {@link truncate}d, joined by ", ",
 * with how many were left out.
 *
 * @param max default {@link MAX_ECHO_ITEMS}
 * @example boundedList(['a', 'b', 'c'], 2) // "a, b and 1 more"
 */
export function boundedList(items: readonly string[], max = MAX_ECHO_ITEMS): string {
  const shown = items.slice(0, max).map((i) => truncate(i));
  return items.length <= max ? shown.join(', ') : `${shown.join(', ')} and ${items.length - max} more`;
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
    `${i.path.map(String).join('.') || '<root>'}: ${i.code === 'unrecognized_keys' && i.keys ? `unknown key(s) ${boundedList(i.keys, 5)}` : truncate(i.message)}`;
  const shown = issues.slice(0, max).map(one).join('; ');
  return issues.length > max ? `${shown}; and ${issues.length - max} more` : shown;
}
