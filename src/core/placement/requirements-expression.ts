import jsep from 'jsep';
import { ValidationError } from '../../errors/validation-error.js';
import { DEFAULT_CLUSTER } from './cluster-fit.js';
import { freeCapacity, type FreeCapacity } from './host-capacity.js';
import type { HostView } from './host-view.js';

/**
 * The expression language of requirements (`cpu_model == "qemu64" &&
 * free_memory_mb > 512`) and custom rank expressions (`free_memory_mb - load *
 * 1000`), after OpenNebula's SCHED_REQUIREMENTS / SCHED_RANK.
 *
 * jsep only parses. The AST is then checked against a whitelist — names from a
 * fixed set, `labels.<key>`, number/string/boolean literals, the operators
 * == != < <= > >= && || ! and + - * / (and unary minus) — and typed, and turned
 * into closures. Nothing is ever handed to eval or Function, and no property of
 * a JavaScript object is reached by a name the user wrote, except own keys of
 * `labels`.
 *
 * Types are checked when compiling, so evaluation cannot fail:
 * - `==` `!=` need both sides of one type; `<` `<=` `>` `>=` two numbers or two
 *   strings (strings compare by UTF-16 code unit, as everywhere in JS);
 * - `&&` `||` `!` need booleans; `+ - * /` and unary `-` need numbers;
 * - `labels.<key>` (or `labels["key-with-dashes"]`) is a string, "" when the
 *   host has no such label.
 * Division by zero gives ±Infinity or NaN; a comparison with NaN is false.
 */

type ExprType = 'number' | 'string' | 'boolean';
type Value = number | string | boolean;

/** What an expression is evaluated against. */
interface Scope {
  readonly host: HostView;
  readonly free: FreeCapacity;
}

interface Compiled {
  readonly type: ExprType;
  readonly run: (scope: Scope) => Value;
}

/** Extra inputs of an evaluation: free CPU counts with the policy's overcommit ratio. */
export interface ExpressionContext {
  readonly cpuOvercommit: number;
}

export type HostPredicate = (host: HostView, context?: ExpressionContext) => boolean;
export type HostScore = (host: HostView, context?: ExpressionContext) => number;

// `_mb` names are the historical spelling (OpenNebula); the values are MiB.
const IDENTIFIERS: ReadonlyMap<string, Compiled> = new Map<string, Compiled>([
  ['cpu_model', { type: 'string', run: (s) => s.host.cpuModel }],
  ['free_cpu', { type: 'number', run: (s) => s.free.cpus }],
  ['free_memory_mb', { type: 'number', run: (s) => s.free.memoryMiB }],
  ['free_disk_mb', { type: 'number', run: (s) => s.free.diskMiB }],
  ['total_memory_mb', { type: 'number', run: (s) => s.host.totalMemoryMiB }],
  ['total_cpus', { type: 'number', run: (s) => s.host.totalCpus }],
  ['load', { type: 'number', run: (s) => s.host.load }],
  ['hostname', { type: 'string', run: (s) => s.host.name }],
  // "" for a host of this site; a remote cloud's name for the cloud (bursting): `cloud == "burst-1"` keeps a VM off local hosts.
  ['cloud', { type: 'string', run: (s) => s.host.cloud ?? '' }],
  ['cluster', { type: 'string', run: (s) => s.host.cluster ?? DEFAULT_CLUSTER }],
]);

/** The names an expression may use, as listed in error messages. */
export const EXPRESSION_NAMES: readonly string[] = Object.freeze([...IDENTIFIERS.keys(), 'labels.<key>']);

/** Longer input is refused before parsing: it bounds the parser's recursion. */
export const MAX_EXPRESSION_LENGTH = 1024;

const COMPARISON = new Set(['<', '<=', '>', '>=']);
const EQUALITY = new Set(['==', '!=']);
const LOGICAL = new Set(['&&', '||']);
const ARITHMETIC = new Set(['+', '-', '*', '/']);

const HINTS: Readonly<Record<string, string>> = { '===': 'use ==', '!==': 'use !=', '&': 'use &&', '|': 'use ||' };

/** Thrown inside the compiler; turned into a ValidationError at the entry point. */
class ExpressionIssue extends Error {}

/**
 * Where identifier `name` first occurs as a token of its own (outside string
 * literals, not after a dot), for messages; jsep's AST has no positions.
 */
function positionOf(source: string, name: string): number | undefined {
  let i = 0;
  let afterDot = false;
  while (i < source.length) {
    const ch = source.charAt(i);
    if (ch === '"' || ch === "'") {
      i++;
      while (i < source.length && source.charAt(i) !== ch) i += source.charAt(i) === '\\' ? 2 : 1;
      i++;
      afterDot = false;
    } else if (/[A-Za-z_$]/.test(ch)) {
      const start = i;
      while (i < source.length && /[\w$]/.test(source.charAt(i))) i++;
      if (!afterDot && source.slice(start, i) === name) return start;
      afterDot = false;
    } else if (/[0-9]/.test(ch)) {
      while (i < source.length && /[\w.]/.test(source.charAt(i))) i++;
      afterDot = false;
    } else {
      if (!/\s/.test(ch)) afterDot = ch === '.' || (ch === '?' && source.charAt(i + 1) === '.');
      i++;
    }
  }
  return undefined;
}

