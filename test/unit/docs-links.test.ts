/**
 * The docs' links hold: every relative link of README.md and docs/*.md names a file that exists
 * in the repository, every #anchor names a heading of its target (GitHub's slug rules), and no
 * link or quoted path leads outside the repository.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The pages the test covers, relative to the repository root. */
export function docPages(root = ROOT): string[] {
  const docs = existsSync(path.join(root, 'docs')) ? readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`) : [];
  return ['README.md', ...docs.sort()];
}

/** The text outside fenced code blocks, line by line (fenced lines become empty, so line numbers hold). */
function prose(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      const marker = m[1]!;
      if (fence === undefined) fence = marker[0]!.repeat(marker.length);
      else if (marker.startsWith(fence)) fence = undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/**
 * GitHub's heading anchors: the heading's text (inline code, emphasis and link markup dropped,
 * link text kept), lower-cased, every character that is not a letter, mark, digit, connector
 * (`_`), space or hyphen removed, spaces turned into hyphens; a repeated slug gets -1, -2, ...
 */
export function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(markdown)) {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*]/g, '');
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    slugs.add(n === 0 ? base : `${base}-${n}`);
  }
  return slugs;
}

export interface Link {
  line: number;
  target: string;
}

/** Inline links `[text](target)` and `<a href>`s outside code, with inline code spans removed first. */
export function links(markdown: string): Link[] {
  const out: Link[] = [];
  prose(markdown).forEach((raw, i) => {
    const line = raw.replace(/`+[^`]*`+/g, '');
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1]! });
    for (const m of line.matchAll(/\bhref="([^"]*)"/g)) out.push({ line: i + 1, target: m[1]! });
  });
  return out;
}

