import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { compileRankExpression, compileRequirements, EXPRESSION_NAMES, MAX_EXPRESSION_LENGTH } from './requirements-expression.js';
import { makeHost } from './host-view.fixture.js';

const h1 = makeHost('h1', {
  name: 'node-1',
  cpuModel: 'qemu64',
  totalCpus: 4,
  reservedCpus: 1,
  totalMemoryMiB: 2048,
  reservedMemoryMiB: 1024,
  totalDiskMiB: 10240,
  reservedDiskMiB: 240,
  load: 0.25,
  labels: { zone: 'a', 'rack-id': 'r7' },
});

const holds = (src: string, host = h1, cpuOvercommit = 1): boolean => compileRequirements(src)(host, { cpuOvercommit });

function rejects(src: string, message: RegExp | string, compile: (s: string) => unknown = compileRequirements, field = 'requirements'): void {
  assert.throws(
    () => compile(src),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `${src}: expected ValidationError, got ${String(err)}`);
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.equal(err.field, field);
      assert.equal(err.issues.length, 1);
      const got = err.issues[0]?.message ?? '';
      if (typeof message === 'string') assert.equal(got, message, src);
      else assert.match(got, message, src);
      return true;
    },
  );
}

test('the example of the brief', () => {
  const req = compileRequirements('cpu_model == "qemu64" && free_memory_mb > 512');
  assert.equal(req(h1), true);
  assert.equal(req(makeHost('h2', { reservedMemoryMiB: 4096 - 512 })), false, '512 free is not > 512');
  assert.equal(req(makeHost('h3', { cpuModel: 'Skylake-Client' })), false);
});

test('every identifier reads its host fact', () => {
  assert.ok(holds('cpu_model == "qemu64"'));
  assert.ok(holds('free_cpu == 3'));
  assert.ok(holds('free_cpu == 7', h1, 2), 'free_cpu counts the overcommitted capacity');
  assert.ok(holds('free_memory_mb == 1024'));
  assert.ok(holds('free_disk_mb == 10000'));
  assert.ok(holds('total_memory_mb == 2048'));
  assert.ok(holds('total_cpus == 4'));
  assert.ok(holds('load == 0.25'));
  assert.ok(holds('hostname == "node-1"'));
  assert.ok(holds('cloud == ""'), 'a host of the site is on no remote cloud');
  assert.ok(compileRequirements('cloud == "burst-1"')(makeHost('c', { cloud: 'burst-1' })), 'a remote cloud\'s view carries its name');
  assert.ok(compileRequirements('free_cpu == 3')(h1), 'the context is optional: overcommit 1');
});

test('labels: dotted, bracketed with a string, missing is the empty string, own keys only', () => {
  assert.ok(holds('labels.zone == "a"'));
  assert.ok(holds("labels['rack-id'] == 'r7'"));
  assert.ok(holds('labels.gpu == ""'));
  assert.ok(!holds('labels.gpu == "yes"'));
  assert.ok(holds('labels.gpu != "yes"'));
  assert.ok(holds('labels.constructor == ""'), 'no way into Object.prototype');
  assert.ok(holds('labels.__proto__ == ""'));
  assert.ok(holds('labels.toString == ""'));
});

test('operators: precedence, arithmetic, logic, string order', () => {
  assert.ok(holds('1 + 2 * 3 == 7'));
  assert.ok(holds('(1 + 2) * 3 == 9'));
  assert.ok(holds('10 / 4 == 2.5'));
  assert.ok(holds('10 - 4 - 3 == 3'));
  assert.ok(holds('-free_cpu < 0'));
  assert.ok(holds('- -1 == 1'));
  assert.ok(holds('!(load > 0.5)'));
  assert.ok(holds('!false && true'));
  assert.ok(holds('false || load <= 0.25'));
  assert.ok(holds('load >= 0.25 && load < 0.26'));
  assert.ok(holds('hostname < "node-2" && hostname > "node-0"'));
  assert.ok(holds('"B" < "a"'), 'code-unit order, not locale order');
  assert.ok(holds('true == true && "x" != "y"'));
  assert.ok(holds('1e3 == 1000'));
  assert.ok(holds("cpu_model == 'qemu64'"));
  assert.ok(holds('(((true)))'));
});

test('division by zero is deterministic: infinities compare, NaN is false', () => {
  assert.ok(holds('free_cpu / 0 > 1000000'));
  assert.ok(!holds('0 / 0 == 0 / 0'));
  assert.ok(!holds('0 / 0 < 1'));
  assert.ok(!holds('0 / 0 >= 1'));
});

test('syntax errors name the position', () => {
  rejects('cpu_model ==', /^syntax error: Expected expression after == at character 12$/);
  rejects('"abc', /^syntax error: Unclosed quote after "abc" at character 4$/);
  rejects('(load > 1', /^syntax error: .*at character \d+$/);
  rejects('cpu_model = "x"', 'syntax error: Unexpected "=" at character 10');
  rejects('free_cpu += 1', /^syntax error: .* at character \d+$/);
  rejects('load > 0.5 )', /^syntax error: .* at character 11$/);
  rejects('/x/', /^syntax error: /);
  rejects('', 'is empty');
  rejects('   ', 'is empty');
});