function at(source: string, name: string): string {
  const pos = positionOf(source, name);
  return pos === undefined ? '' : ` at character ${pos}`;
}

/** The expression as text again, for messages about a sub-expression. */
function show(node: jsep.Expression): string {
  switch (node.type) {
    case 'Identifier':
      return (node as jsep.Identifier).name;
    case 'Literal':
      return (node as jsep.Literal).raw;
    case 'MemberExpression': {
      const m = node as jsep.MemberExpression;
      return m.computed ? `${show(m.object)}[${show(m.property)}]` : `${show(m.object)}.${show(m.property)}`;
    }
    case 'UnaryExpression': {
      const u = node as jsep.UnaryExpression;
      return `${u.operator}${show(u.argument)}`;
    }
    case 'BinaryExpression': {
      const b = node as jsep.BinaryExpression;
      return `(${show(b.left)} ${b.operator} ${show(b.right)})`;
    }
    default:
      return node.type;
  }
}

function compileNode(node: jsep.Expression, source: string): Compiled {
  switch (node.type) {
    case 'Literal':
      return compileLiteral(node as jsep.Literal);
    case 'Identifier':
      return compileIdentifier(node as jsep.Identifier, source);
    case 'MemberExpression':
      return compileMember(node as jsep.MemberExpression, source);
    case 'UnaryExpression':
      return compileUnary(node as jsep.UnaryExpression, source);
    case 'BinaryExpression':
      return compileBinary(node as jsep.BinaryExpression, source);
    case 'CallExpression': {
      const callee = (node as jsep.CallExpression).callee;
      const name = callee.type === 'Identifier' ? (callee as jsep.Identifier).name : undefined;
      throw new ExpressionIssue(`function calls are not allowed${name === undefined ? '' : ` (${name}()${at(source, name)})`}`);
    }
    case 'ThisExpression':
      throw new ExpressionIssue(`this is not allowed${at(source, 'this')}`);
    case 'ArrayExpression':
      throw new ExpressionIssue('array literals are not allowed');
    case 'ConditionalExpression':
      throw new ExpressionIssue('the conditional operator ?: is not allowed; combine conditions with && and ||');
    case 'Compound':
      throw new ExpressionIssue('must be a single expression; combine conditions with && and ||');
    default:
      throw new ExpressionIssue(`${node.type} is not allowed`);
  }
}

function compileLiteral(node: jsep.Literal): Compiled {
  const v = node.value;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ExpressionIssue(`number ${node.raw} is out of range`);
    return { type: 'number', run: () => v };
  }
  if (typeof v === 'string') return { type: 'string', run: () => v };
  if (typeof v === 'boolean') return { type: 'boolean', run: () => v };
  throw new ExpressionIssue(`${node.raw} is not allowed; literals are numbers, strings, true and false`);
}

function compileIdentifier(node: jsep.Identifier, source: string): Compiled {
  const known = IDENTIFIERS.get(node.name);
  if (known !== undefined) return known;
  if (node.name === 'labels') throw new ExpressionIssue(`labels needs a key, as in labels.zone${at(source, 'labels')}`);
  throw new ExpressionIssue(`unknown identifier ${node.name}${at(source, node.name)} (known: ${EXPRESSION_NAMES.join(', ')})`);
}

function compileMember(node: jsep.MemberExpression, source: string): Compiled {
  const { object, property } = node;
  if (object.type === 'Identifier' && object.name === 'labels' && node.optional !== true) {
    let key: string | undefined;
    if (!node.computed && property.type === 'Identifier') key = (property as jsep.Identifier).name;
    else if (node.computed && property.type === 'Literal' && typeof property.value === 'string') key = property.value;
    if (key !== undefined) {
      const k = key;
      // Own keys only: labels.constructor must not reach Object.prototype.
      return { type: 'string', run: (s) => (Object.hasOwn(s.host.labels, k) ? String(s.host.labels[k]) : '') };
    }
  }
  // Name the unknown root first: `foo.bar` is about foo, not about member access.
  let root: jsep.Expression = object;
  while (root.type === 'MemberExpression') root = (root as jsep.MemberExpression).object;
  if (root.type === 'Identifier') {
    const name = (root as jsep.Identifier).name;
    if (name !== 'labels' && !IDENTIFIERS.has(name)) compileIdentifier(root as jsep.Identifier, source);
  }
  throw new ExpressionIssue(`${show(node)} is not allowed; member access is only labels.<key> or labels["<key>"]`);
}

