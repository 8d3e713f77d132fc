import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CODES, isErrorCode, type ErrorCode } from './error-codes.js';
import { httpStatusOf } from '../http/http-status-of.js';
import { errorCodesTable } from './error-codes-table.js';

// The classes are read from the sources, not imported: a code is an instance
// field, and most constructors need arguments a test cannot make up. Every
// error class states its code as the first thing in its body (`readonly code
// = 'X'`), or, for the CLI's, the codes it may take (`ErrorCodeOf<'Class'>`).

const SRC = join(import.meta.dirname, '..', '..', '..', 'src');

interface Found {
  readonly cls: string;
  readonly file: string;
  /** A fixed code, or undefined for a class that takes one of its own registered codes as an argument. */
  readonly code: string | undefined;
  readonly takes: string | undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function errorClasses(): Found[] {
  const found: Found[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/class (\w+) extends \w+(?:<[^>]*>)? \{([\s\S]*?)(?=\n(?:export )?(?:abstract )?class |$)/g)) {
      const [, cls, body] = m as unknown as [string, string, string];
      const fixed = /^\s*readonly code = '([^']+)';/m.exec(body);
      const takes = /readonly code: ErrorCodeOf<'(\w+)'>/.exec(body);
      if (fixed || takes) found.push({ cls, file: relative(SRC, file), code: fixed?.[1], takes: takes?.[1] });
    }
  }
  return found;
}

test('the scan finds the error classes (it would pass vacuously otherwise)', () => {
  const names = errorClasses().map((f) => f.cls);
  for (const known of ['ValidationError', 'NotFoundError', 'ConflictError', 'InvalidStateError', 'UsageError', 'HypervisorError', 'DefaultBridgeError']) {
    assert.ok(names.includes(known), `${known} not found by the scan`);
  }
  assert.ok(names.length >= 60, `only ${names.length} classes found`);
});

test('every error class carries a registered code, registered as raised by that very class', () => {
  const wrong: string[] = [];
  for (const f of errorClasses()) {
    if (f.takes !== undefined) {
      if (f.takes !== f.cls) wrong.push(`${f.file}: ${f.cls} takes the codes of ${f.takes}`);
      continue;
    }
    const code = f.code ?? '';
    if (!isErrorCode(code)) {
      wrong.push(`${f.file}: ${f.cls} carries ${code}, which errors/error-codes.ts does not list`);
      continue;
    }
    const entry: { readonly raisedBy: string; readonly echoedBy?: string } = ERROR_CODES[code];
    if (entry.raisedBy !== f.cls && entry.echoedBy !== f.cls) {
      wrong.push(`${f.file}: ${f.cls} carries ${code}, which is ${entry.raisedBy}'s`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no two error classes share a code', () => {
  const byCode = new Map<string, string[]>();
  for (const f of errorClasses()) {
    if (f.code === undefined) continue;
    byCode.set(f.code, [...(byCode.get(f.code) ?? []), f.cls]);
  }
  const shared = [...byCode].filter(([, classes]) => classes.length > 1).map(([code, classes]) => `${code}: ${classes.join(', ')}`);
  assert.deepEqual(shared, []);
});

test('every registered class exists: the registry keeps no code of a class that is gone or renamed', () => {
  const names = new Set(errorClasses().map((f) => f.cls));
  const stale = Object.entries(ERROR_CODES).filter(([, e]) => e.raisedBy !== 'wire' && !names.has(e.raisedBy)).map(([code, e]) => `${code} (${e.raisedBy})`);
  assert.deepEqual(stale, []);
});

test('codes sent by the HTTP layers without a class ({ code: \'X\', message }) are registered as `wire`', () => {
  const sent = new Set<string>();
  for (const file of sources(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\{ code: '([A-Z][A-Z0-9_]*)', message/g)) sent.add(m[1]!);
  }
  assert.ok(sent.has('INTERNAL') && sent.has('METHOD_NOT_ALLOWED'), 'the scan finds the error handler\'s own codes');
  assert.deepEqual([...sent].filter((c) => !isErrorCode(c)), []);
});

test('codes are UPPER_SNAKE, statuses are HTTP error statuses, and every code says what it means', () => {
  for (const [code, e] of Object.entries(ERROR_CODES) as [ErrorCode, (typeof ERROR_CODES)[ErrorCode]][]) {
    assert.match(code, /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/);
    assert.ok(e.status >= 400 && e.status <= 599, `${code}: ${e.status}`);
    assert.ok(e.meaning.length > 10, `${code} says too little`);
  }
});

test('the HTTP status of a code comes from the registry; a code it does not know is a 500', () => {
  assert.equal(httpStatusOf('VALIDATION_FAILED'), 400);
  assert.equal(httpStatusOf('NOT_FOUND'), 404);
  assert.equal(httpStatusOf('MIGRATION_NOT_CANCELLABLE'), 409);
  assert.equal(httpStatusOf('DISK_CAPACITY'), 409);
  assert.equal(httpStatusOf('UNSUPPORTED'), 501);
  assert.equal(httpStatusOf('TIMEOUT'), 504);
  assert.equal(httpStatusOf('SOMETHING_A_NEWER_AGENT_SAYS'), 500);
  assert.equal(httpStatusOf('toString'), 500, 'an inherited property is no code');
});

test('docs/error-codes.md is the table generated from the registry (regenerate: node scripts/error-codes-table.mjs)', () => {
  const doc = readFileSync(join(SRC, '..', 'docs', 'error-codes.md'), 'utf8');
  assert.equal(doc, errorCodesTable());
});
