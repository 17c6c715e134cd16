/**
 * Finds the fenced code samples of every README.md in the repository and turns each into something
 * runnable: a TypeScript module (prelude + sample + claims + epilogue) or a bash script.
 *
 * A sample's marker is an HTML comment on the last non-blank line before its fence:
 *
 *   <!-- sample: prelude=fastify-users -->            defines the names the fragment uses
 *   <!-- sample: skip reason="needs a published package" -->
 *   <!-- sample: run -->                               a shell sample opts in to being run
 *
 * Attributes: `prelude=NAME` (test/docs/preludes/NAME.ts for code and JSON, NAME.sh for shell),
 * `needs=redis,postgres,mysql,sqlite` (servers, or the better-sqlite3 driver, checked first), `base=DIR` (relative imports of the sample
 * resolve from DIR, relative to the README), `wrap` (the sample is a function body: it may `return`),
 * `output` (shell: the `# ` lines after the command are its exact standard output), `run`, `skip`
 * and `reason="..."`. Code samples run without a marker; shell samples need `run` or a prelude.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export type Language = 'ts' | 'sh' | 'json';

export interface Sample {
  /** The README, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  language: Language;
  code: string;
  marker: Marker;
}

export interface Marker {
  prelude?: string;
  needs: string[];
  base?: string;
  wrap: boolean;
  output: boolean;
  run: boolean;
  skip?: string;
  /** Set when the marker cannot be read: the sample's test fails with it. */
  error?: string;
}

const LANGUAGES: Record<string, Language> = {
  ts: 'ts',
  typescript: 'ts',
  js: 'ts',
  javascript: 'ts',
  mjs: 'ts',
  sh: 'sh',
  bash: 'sh',
  shell: 'sh',
  json: 'json',
};

const SKIP_DIRS = new Set([
  'node_modules',
  '.git',
  'dist',
  'coverage',
  '.tap',
  'artifacts',
  '.readme-samples',
]);
const ATTRIBUTES = new Set(['prelude', 'needs', 'base', 'wrap', 'output', 'run', 'skip', 'reason']);

/** Every README.md under `root`, outside node_modules and build output. */
export function findReadmes(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (SKIP_DIRS.has(name)) continue;
      const path = join(dir, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(path);
      else if (name === 'README.md') found.push(relative(root, path));
    }
  };
  walk(root);
  return found;
}

/** Reads `<!-- sample: ... -->`. */
export function parseMarker(text: string | undefined): Marker {
  const marker: Marker = { needs: [], wrap: false, output: false, run: false };
  if (text === undefined) return marker;
  const body = /^<!--\s*sample:(.*)-->$/.exec(text.trim())?.[1];
  if (body === undefined) return marker;
  for (const [, key, quoted, plain] of body.matchAll(/([\w-]+)(?:="([^"]*)"|=(\S+))?/g)) {
    const value = quoted ?? plain;
    if (!ATTRIBUTES.has(key!)) marker.error = `unknown marker attribute "${key}"`;
    else if (key === 'prelude') marker.prelude = value;
    else if (key === 'needs') marker.needs = (value ?? '').split(',').filter(Boolean);
    else if (key === 'base') marker.base = value;
    else if (key === 'reason') marker.skip = value;
    else if (key === 'skip') marker.skip ??= value ?? '';
    else marker[key as 'wrap' | 'output' | 'run'] = true;
  }
  if (marker.skip === '') marker.error = 'a skipped sample needs reason="..."';
  if (marker.skip !== undefined && !/\bskip\b/.test(body)) marker.error = 'reason="..." without skip';
  return marker;
}

/** The samples of one README (markers without a fence after them are reported as errors). */
export function extractSamples(file: string, text: string): Sample[] {
  const lines = text.split('\n');
  const samples: Sample[] = [];
  let lastNonBlank: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) {
      if (lines[i]!.trim() !== '') {
        if (/^<!--\s*sample:/.test(lastNonBlank?.trim() ?? '') && !/^<!--\s*sample:/.test(lines[i]!.trim())) {
          samples.push(orphan(file, i));
        }
        lastNonBlank = lines[i];
      }
      continue;
    }
    const [, indent, fence, info] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (line.trim().startsWith(fence!) && line.trim() === fence!.charAt(0).repeat(line.trim().length))
        break;
      body.push(line.startsWith(indent!) ? line.slice(indent!.length) : line.trimStart());
    }
    const language = LANGUAGES[info!.toLowerCase()];
    const markerLine = /^<!--\s*sample:/.test(lastNonBlank?.trim() ?? '') ? lastNonBlank : undefined;
    if (language) {
      samples.push({
        file,
        line: i + 1,
        language,
        code: `${body.join('\n')}\n`,
        marker: parseMarker(markerLine),
      });
    } else if (markerLine) {
      samples.push({
        ...orphan(file, i),
        marker: { ...parseMarker(markerLine), error: `marker on a ${info || 'plain'} block` },
      });
    }
    lastNonBlank = undefined;
    i = j;
  }
  return samples;
}

