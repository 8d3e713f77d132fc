import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COLD_MIGRATION_STAGES, type ColdMigrationStage } from './cold-migration-stage.js';
import { decideColdMigration, matchingColdRules, type ColdDestHolding, type ColdMigrationFacts, type ColdSourceHolding } from './decide-cold-migration.js';

const STAGES: readonly ColdMigrationStage[] = [...COLD_MIGRATION_STAGES, 'aborting'];
const SOURCES: readonly ColdSourceHolding[] = ['holds', 'running', 'absent', 'unreachable'];
const DESTS: readonly ColdDestHolding[] = ['copying', 'complete', 'none', 'unreachable'];

function* everyCase(): Generator<ColdMigrationFacts> {
  for (const stage of STAGES) for (const committed of [false, true]) for (const source of SOURCES) for (const dest of DESTS) yield { stage, committed, source, dest };
}

const kind = (f: Partial<ColdMigrationFacts>): string => decideColdMigration({ stage: 'copying', committed: false, source: 'holds', dest: 'copying', ...f }).kind;

test('exactly one rule applies to every combination', () => {
  for (const f of everyCase()) assert.equal(matchingColdRules(f).length, 1, JSON.stringify(f));
});

test('before the commit the source keeps the VM: abort, whatever the destination holds', () => {
  for (const stage of ['reservation', 'copying', 'verified', 'aborting'] as const) {
    for (const dest of DESTS) {
      assert.equal(kind({ stage, source: 'holds', dest }), 'abort', `${stage} ${dest}`);
      assert.equal(kind({ stage, source: 'unreachable', dest }), 'abort', `${stage} ${dest}: the source's files are untouched, only out of reach`);
      assert.equal(kind({ stage, source: 'running', dest }), 'abort');
    }
  }
});

test("a source that lost the VM's files makes the destination's verified copy the VM", () => {
  const d = decideColdMigration({ stage: 'verified', committed: false, source: 'absent', dest: 'complete' });
  assert.equal(d.kind, 'roll-forward');
  assert.ok(d.kind === 'roll-forward' && d.commit && d.releaseSource);
  assert.equal(kind({ source: 'absent', dest: 'copying' }), 'wait');
  assert.equal(kind({ source: 'absent', dest: 'unreachable' }), 'wait');
  assert.equal(kind({ source: 'absent', dest: 'none' }), 'lost');
});

test('after the commit the destination is the VM: roll forward; the source is released only once the destination confirmed its copy', () => {
  for (const source of SOURCES) {
    const d = decideColdMigration({ stage: 'committed', committed: true, source, dest: 'complete' });
    assert.deepEqual(d.kind === 'roll-forward' && [d.commit, d.releaseSource], [false, true]);
    const u = decideColdMigration({ stage: 'committed', committed: true, source, dest: 'unreachable' });
    assert.deepEqual(u.kind === 'roll-forward' && [u.commit, u.releaseSource], [false, false]);
  }
  // The journal says committed even if the store write is not visible in the facts: still after.
  assert.equal(kind({ stage: 'cleaned', committed: false, source: 'absent', dest: 'complete' }), 'roll-forward');
});

test('after the commit, a destination that lost its copy: back to the source if it still has the files', () => {
  assert.equal(kind({ stage: 'committed', committed: true, source: 'holds', dest: 'none' }), 'revert-to-source');
  assert.equal(kind({ stage: 'committed', committed: true, source: 'running', dest: 'none' }), 'revert-to-source');
  assert.equal(kind({ stage: 'committed', committed: true, source: 'unreachable', dest: 'none' }), 'wait');
  assert.equal(kind({ stage: 'committed', committed: true, source: 'absent', dest: 'none' }), 'lost');
  assert.equal(kind({ stage: 'committed', committed: true, source: 'holds', dest: 'copying' }), 'wait');
});

test('the reason names the rule, the facts and the cause', () => {
  const d = decideColdMigration({ stage: 'copying', committed: false, source: 'holds', dest: 'unreachable', cause: 'connection refused' });
  assert.equal(d.reason, "not committed: the source keeps the VM, the destination's copy goes (stage copying, not committed, source holds, destination unreachable); after: connection refused");
});

test('an unknown stage is refused', () => {
  assert.throws(() => decideColdMigration({ stage: 'precopy' as ColdMigrationStage, committed: false, source: 'holds', dest: 'none' }), /unknown cold migration stage precopy/);
});
