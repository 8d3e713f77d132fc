import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layer rules of DESIGN.md §2 / ARCHITECTURE.md, checked on the import
 * statements of every non-test file under src/. Paths are relative to src/; a
 * directory ends in "/", anything else names one file. A file falls under every
 * rule whose `layer` it is in. Tests are exempt: a test may reach across layers
 * to set up what it tests.
 */
interface Rule {
  readonly layer: string;
  /** When given, the only src/ paths the layer may import. */
  readonly mayImport?: readonly string[];
  /** src/ paths the layer must not import. */
  readonly mustNotImport?: readonly string[];
  /** When given, the only packages (bare specifiers, node: modules included) the layer may import. */
  readonly mayImportPackages?: readonly string[];
  /** Packages the layer must not import. */
  readonly mustNotImportPackages?: readonly string[];
  readonly why: string;
}

/** One import a rule would refuse but that is allowed on purpose. */
interface Exception {
  readonly file: string;
  readonly imports: string;
  readonly why: string;
}

const IO_MODULES = ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'node:http', 'node:https'];

const RULES: readonly Rule[] = [
  { layer: 'errors/', mayImport: ['errors/'], why: 'the error classes are the bottom layer every other one throws' },
  { layer: 'core/', mayImport: ['core/', 'errors/'], mustNotImportPackages: IO_MODULES, why: 'the rules are pure: no I/O, no other layer' },
  { layer: 'contract/', mayImport: ['contract/', 'core/'], mayImportPackages: ['zod'], why: 'what two processes say to each other: schemas and types, no I/O' },
  { layer: 'aws/', mayImport: ['aws/', 'errors/', 'util/'], why: 'SigV4 and the AWS wire shapes are shared by the EC2 and S3 listeners: no store, no daemon (util/, a shared leaf: the hash pool)' },
  {
    layer: 'occi/', mayImport: ['occi/', 'errors/', 'contract/', 'ec2/native-api.ts'], mustNotImportPackages: IO_MODULES,
    why: 'OCCI: pure renderers, parsers and model, and a thin server that acts only through the native API (NativeApi) — no store, no daemon internals',
  },
  { layer: 'sim/', mayImport: ['sim/', 'core/', 'errors/'], why: 'the simulator runs the very scheduler of core/ on a virtual clock: no daemon, store or driver' },
  { layer: 'client/', mustNotImport: ['controller/', 'agent/'], why: 'a client speaks the contract, not the server\'s internals' },
  { layer: 'cli/', mustNotImport: ['controller/', 'agent/'], why: 'the CLI talks to the controller through the client' },
  { layer: 'controller/', mustNotImport: ['agent/'], why: 'the controller reaches agents through client/ and transfer/' },
  { layer: 'transfer/', mustNotImport: ['controller/', 'agent/'], why: 'the transfer protocol is used by both daemons' },
  {
    layer: 'agent/',
    mayImport: ['agent/', 'contract/', 'transfer/', 'hypervisor/', 'storage/', 'network/', 'util/', 'errors/', 'core/', 'http/', 'security/'],
    why: 'the agent is a leaf daemon over the hypervisor, storage and network',
  },
  { layer: '', mustNotImport: ['agent/'], why: 'nothing outside agent/ uses it but its composition roots' },
];

const EXCEPTIONS: readonly Exception[] = [
  { file: 'contract/user-schemas.ts', imports: 'util/ssh-public-key.ts', why: 'a pure parser (node:crypto only for the fingerprint) that the store and the CLI share' },
  { file: 'cli/commands/daemons.ts', imports: 'agent/agent-daemon.ts', why: 'starts the agent daemon: a composition root' },
  { file: 'cli/commands/daemons.ts', imports: 'controller/controller-daemon.ts', why: 'starts the controller daemon: a composition root' },
  { file: 'cli/commands/up.ts', imports: 'agent/agent-daemon.ts', why: 'nubo up runs both daemons: a composition root' },
  { file: 'cli/commands/up.ts', imports: 'controller/controller-daemon.ts', why: 'nubo up runs both daemons: a composition root' },
];

interface Violation {
  readonly file: string;
  readonly imports: string;
  readonly why: string;
}

