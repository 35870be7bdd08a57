/**
 * Scrubs secrets from text before it reaches a log, an error or a report.
 *
 * Two layers: exact values registered at run time (every token and CA the sync reads is
 * registered before anything else sees it), and patterns for secret-shaped text that may
 * come from elsewhere (JWTs, PEM blocks, bearer headers, AWS key ids, SigV4 fragments,
 * EKS tokens).
 */
const known = new Set<string>();
/** Bounded, so a long-warm function does not slow down: the oldest values go first. */
const MAX_KNOWN = 4096;

function remember(v: string): void {
  known.delete(v);
  known.add(v);
  if (known.size > MAX_KNOWN) known.delete(known.values().next().value!);
}

/** Registers a secret value so that every later {@link redact} removes it. */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  const v = value.trim();
  if (v.length < 8) return;
  remember(v);
  // PEM data is often re-encoded; register its base64 form too.
  remember(Buffer.from(v, 'utf8').toString('base64'));
}

const PATTERNS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, '[REDACTED PEM]'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[REDACTED JWT]'],
  [/\bk8s-aws-v1\.[A-Za-z0-9_-]+/g, '[REDACTED EKS TOKEN]'],
  [/(authorization["']?\s*[:=]\s*["']?)(bearer|basic)?\s*[^\s"',}]+/gi, '$1[REDACTED]'],
  [/\bbearer\s+[A-Za-z0-9._~+/=-]{8,}/gi, 'Bearer [REDACTED]'],
  [/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '[REDACTED AWS KEY ID]'],
  [/(Credential=)[^\s,&"]+/g, '$1[REDACTED]'],
  [/(X-Amz-(Signature|Security-Token|Credential)=)[^\s&"]+/gi, '$1[REDACTED]'],
  [/(x-amz-security-token["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1[REDACTED]'],
  [/(LS0tLS1CRUdJTi)[A-Za-z0-9+/=]+/g, '[REDACTED BASE64 PEM]'],
  [/("?(?:x-amzn-)?request-?id"?\s*[:=]\s*"?)[A-Za-z0-9-]{16,}/gi, '$1[id]'],
  [/("?audit-id"?\s*[:=]\s*"?)[A-Za-z0-9-]{16,}/gi, '$1[id]'],
];

/** Replaces every registered secret and every secret-shaped fragment (JWTs, PEM blocks, signatures, request ids) in `text`. */
export function redact(text: string): string {
  let out = text;
  for (const value of known) {
    if (out.includes(value)) out = out.split(value).join('[REDACTED]');
  }
  for (const [re, repl] of PATTERNS) out = out.replace(re, repl);
  return out;
}