function orphan(file: string, index: number): Sample {
  return {
    file,
    line: index,
    language: 'ts',
    code: '',
    marker: {
      needs: [],
      wrap: false,
      output: false,
      run: false,
      error: 'a sample marker not followed by a fence',
    },
  };
}

/** Names a sample declares or imports (the candidates its epilogue and prelude may read). */
export function declaredNames(code: string): string[] {
  const names = new Set<string>();
  const add = (name: string | undefined) => {
    const clean = (name ?? '')
      .trim()
      .replace(/^\.\.\./, '')
      .split('=')[0]
      ?.trim();
    if (clean && /^[A-Za-z_$][\w$]*$/.test(clean)) names.add(clean);
  };
  for (const [, name] of code.matchAll(/\b(?:const|let|var|function|class)\s+([A-Za-z_$][\w$]*)/g)) add(name);
  for (const [, list] of code.matchAll(/\b(?:const|let|var)\s*\{([^}]*)\}/g)) {
    for (const part of list!.split(',')) add(part.includes(':') ? part.split(':')[1] : part);
  }
  for (const [, clause] of code.matchAll(/^\s*import\s+(?:type\s+)?(.+?)\s+from\s/gm)) {
    for (const part of clause!.replace(/[{}]/g, ',').split(',')) {
      const words = part.trim().split(/\s+/);
      add(words[words.length - 1]);
    }
  }
  return [...names];
}

/** The names a prelude module exports (what the generated module destructures from it). */
export function exportedNames(preludeSource: string): string[] {
  const names = new Set<string>();
  for (const [, name] of preludeSource.matchAll(
    /^export\s+(?:async\s+)?(?:const|let|function|class)\s+([A-Za-z_$][\w$]*)/gm,
  )) {
    if (name !== 'after') names.add(name!);
  }
  return [...names];
}

// --- Claims -------------------------------------------------------------------------------------

/**
 * A comment that states a value: a string, number, boolean, null or an object literal at its
 * start, followed by nothing, `:`, `(` or `;` (`// 42`, `// true: one step back`, `// '755224'`,
 * `// { type: 'totp', digits: 8 }`). Anything else is prose.
 */
export function claimOf(comment: string): string | undefined {
  const text = comment.trim();
  if (text.startsWith('{')) return balanced(text);
  const literal =
    /^('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d[\d_]*(?:\.\d+)?|true|false|null|undefined)(?=$|\s*[:;(])/.exec(
      text,
    );
  return literal?.[1];
}

function balanced(text: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(0, i + 1);
  }
  return undefined;
}

const STATEMENT_KEYWORD =
  /^(?:import|export|return|if|for|while|throw|function|class|try|switch|case|default|type|interface)\b/;

/**
 * Rewrites the lines of a code sample whose comment makes a claim into an assertion of it:
 * `expr; // claim` becomes `await __claim(line, async () => (expr), claim)`; a declaration
 * `const x = ...;` followed by a comment line `// claim` (or `// x: claim`) asserts `x`; and
 * `console.log(a, b); // true false` asserts the printed line.
 */