const SPECIFIER = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The module specifiers `source` imports or re-exports. */
function importsOf(source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => (m[1] ?? m[2])!);
}

const under = (path: string, prefix: string): boolean => (prefix.endsWith('/') || prefix === '' ? path.startsWith(prefix) : path === prefix);
const packageOf = (spec: string): string => (spec.startsWith('node:') ? spec : spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));

/** Every import in `files` (src/-relative path → source) that breaks a rule, sorted. */
function layeringViolations(files: ReadonlyMap<string, string>, rules = RULES, exceptions = EXCEPTIONS): Violation[] {
  const found: Violation[] = [];
  for (const [file, source] of files) {
    for (const spec of importsOf(source)) {
      const local = spec.startsWith('.');
      const target = local ? normalize(join(dirname(file), spec)).split(sep).join('/').replace(/\.js$/, '.ts') : spec;
      if (local && target.startsWith('../')) continue; // outside src/ (test support): tests only
      // One breach per import, named after the first rule it breaks.
      for (const r of rules) {
        if (!under(file, r.layer)) continue;
        const broken = local
          ? (r.mayImport !== undefined && !r.mayImport.some((p) => under(target, p))) || (r.mustNotImport ?? []).some((p) => under(target, p) && !under(file, p))
          : (r.mayImportPackages !== undefined && !r.mayImportPackages.includes(packageOf(spec))) || (r.mustNotImportPackages ?? []).includes(spec);
        if (!broken) continue;
        if (!exceptions.some((e) => e.file === file && e.imports === target)) found.push({ file, imports: target, why: r.why });
        break;
      }
    }
  }
  return found.sort((a, b) => a.file.localeCompare(b.file) || a.imports.localeCompare(b.imports));
}

async function sourcesUnder(dir: string, root = dir): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) for (const [k, v] of await sourcesUnder(path, root)) files.set(k, v);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
      files.set(relative(root, path).split(sep).join('/'), await readFile(path, 'utf8'));
    }
  }
  return files;
}

// Compiled to dist/src/; the rules are about the TypeScript sources.
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

test('every import in src/ keeps to the layer rules', async () => {
  const files = await sourcesUnder(SRC);
  assert.ok(files.size > 100, `read ${files.size} files under ${SRC}`);
  const broken = layeringViolations(files).map((v) => `src/${v.file} imports src/${v.imports} (${v.why})`);
  assert.deepEqual(broken, []);
});

test('every exception is still needed', async () => {
  const files = await sourcesUnder(SRC);
  const unused = EXCEPTIONS.filter((e) => layeringViolations(files, RULES, EXCEPTIONS.filter((x) => x !== e)).length === 0);
  assert.deepEqual(unused, []);
});

test('the checker names file and import for each kind of breach', () => {
  const files = new Map([
    ['core/a.ts', "import { readFile } from 'node:fs/promises';\nimport type { X } from '../store/x.js';\nimport { z } from 'zod';"],
    ['contract/vm.ts', "import { z } from 'zod';\nimport { y } from './y.js';\nimport { pino } from 'pino';\nexport { s } from '../controller/s.js';"],
    ['client/c.ts', "import type { V } from '../contract/vm.js';\nimport { S } from '../agent/agent-service.js';"],
    ['controller/x/d.ts', "const m = await import('../../agent/vm-capture.js');"],
    ['agent/e.ts', "import { C } from '../controller/catalog.js';\nimport { T } from '../transfer/pull-file.js';\nimport { A } from './agent-service.js';"],
    ['transfer/f.ts', "import {\n  Offer,\n} from '../agent/g.js';"],
    ['cli/commands/up.ts', "import { AgentDaemon } from '../../agent/agent-daemon.js';"],
  ]);
  assert.deepEqual(
    layeringViolations(files).map((v) => `${v.file} -> ${v.imports}`),
    [
      'agent/e.ts -> controller/catalog.ts',
      'client/c.ts -> agent/agent-service.ts',
      'contract/vm.ts -> controller/s.ts',
      'contract/vm.ts -> pino',
      'controller/x/d.ts -> agent/vm-capture.ts',
      'core/a.ts -> node:fs/promises',
      'core/a.ts -> store/x.ts',
      'transfer/f.ts -> agent/g.ts',
    ],
  );
});