/** Relative paths quoted in the text or code (`../x`), which a reader would follow like a link. */
function quotedParentPaths(markdown: string): Link[] {
  const out: Link[] = [];
  markdown.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/(?:^|[\s`'"(])((?:\.\.\/)+[\w.@-][\w./@-]*)/g)) out.push({ line: i + 1, target: m[1]! });
  });
  return out;
}

/**
 * Every problem of one page's links, as `file:line: target: why`. `markdown` stands in for the
 * page's text (the checker's own tests); links still resolve from the page's place in `root`.
 */
export function linkProblems(page: string, root = ROOT, markdown = readFileSync(path.join(root, page), 'utf8')): string[] {
  const file = path.join(root, page);
  const problems: string[] = [];
  const inRepo = (p: string) => {
    const rel = path.relative(root, p);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  for (const { line, target } of links(markdown)) {
    const where = `${page}:${line}: ${target}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      if (!/^(https?|mailto):/i.test(target)) problems.push(`${where}: a link to ${target.split(':')[0]}: (only https, http and mailto leave the repository)`);
      continue;
    }
    if (target.startsWith('//')) {
      problems.push(`${where}: a protocol-relative link`);
      continue;
    }
    const hash = target.indexOf('#');
    const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    if (pathPart.startsWith('/')) {
      problems.push(`${where}: an absolute path (link relative to the page instead)`);
      continue;
    }
    const self = pathPart === '';
    const resolved = self ? file : path.resolve(path.dirname(file), pathPart);
    if (!inRepo(resolved)) {
      problems.push(`${where}: leads outside the repository`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${where}: no such file`);
      continue;
    }
    if (anchor !== undefined) {
      if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) problems.push(`${where}: an anchor into something that is not a Markdown page`);
      else if (!headingSlugs(self ? markdown : readFileSync(resolved, 'utf8')).has(anchor)) problems.push(`${where}: no heading with anchor #${anchor} in ${path.relative(root, resolved)}`);
    }
  }
  for (const { line, target } of quotedParentPaths(markdown)) {
    if (!inRepo(path.resolve(path.dirname(file), target))) problems.push(`${page}:${line}: ${target}: names a path outside the repository`);
  }
  return problems;
}

/** Folders of the repository whose files the pages name in inline code (`lib/sync/sync.ts`). */
const CODE_ROOTS = ['lib/', 'test/', 'scripts/', 'handlers/', 'functions/', 'deploy/', 'bench/', 'config/', 'events/', 'docs/'];
/** Named in the pages but made by a build, not in the repository. */
const BUILT = new Set(['handlers/package.json']);

/** Repository paths a page names in inline code outside code blocks, placeholders (`<fn>`, `*`, `$X`) left out. */
export function namedPaths(markdown: string): Link[] {
  const out: Link[] = [];
  prose(markdown).forEach((line, i) => {
    for (const m of line.matchAll(/`([^`]+)`/g)) {
      for (const word of m[1]!.split(/\s+/)) {
        const p = word.replace(/^[("']+|[)"',;:.]+$/g, '');
        if (CODE_ROOTS.some((r) => p.startsWith(r)) && !/[<>*${}]/.test(p)) out.push({ line: i + 1, target: p });
      }
    }
  });
  return out;
}

describe('README.md and docs/*.md: links', () => {
  it('cover README and at least the docs/ pages the README maps', () => {
    const pages = docPages();
    expect(pages[0]).toBe('README.md');
    expect(pages).toEqual(expect.arrayContaining(['docs/configuration.md', 'docs/error-codes.md', 'docs/testing.md', 'docs/architecture.md']));
  });

  it('every relative link names an existing file inside the repository, and every #anchor a heading of its target', () => {
    expect(docPages().flatMap((p) => linkProblems(p))).toEqual([]);
  });

  it('every file or folder of the repository named in inline code exists (a moved file is renamed in the pages too)', () => {
    const missing = docPages().flatMap((page) =>
      namedPaths(readFileSync(path.join(ROOT, page), 'utf8'))
        .filter(({ target }) => !BUILT.has(target) && !existsSync(path.join(ROOT, target)))
        .map(({ line, target }) => `${page}:${line}: ${target}`),
    );
    expect(missing).toEqual([]);
  });

  it('every docs/ page is reachable from the README', () => {
    const readme = links(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).map((l) => l.target.split('#')[0]);
    expect(docPages().filter((p) => p.startsWith('docs/') && !readme.includes(p))).toEqual([]);
  });
});

describe('the link checker itself', () => {
  it('slugs headings as GitHub does', () => {
    const slugs = headingSlugs(
      [
        '# Deploying on AWS Lambda',
        '## `credsync doctor`: the first thing to run after a deploy',
        '### Rollouts (control plane: kube-scheduler + KWOK)',
        "## Secrets Manager's own rotation",
        '## Limits',
        '## Limits',
        '## State dir `.testenv/` (git-ignored)',
        '```sh',
        '# not a heading',
        '```',
      ].join('\n'),
    );
    expect([...slugs]).toEqual([
      'deploying-on-aws-lambda',
      'credsync-doctor-the-first-thing-to-run-after-a-deploy',
      'rollouts-control-plane-kube-scheduler--kwok',
      'secrets-managers-own-rotation',
      'limits',
      'limits-1',
      'state-dir-testenv-git-ignored',
    ]);
  });

  it('reports a missing file, a missing anchor, a path outside the repository and an absolute path; ignores code and external links', () => {
    // Prepare
    const found = links('see [x](a.md) and `[y](b.md)`\n```\n[z](c.md)\n```\n[w](https://example.com/#x)').map((l) => `${l.line}:${l.target}`);
    const page = 'docs/error-codes.md';
    const text = [
      '[gone](no-such-page.md)',
      '[anchor](configuration.md#no-such-heading)',
      '[outside](../../shared/FLYTE-FACTS.md)',
      '[absolute](/etc/hosts)',
      'See `../../shared/FLYTE-FACTS.md` for more.',
      '[fine](configuration.md#what-is-refused) [self](#codes) [up](../README.md) [self, missing](#error-codes)',
      '## Codes',
    ].join('\n');
    // Act: the text checked as if it were docs/error-codes.md, against the real tree
    const results = linkProblems(page, ROOT, text);
    // Assess
    expect(found).toEqual(['1:a.md', '5:https://example.com/#x']);
    expect(namedPaths('see `lib/sync/sync.ts`, (`lib/rotation/`) and `handlers/<fn>.js`\n```\nlib/gone.ts\n```').map((l) => l.target)).toEqual(['lib/sync/sync.ts', 'lib/rotation/']);
    expect(results).toEqual([
      `${page}:1: no-such-page.md: no such file`,
      `${page}:2: configuration.md#no-such-heading: no heading with anchor #no-such-heading in docs/configuration.md`,
      `${page}:3: ../../shared/FLYTE-FACTS.md: leads outside the repository`,
      `${page}:4: /etc/hosts: an absolute path (link relative to the page instead)`,
      `${page}:6: #error-codes: no heading with anchor #error-codes in docs/error-codes.md`,
      `${page}:3: ../../shared/FLYTE-FACTS.md: names a path outside the repository`,
      `${page}:5: ../../shared/FLYTE-FACTS.md: names a path outside the repository`,
    ]);
  });
});