function compileUnary(node: jsep.UnaryExpression, source: string): Compiled {
  const arg = compileNode(node.argument, source);
  if (node.operator === '!') {
    if (arg.type !== 'boolean') throw new ExpressionIssue(`operator ! needs a boolean, ${show(node.argument)} is a ${arg.type}`);
    return { type: 'boolean', run: (s) => !arg.run(s) };
  }
  if (node.operator === '-') {
    if (arg.type !== 'number') throw new ExpressionIssue(`unary - needs a number, ${show(node.argument)} is a ${arg.type}`);
    return { type: 'number', run: (s) => -(arg.run(s) as number) };
  }
  throw new ExpressionIssue(`operator ${node.operator} is not allowed`);
}

function compileBinary(node: jsep.BinaryExpression, source: string): Compiled {
  const op = node.operator;
  if (!COMPARISON.has(op) && !EQUALITY.has(op) && !LOGICAL.has(op) && !ARITHMETIC.has(op)) {
    const hint = HINTS[op];
    throw new ExpressionIssue(`operator ${op} is not allowed${hint === undefined ? '' : ` (${hint})`}`);
  }
  const l = compileNode(node.left, source);
  const r = compileNode(node.right, source);
  const mismatch = (need: string): ExpressionIssue =>
    new ExpressionIssue(`operator ${op} needs ${need}: ${show(node.left)} is a ${l.type}, ${show(node.right)} is a ${r.type}`);

  if (EQUALITY.has(op)) {
    if (l.type !== r.type) throw mismatch('two values of one type');
    return op === '==' ? { type: 'boolean', run: (s) => l.run(s) === r.run(s) } : { type: 'boolean', run: (s) => l.run(s) !== r.run(s) };
  }
  if (LOGICAL.has(op)) {
    if (l.type !== 'boolean' || r.type !== 'boolean') throw mismatch('booleans');
    return op === '&&' ? { type: 'boolean', run: (s) => l.run(s) && r.run(s) } : { type: 'boolean', run: (s) => l.run(s) || r.run(s) };
  }
  if (COMPARISON.has(op)) {
    if (l.type !== r.type || l.type === 'boolean') throw mismatch('two numbers or two strings');
    // Both sides have one type, so JS's comparison is a plain numeric or code-unit comparison.
    const cmp = { '<': (a: Value, b: Value) => a < b, '<=': (a: Value, b: Value) => a <= b, '>': (a: Value, b: Value) => a > b, '>=': (a: Value, b: Value) => a >= b }[
      op as '<' | '<=' | '>' | '>='
    ];
    return { type: 'boolean', run: (s) => cmp(l.run(s), r.run(s)) };
  }
  if (l.type !== 'number' || r.type !== 'number') throw mismatch('numbers');
  const f = { '+': (a: number, b: number) => a + b, '-': (a: number, b: number) => a - b, '*': (a: number, b: number) => a * b, '/': (a: number, b: number) => a / b }[
    op as '+' | '-' | '*' | '/'
  ];
  return { type: 'number', run: (s) => f(l.run(s) as number, r.run(s) as number) };
}

function compileExpression(source: string, field: string, what: string, want: ExprType): (scope: Scope) => Value {
  const fail = (message: string): never => {
    throw new ValidationError(what, [{ field, message }]);
  };
  if (typeof source !== 'string') return fail('must be a string');
  if (source.length > MAX_EXPRESSION_LENGTH) return fail(`is too long (${source.length} characters, at most ${MAX_EXPRESSION_LENGTH})`);
  let ast: jsep.Expression;
  try {
    ast = jsep(source);
  } catch (err) {
    // jsep's messages end in "at character N"; a stack overflow has none.
    return fail(`syntax error: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (ast.type === 'Compound' && (ast as jsep.Compound).body.length === 0) return fail('is empty');
  let compiled: Compiled;
  try {
    compiled = compileNode(ast, source);
  } catch (err) {
    if (err instanceof ExpressionIssue) return fail(err.message);
    throw err;
  }
  if (compiled.type !== want) {
    return fail(want === 'boolean' ? `must be a condition (true or false), not a ${compiled.type}` : `must compute a number, not a ${compiled.type}`);
  }
  return compiled.run;
}

const scopeOf = (host: HostView, context: ExpressionContext | undefined): Scope => ({
  host,
  free: freeCapacity(host, context?.cpuOvercommit ?? 1),
});

/**
 * Compiles a requirements expression once; the result is evaluated per host.
 * @throws ValidationError on field `requirements` naming the position or the identifier.
 */
export function compileRequirements(source: string): HostPredicate {
  const run = compileExpression(source, 'requirements', 'requirements expression', 'boolean');
  return (host, context) => run(scopeOf(host, context)) as boolean;
}

/**
 * Compiles a rank expression (higher is better) once.
 * @throws ValidationError on field `rankExpression`.
 */
export function compileRankExpression(source: string): HostScore {
  const run = compileExpression(source, 'rankExpression', 'rank expression', 'number');
  return (host, context) => run(scopeOf(host, context)) as number;
}