test('forbidden constructs', () => {
  rejects('foo()', 'function calls are not allowed (foo() at character 0)');
  rejects('load > 0 && exit(1)', 'function calls are not allowed (exit() at character 12)');
  rejects('hostname.toString() == "x"', 'function calls are not allowed');
  rejects('this', 'this is not allowed at character 0');
  rejects('this.constructor', /not allowed/);
  rejects('[1, 2]', 'array literals are not allowed');
  rejects('load > 0 ? true : false', /conditional operator \?: is not allowed/);
  rejects('null', /^null is not allowed/);
  rejects('load == null', /^null is not allowed/);
  rejects('load > 1, load < 2', /single expression/);
  rejects('load > 1; load < 2', /single expression/);
  rejects('load > 1 load < 2', /single expression/);
  rejects('load ** 2 > 1', 'operator ** is not allowed');
  rejects('free_cpu % 2 == 0', 'operator % is not allowed');
  rejects('load === 1', 'operator === is not allowed (use ==)');
  rejects('load !== 1', 'operator !== is not allowed (use !=)');
  rejects('true & false', 'operator & is not allowed (use &&)');
  rejects('true | false', 'operator | is not allowed (use ||)');
  rejects('free_cpu >> 1 == 0', 'operator >> is not allowed');
  rejects('load ?? 1', 'operator ?? is not allowed');
  rejects('~free_cpu == 0', 'operator ~ is not allowed');
  rejects('+free_cpu == 0', 'operator + is not allowed');
  rejects('labels', 'labels needs a key, as in labels.zone at character 0');
  rejects('labels.a.b == ""', /^labels\.a\.b is not allowed; member access is only labels/);
  rejects('labels[0] == ""', /^labels\[0\] is not allowed/);
  rejects('labels[hostname] == ""', /^labels\[hostname\] is not allowed/);
  rejects('labels?.zone == ""', /is not allowed; member access/);
  rejects('cpu_model.length > 1', /^cpu_model\.length is not allowed/);
  rejects('1e999 > 1', 'number 1e999 is out of range');
});

test('unknown identifiers are named with their position, prototype names included', () => {
  const known = `(known: ${EXPRESSION_NAMES.join(', ')})`;
  rejects('free_mem > 1', `unknown identifier free_mem at character 0 ${known}`);
  rejects('cpu_model == "x" && foo > 1', `unknown identifier foo at character 20 ${known}`);
  rejects('hostname == "foo" && foo', `unknown identifier foo at character 21 ${known}`, compileRequirements);
  rejects('constructor', /^unknown identifier constructor at character 0/);
  rejects('__proto__ == 1', /^unknown identifier __proto__ at character 0/);
  rejects('toString', /^unknown identifier toString/);
  rejects('process.exit == 1', /^unknown identifier process at character 0/);
  rejects('globalThis.x', /^unknown identifier globalThis/);
  rejects('Labels.zone == "a"', /^unknown identifier Labels/);
  rejects('load > 0 && undefined', /^unknown identifier undefined at character 12/);
});

test('types are checked when compiling', () => {
  rejects('free_memory_mb > "512"', 'operator > needs two numbers or two strings: free_memory_mb is a number, "512" is a string');
  rejects('cpu_model == 1', 'operator == needs two values of one type: cpu_model is a string, 1 is a number');
  rejects('true < false', /operator < needs two numbers or two strings/);
  rejects('load && true', 'operator && needs booleans: load is a number, true is a boolean');
  rejects('!load', 'operator ! needs a boolean, load is a number');
  rejects('-hostname == 1', 'unary - needs a number, hostname is a string');
  rejects('hostname + "x" == "y"', /operator \+ needs numbers/);
  rejects('labels.cores > 4', /operator > needs two numbers or two strings: labels\.cores is a string, 4 is a number/);
  rejects('free_cpu', 'must be a condition (true or false), not a number');
  rejects('hostname', 'must be a condition (true or false), not a string');
});

test('overlong input is refused before parsing; deep nesting within the limit compiles', () => {
  rejects('true && '.repeat(200) + 'true', `is too long (${8 * 200 + 4} characters, at most ${MAX_EXPRESSION_LENGTH})`);
  const depth = (MAX_EXPRESSION_LENGTH - 4) / 2;
  assert.ok(holds('('.repeat(depth) + 'true' + ')'.repeat(depth)));
  assert.ok(holds('!'.repeat(500) + 'true'));
});

test('the error message names the expression kind and the field', () => {
  assert.throws(() => compileRequirements('foo'), {
    message: `invalid requirements expression: requirements: unknown identifier foo at character 0 (known: ${EXPRESSION_NAMES.join(', ')})`,
  });
});

test('rank expressions compute numbers', () => {
  const rank = compileRankExpression('free_memory_mb - load * 1000');
  assert.equal(rank(h1), 1024 - 250);
  assert.equal(compileRankExpression('free_cpu')(h1, { cpuOvercommit: 2 }), 7);
  rejects('load > 1', 'must compute a number, not a boolean', compileRankExpression, 'rankExpression');
  rejects('hostname', 'must compute a number, not a string', compileRankExpression, 'rankExpression');
  rejects('foo()', /function calls/, compileRankExpression, 'rankExpression');
  assert.throws(() => compileRankExpression('x'), { message: /^invalid rank expression: rankExpression: unknown identifier x at character 0/ });
});

test('compiled once, evaluated many times, always the same answer', () => {
  const req = compileRequirements('free_memory_mb >= 1024 && labels.zone == "a"');
  const hosts = [h1, makeHost('h2', { labels: { zone: 'a' } }), makeHost('h3'), makeHost('h4', { labels: { zone: 'a' }, reservedMemoryMiB: 3584 })];
  const first = hosts.map((h) => req(h));
  assert.deepEqual(first, [true, true, false, false]);
  for (let i = 0; i < 3; i++) assert.deepEqual(hosts.map((h) => req(h)), first);
});