export function addClaims(code: string, lineOffset: number): { code: string; claims: number } {
  const lines = code.split('\n');
  const out: string[] = [];
  let depth = 0;
  let claims = 0;
  let previous: { name?: string; expr?: string; index: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = lineOffset + i;
    const startDepth = depth;
    depth += count(line, /[({[]/g) - count(line, /[)}\]]/g);
    const trailing = /^(\s*)(.*?);\s*\/\/\s?(.*)$/.exec(line);
    const onlyComment = /^\s*\/\/\s?(.*)$/.exec(line);
    if (onlyComment && previous && startDepth === 0) {
      const text = onlyComment[1]!;
      const named = previous.name ? new RegExp(`^${previous.name}:\\s*(\\{.*)$`).exec(text)?.[1] : undefined;
      const claim = claimOf(named ?? text);
      if (claim) {
        const value = previous.name ?? `__value${previous.index}`;
        out.push(`await __claim(${where}, async () => ${value}, ${JSON.stringify(claim)});`);
        claims++;
        previous = undefined;
        continue;
      }
    }
    previous = undefined;
    if (startDepth === 0 && depth === 0 && trailing && !trailing[2]!.includes('//')) {
      const [, indent, statement, comment] = trailing;
      const declaration = /^(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=/.exec(statement!);
      const log = /^console\.log\((.*)\)$/.exec(statement!);
      if (
        log &&
        /^(?:\S+)(?:\s+\S+)*$/.test(comment!) &&
        comment!.split(/\s+/).every((word) => claimOf(word))
      ) {
        out.push(`${indent}__claimLog(${where}, ${JSON.stringify(comment)}, ${log[1]});`);
        claims++;
        continue;
      }
      const claim = claimOf(comment!);
      if (claim && declaration) {
        out.push(
          line,
          `${indent}await __claim(${where}, async () => ${declaration[1]}, ${JSON.stringify(claim)});`,
        );
        claims++;
        continue;
      }
      if (
        claim &&
        !declaration &&
        !STATEMENT_KEYWORD.test(statement!) &&
        !/^(?:const|let|var)\b/.test(statement!)
      ) {
        out.push(`${indent}await __claim(${where}, async () => (${statement}), ${JSON.stringify(claim)});`);
        claims++;
        continue;
      }
    }
    const nextComment = /^\s*\/\/\s?(.*)$/.exec(lines[i + 1] ?? '')?.[1];
    if (
      startDepth === 0 &&
      depth === 0 &&
      /;\s*$/.test(line) &&
      !/^\s*\/\//.test(line) &&
      nextComment !== undefined
    ) {
      const statement = line.trim().replace(/;\s*$/, '');
      const declaration = /^(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=/.exec(statement);
      if (declaration) previous = { name: declaration[1], index: i };
      else if (
        claimOf(nextComment) &&
        !STATEMENT_KEYWORD.test(statement) &&
        !/^(?:const|let|var)\b/.test(statement)
      ) {
        out.push(`const __value${i} = (${statement});`);
        previous = { index: i };
        continue;
      }
    }
    out.push(line);
  }
  return { code: out.join('\n'), claims };
}

function count(line: string, pattern: RegExp): number {
  // Brackets inside strings and comments do not count.
  const code = line
    .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, '""')
    .replace(/\/\/.*$/, '');
  return code.match(pattern)?.length ?? 0;
}

// --- Module generation --------------------------------------------------------------------------

export interface ModuleInput {
  sample: Sample;
  /** Absolute path of test/docs/runtime.ts. */
  runtime: string;
  /** Absolute path of the prelude module, if any, and its source. */
  prelude?: { path: string; source: string };
  /** Absolute directory of the README. */
  readmeDir: string;
  /** Absolute directory the module is written to. */
  moduleDir: string;
}

/** The TypeScript module that runs one code or JSON sample. */
export function sampleModule({ sample, runtime, prelude, readmeDir, moduleDir }: ModuleInput): {
  source: string;
  claims: number;
} {
  const header = [
    `import { __claim, __claimLog, __finish } from ${JSON.stringify(runtime)};`,
    prelude
      ? `import * as __prelude from ${JSON.stringify(`${prelude.path}?sample=${sample.line}`)};`
      : 'const __prelude = {};',
  ];
  const preludeNames = prelude ? exportedNames(prelude.source) : [];
  if (preludeNames.length > 0) header.push(`const { ${preludeNames.join(', ')} } = __prelude as any;`);

  if (sample.language === 'json') {
    header.push(`const sample = ${sample.code.trim()};`);
    header.push(`await __finish(__prelude, { sample });`);
    return { source: `${header.join('\n')}\n`, claims: 0 };
  }

  let code = sample.code;
  if (sample.marker.base) {
    const base = join(readmeDir, sample.marker.base);
    code = code.replace(
      /(from\s+|import\s*\(\s*)(['"])(\.\.?\/[^'"]+)\2/g,
      (_match, head, quote, specifier) => {
        const target = relative(moduleDir, join(base, specifier));
        return `${head}${quote}${target.startsWith('.') ? target : `./${target}`}${quote}`;
      },
    );
  }
  const imports: string[] = [];
  const body: string[] = [];
  let inImport = false;
  for (const line of code.split('\n')) {
    if (/^import\s/.test(line) || inImport) {
      imports.push(line);
      inImport = !/;\s*(\/\/.*)?$/.test(line);
    } else body.push(line);
  }
  const claimed = addClaims(body.join('\n'), sample.line + 1 + imports.length);
  const names = declaredNames(code).filter((name) => !preludeNames.includes(name));
  const scope = `(globalThis as any).__sampleScope = () => { const s: Record<string, unknown> = {}; ${names
    .map((name) => `try { s.${name} = ${name}; } catch {}`)
    .join(' ')} return s; };`;
  const main = sample.marker.wrap
    ? [`await (async () => {`, scope, claimed.code, `})();`]
    : [scope, claimed.code];
  const source = [
    ...header,
    ...imports,
    ...main,
    `await __finish(__prelude, (globalThis as any).__sampleScope());`,
    '',
  ].join('\n');
  return { source, claims: claimed.claims };
}

/** The bash script that runs one shell sample, and the standard output it must print (`output`). */
export function shellScript(
  sample: Sample,
  preludePath: string | undefined,
): { script: string; expected?: string[] } {
  const script = [
    'set -euo pipefail',
    preludePath ? `source ${JSON.stringify(preludePath)}` : '',
    sample.code,
  ].join('\n');
  if (!sample.marker.output) return { script };
  const expected = sample.code
    .split('\n')
    .filter((line) => /^#( |$)/.test(line))
    .map((line) => line.replace(/^# ?/, ''));
  return { script, expected };
}

/** Whether `actual` equals `expected`, where `...` in `expected` stands for any text. */
export function matchesPattern(actual: string, expected: string): boolean {
  const squash = (text: string) => text.replace(/\s+/g, ' ').trim();
  const pattern = squash(expected)
    .split('...')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(squash(actual));
}
