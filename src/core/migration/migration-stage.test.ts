import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALL_MIGRATION_STAGES,
  MIGRATION_STAGES,
  MIGRATION_STAGE_DESCRIPTIONS,
  canEnterStage,
  isAfterCommit,
  isMigrationStage,
  nextStages,
  type MigrationStage,
} from './migration-stage.js';

test('the journal order', () => {
  assert.deepEqual(
    [...MIGRATION_STAGES],
    ['reservation', 'prepared', 'mirroring', 'precopy', 'postcopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned'],
  );
  assert.deepEqual(ALL_MIGRATION_STAGES, [...MIGRATION_STAGES, 'aborting', 'aborted']);
});

test('isAfterCommit: only committed, activated and cleaned', () => {
  assert.deepEqual(
    ALL_MIGRATION_STAGES.filter((s) => isAfterCommit(s)),
    ['committed', 'activated', 'cleaned'],
  );
});

test('every stage has a description', () => {
  for (const s of ALL_MIGRATION_STAGES) assert.ok((MIGRATION_STAGE_DESCRIPTIONS[s] ?? '').length > 10, s);
  assert.match(MIGRATION_STAGE_DESCRIPTIONS.committed, /the commit point; when resuming on completion/);
});

test('isMigrationStage guards values read from the store', () => {
  for (const s of ALL_MIGRATION_STAGES) assert.ok(isMigrationStage(s));
  for (const v of ['pre-migration', 'commit', '', 3, undefined, null, '__proto__']) assert.equal(isMigrationStage(v), false, String(v));
});

test('stages only move forward, skipping only the optional ones', () => {
  const index = (s: MigrationStage): number => MIGRATION_STAGES.indexOf(s as (typeof MIGRATION_STAGES)[number]);
  for (const from of ALL_MIGRATION_STAGES) {
    for (const to of nextStages(from)) {
      if (to === 'aborting' || to === 'aborted') continue;
      assert.ok(index(to) > index(from), `${from} → ${to}`);
      const skipped = MIGRATION_STAGES.slice(index(from) + 1, index(to));
      assert.ok(skipped.every((s) => s === 'mirroring' || s === 'postcopy' || s === 'stop-and-copy'), `${from} → ${to} skips ${skipped.join()}`);
    }
  }
  assert.deepEqual(nextStages(undefined), ['reservation']);
  assert.ok(canEnterStage('prepared', 'precopy'), 'shared storage skips mirroring');
  assert.ok(canEnterStage('precopy', 'transferred'), 'a fast migration may end before a stop is observed');
  assert.equal(canEnterStage('prepared', 'transferred'), false);
  assert.equal(canEnterStage('postcopy', 'stop-and-copy'), false);
  assert.equal(canEnterStage('transferred', 'activated'), false, 'activation needs the commit');
  assert.equal(canEnterStage(undefined, 'prepared'), false);
});

test('aborting: from every stage before the commit except post-copy; nothing follows it', () => {
  assert.deepEqual(
    ALL_MIGRATION_STAGES.filter((s) => canEnterStage(s, 'aborting')),
    ['reservation', 'prepared', 'mirroring', 'precopy', 'stop-and-copy', 'transferred'],
  );
  assert.deepEqual(nextStages('aborting'), ['aborted']);
  assert.deepEqual(nextStages('cleaned'), []);
});

test('aborted: the final stage of a roll-back (after aborting, or a reverted commit); nothing follows it', () => {
  assert.deepEqual(ALL_MIGRATION_STAGES.filter((s) => canEnterStage(s, 'aborted')), ['committed', 'aborting']);
  assert.deepEqual(nextStages('aborted'), []);
  assert.equal(isAfterCommit('aborted'), false);
});
