import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import {
  abortEndsWithoutCancel,
  MIGRATION_RULES,
  classifyDest,
  classifySource,
  decideMigration,
  matchingRules,
  migrationPhase,
  type MigrationDecision,
  type MigrationFacts,
} from './decide-migration.js';
import { ALL_MIGRATION_STAGES, type MigrationStage } from './migration-stage.js';
import { SIDE_STATES, type SideState, type SideView } from './side-view.js';

const up = (state: SideState): SideView => ({ reachable: true, state });
const down: SideView = { reachable: false };
const VIEWS: readonly SideView[] = [down, ...SIDE_STATES.map(up)];
const DEAD: readonly string[] = ['crashed', 'error', 'poweroff', 'absent'];

const stateOf = (v: SideView): SideState | undefined => (v.reachable ? v.state : undefined);
const isDead = (v: SideView): boolean => v.reachable && DEAD.includes(v.state);
// With resume on completion a completed source means the destination may have run the guest.
const ran = (f: MigrationFacts): boolean =>
  f.postcopyStarted === true || f.stage === 'postcopy' || f.stage === 'activated' || f.stage === 'cleaned' || (f.destAutostart === true && stateOf(f.source) === 'postmigrate');
const afterCommit = (f: MigrationFacts): boolean => f.committed || f.stage === 'committed' || f.stage === 'activated' || f.stage === 'cleaned';

function* everyCombination(): Generator<MigrationFacts> {
  for (const stage of ALL_MIGRATION_STAGES)
    for (const committed of [false, true])
      for (const source of VIEWS)
        for (const dest of VIEWS)
          for (const mirroredDisks of [false, true])
            for (const postcopyStarted of [false, true])
              for (const destAutostart of [false, true]) yield { stage, committed, source, dest, mirroredDisks, postcopyStarted, destAutostart };
}

const label = (f: MigrationFacts, d?: MigrationDecision): string =>
  `stage=${f.stage} committed=${f.committed} source=${stateOf(f.source) ?? 'unreachable'} dest=${stateOf(f.dest) ?? 'unreachable'} mirrored=${f.mirroredDisks} postcopy=${f.postcopyStarted} autostart=${f.destAutostart}${d === undefined ? '' : ` → ${JSON.stringify(d)}`}`;

/** Every invariant one decision must satisfy; returns the first broken one. */
function brokenInvariant(f: MigrationFacts, d: MigrationDecision): string | undefined {
  const src = stateOf(f.source);
  const dst = stateOf(f.dest);
  const after = afterCommit(f);
  const pre = !after && !(f.postcopyStarted === true || f.stage === 'postcopy');
  if (!d.reason.includes(`stage ${f.stage}`) || !d.reason.includes(`destination ${dst ?? 'unreachable'}`)) return 'reason names the facts';
  if (src === 'saving' && d.kind !== 'wait') return 'a finishing source is waited for';
  if (pre && (src === 'running' || src === 'paused') && d.kind !== 'abort') return 'before the commit a source that runs wins: abort';
  switch (d.kind) {
    case 'abort':
      if (after) return 'never abort after the commit';
      if (d.resumeSource && !(src === 'postmigrate' && isDead(f.dest))) return 'resume the source only when it completed and the destination is known dead';
      if (d.resumeSource && ran(f)) return 'never resume a source whose image is older than the guest';
      if ((dst === 'running' || dst === 'paused') && src !== 'running' && src !== 'paused' && src !== 'postmigrate') return 'destroying a complete destination needs a copy on the source';
      if (ran(f) && src !== 'running' && src !== 'paused') return 'after post-copy only a running source may be kept';
      return undefined;
    case 'roll-forward':
      if (dst !== 'running' && dst !== 'paused') return 'roll forward only to a complete or running destination';
      if (d.commit !== !f.committed) return 'commit exactly when the store has not';
      if (d.completeMirrors && !(src === 'postmigrate' && dst === 'paused' && f.mirroredDisks === true)) return 'mirrors are completed only into a paused destination, by a completed source';
      if ((src === 'running' || src === 'paused') && pre) return 'never roll forward past a source that still runs before the commit';
      if (f.stage === 'aborting' && pre && dst !== 'running' && src !== 'crashed' && src !== 'error' && src !== 'poweroff' && src !== 'absent' && !ran(f)) {
        return 'an abort is only overridden when the source is gone, or the destination runs or may have run';
      }
      return undefined;
    case 'revert-to-source':
      if (!after) return 'revert only after the commit';
      if (src !== 'running' && src !== 'paused' && src !== 'postmigrate') return 'revert only to a source that holds the VM';
      if (dst === undefined || dst === 'running' || !['paused', 'inmigrate', ...DEAD].includes(dst)) return 'revert only when the destination is reachable and does not run';
      if (src === 'postmigrate' && (!(isDead(f.dest) || dst === 'inmigrate') || ran(f))) return 'resume a completed source only when the destination is dead and never ran';
      return undefined;
    case 'lost':
      if (src === undefined || dst === undefined) return 'lost only when both sides answered';
      if (dst === 'running') return 'a running destination is a copy';
      if (dst === 'paused' && !(f.mirroredDisks === true && !after && ['crashed', 'error', 'poweroff'].includes(src))) return 'a complete destination is a copy';
      if ((src === 'running' || src === 'paused') && !after) return 'a running source is a copy';
      if (src === 'postmigrate' && !ran(f)) return 'a completed source that is not stale is a copy';
      return undefined;
    case 'wait':
      return undefined;
  }
}

test('exactly one rule applies to every combination, and every decision keeps the invariants', () => {
  let count = 0;
  const kinds = new Map<string, number>();
  for (const f of everyCombination()) {
    count++;
    const rules = matchingRules(f);
    assert.equal(rules.length, 1, `${label(f)}: ${rules.length} rules (${rules.map((r) => r.why).join(' | ')})`);
    const d = decideMigration(f);
    assert.ok(Object.isFrozen(d));
    const broken = brokenInvariant(f, d);
    assert.equal(broken, undefined, label(f, d));
    kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
  }
  assert.equal(count, 12 * 2 * 11 * 11 * 2 * 2 * 2);
  // Every kind of decision is reachable.
  assert.deepEqual([...kinds.keys()].sort(), ['abort', 'lost', 'revert-to-source', 'roll-forward', 'wait']);
});

test('every rule of the table is used by some combination', () => {
  const used = new Set<number>();
  for (const f of everyCombination()) for (const r of matchingRules(f)) used.add(MIGRATION_RULES.indexOf(r));
  const unused = MIGRATION_RULES.filter((_, i) => !used.has(i)).map((r) => r.why);
  assert.deepEqual(unused, []);
});

test('after the commit an unreachable destination means wait, whatever the source holds', () => {
  for (const f of everyCombination()) {
    if (!afterCommit(f) || f.dest.reachable) continue;
    assert.equal(decideMigration(f).kind, 'wait', label(f));
  }
});

test('a completed source is never resumed while the destination is unreachable', () => {
  for (const f of everyCombination()) {
    if (f.dest.reachable || stateOf(f.source) !== 'postmigrate') continue;
    const d = decideMigration(f);
    assert.ok(d.kind === 'wait' || d.kind === 'roll-forward' || (d.kind === 'abort' && !d.resumeSource), label(f, d));
  }
});

test('mirroredDisks, postcopyStarted and destAutostart: false and absent mean the same', () => {
  for (const f of everyCombination()) {
    if (f.mirroredDisks === true || f.postcopyStarted === true || f.destAutostart === true) continue;
    const { mirroredDisks: _m, postcopyStarted: _p, destAutostart: _a, ...bare } = f;
    assert.deepEqual(decideMigration(bare), decideMigration(f));
  }
});

test('the phase: the store and the journal decide the commit, post-copy and abort follow', () => {
  const base = { source: down, dest: down };
  assert.equal(migrationPhase({ ...base, stage: 'precopy', committed: false }), 'before');
  assert.equal(migrationPhase({ ...base, stage: 'transferred', committed: true }), 'after');
  assert.equal(migrationPhase({ ...base, stage: 'committed', committed: false }), 'after');
  assert.equal(migrationPhase({ ...base, stage: 'postcopy', committed: false }), 'postcopy');
  assert.equal(migrationPhase({ ...base, stage: 'transferred', committed: false, postcopyStarted: true }), 'postcopy');
  assert.equal(migrationPhase({ ...base, stage: 'aborting', committed: false }), 'aborting');
  assert.equal(migrationPhase({ ...base, stage: 'aborting', committed: true }), 'after');
});

test('classification of what each side reports', () => {
  assert.deepEqual(
    SIDE_STATES.map((s) => classifySource(up(s))),
    ['live', 'live', 'odd', 'dead', 'dead', 'dead', 'odd', 'sent', 'finishing', 'absent'],
  );
  assert.deepEqual(
    SIDE_STATES.map((s) => classifyDest(up(s))),
    ['running', 'complete', 'odd', 'dead', 'dead', 'dead', 'receiving', 'odd', 'odd', 'dead'],
  );
  assert.equal(classifySource(down), 'unreachable');
  assert.equal(classifyDest(down), 'unreachable');
});

test('facts with an unknown stage or state are refused, naming the field', () => {
  assert.throws(
    () => decideMigration({ stage: 'commit' as MigrationStage, committed: false, source: up('running'), dest: up('bogus' as SideState) }),
    (err: unknown) =>
      err instanceof ValidationError && err.issues.map((i) => i.field).join() === 'stage,dest.state' && /unknown migration stage commit/.test(err.message),
  );
});

// The fault cases of the issue, one by one.

function decide(stage: MigrationStage, committed: boolean, source: SideView, dest: SideView, extra: Partial<MigrationFacts> = {}): MigrationDecision {
  return decideMigration({ stage, committed, source, dest, ...extra });
}

test('destination agent killed during reservation: abort, the source keeps running', () => {
  const d = decide('reservation', false, up('running'), down, { cause: 'connect ECONNREFUSED 198.18.1.2:7070' });
  assert.equal(d.kind, 'abort');
  assert.equal(d.kind === 'abort' && d.resumeSource, false);
  assert.match(d.reason, /source still runs/);
  assert.match(d.reason, /after: connect ECONNREFUSED/);
});

test('destination QEMU killed during pre-copy: QEMU resumed the source; abort without resuming', () => {
  for (const dest of ['crashed', 'absent', 'poweroff'] as const) {
    assert.deepEqual(decide('precopy', false, up('running'), up(dest)).kind, 'abort');
  }
  // Killed during the very last pass, after the source completed: resume it.
  const d = decide('stop-and-copy', false, up('postmigrate'), up('crashed'));
  assert.ok(d.kind === 'abort' && d.resumeSource, JSON.stringify(d));
});

test('destination uplink cut during pre-copy: abort (the destination is destroyed once it answers)', () => {
  assert.equal(decide('precopy', false, up('running'), down).kind, 'abort');
  assert.equal(decide('mirroring', false, up('running'), down, { mirroredDisks: true }).kind, 'abort');
  // Cut after the source completed: the destination may be complete — never resume the source blind.
  assert.equal(decide('stop-and-copy', false, up('postmigrate'), down).kind, 'wait');
});

test('source agent killed during pre-copy: the destination is incomplete, destroying it is safe', () => {
  const d = decide('precopy', false, down, up('inmigrate'));
  assert.deepEqual([d.kind, d.kind === 'abort' && d.resumeSource], ['abort', false]);
  assert.match(d.reason, /incomplete image/);
  // The stream completed meanwhile: the destination paused, so the source completed: roll forward without it.
  const f = decide('precopy', false, down, up('paused'));
  assert.deepEqual(f, { kind: 'roll-forward', commit: true, completeMirrors: false, reason: f.reason });
  // Unless the source still had disk writes to mirror.
  assert.equal(decide('precopy', false, down, up('paused'), { mirroredDisks: true }).kind, 'wait');
});

test('controller killed before the commit', () => {
  // Both reachable, transfer complete: commit and go on.
  const t = decide('transferred', false, up('postmigrate'), up('paused'));
  assert.deepEqual(t, { kind: 'roll-forward', commit: true, completeMirrors: false, reason: t.reason });
  // Killed before the journal caught up with a completed transfer: the mirrors still need completing.
  const m = decide('precopy', false, up('postmigrate'), up('paused'), { mirroredDisks: true });
  assert.deepEqual(m, { kind: 'roll-forward', commit: true, completeMirrors: true, reason: m.reason });
  // Killed mid pre-copy: the migration may still run in QEMU; it is cancelled.
  assert.equal(decide('precopy', false, up('running'), up('inmigrate')).kind, 'abort');
  // Killed during the abort itself: carry on with it.
  assert.equal(decide('aborting', false, up('running'), up('inmigrate')).kind, 'abort');
});

test('controller killed after the commit: roll forward', () => {
  const c = decide('committed', true, up('postmigrate'), up('paused'));
  assert.deepEqual(c, { kind: 'roll-forward', commit: false, completeMirrors: false, reason: c.reason });
  // The journal lagged the store (killed between the transaction and the journal write is impossible, but a lag is harmless).
  assert.deepEqual(decide('transferred', true, up('postmigrate'), up('paused')).kind, 'roll-forward');
  // Already activated, source destroyed or not.
  assert.equal(decide('activated', true, up('postmigrate'), up('running')).kind, 'roll-forward');
  assert.equal(decide('activated', true, up('absent'), up('running')).kind, 'roll-forward');
  assert.equal(decide('activated', true, down, up('running')).kind, 'roll-forward');
  // Destination unreachable after the commit: wait, whatever the source holds.
  assert.equal(decide('committed', true, up('postmigrate'), down).kind, 'wait');
});

test('activation failing on the destination', () => {
  // cont refused but QEMU still holds the complete image: activate again.
  assert.equal(decide('committed', true, up('postmigrate'), up('paused'), { cause: 'cont: timeout' }).kind, 'roll-forward');
  // Destination QEMU died before it ran the guest: the source's image is current — move back.
  const r = decide('committed', true, up('postmigrate'), up('crashed'), { cause: 'cont: connection reset' });
  assert.equal(r.kind, 'revert-to-source');
  assert.match(r.reason, /move the VM back/);
  // And it died with the source gone too.
  assert.equal(decide('committed', true, up('absent'), up('crashed')).kind, 'lost');
  // The destination ran the guest before it died: the source's image is stale.
  assert.equal(decide('activated', true, up('postmigrate'), up('crashed')).kind, 'lost');
  // A revert in progress (store already moved back) carries on.
  assert.equal(decide('committed', false, up('postmigrate'), up('absent')).kind, 'revert-to-source');
  assert.equal(decide('committed', false, up('running'), up('absent')).kind, 'revert-to-source');
});

test('post-copy: no abort, no resuming the source once the destination ran', () => {
  assert.equal(decide('postcopy', false, up('saving'), up('running')).kind, 'wait');
  assert.equal(decide('postcopy', false, up('postmigrate'), up('running')).kind, 'roll-forward');
  assert.equal(decide('postcopy', false, up('postmigrate'), up('crashed')).kind, 'lost');
  assert.equal(decide('transferred', false, up('postmigrate'), up('crashed'), { postcopyStarted: true }).kind, 'lost');
  assert.equal(decide('committed', true, up('postmigrate'), up('crashed'), { postcopyStarted: true }).kind, 'lost');
});

test('both sides dead: lost', () => {
  assert.equal(decide('precopy', false, up('crashed'), up('inmigrate')).kind, 'lost');
  assert.equal(decide('precopy', false, up('absent'), up('absent')).kind, 'lost');
  assert.equal(decide('activated', true, up('absent'), up('error')).kind, 'lost');
});

test('a source that completed but whose disks were not yet mirrored: the destination must not run', () => {
  assert.equal(decide('stop-and-copy', false, up('crashed'), up('paused'), { mirroredDisks: true }).kind, 'lost');
  assert.equal(decide('stop-and-copy', false, up('crashed'), up('paused')).kind, 'roll-forward');
  assert.equal(decide('transferred', false, up('crashed'), up('paused'), { mirroredDisks: true }).kind, 'roll-forward');
  // The source holds nothing: the destination's copy is the only one left.
  assert.equal(decide('stop-and-copy', false, up('absent'), up('paused'), { mirroredDisks: true }).kind, 'roll-forward');
});

test('an abort under way: a completed source waits until the destination is gone, then resumes', () => {
  const first = decide('aborting', false, up('postmigrate'), up('paused'));
  assert.deepEqual([first.kind, first.kind === 'abort' && first.resumeSource], ['abort', false]);
  const second = decide('aborting', false, up('postmigrate'), up('absent'));
  assert.deepEqual([second.kind, second.kind === 'abort' && second.resumeSource], ['abort', true]);
  assert.equal(decide('aborting', false, down, up('paused')).kind, 'wait');
  // The source died: the abort cannot keep the VM there, the destination's copy is all there is.
  assert.equal(decide('aborting', false, up('crashed'), up('paused')).kind, 'roll-forward');
});

test('split brain: the store decides which copy stays', () => {
  const before = decide('transferred', false, up('running'), up('running'));
  assert.deepEqual([before.kind, before.kind === 'abort' && before.resumeSource], ['abort', false]);
  assert.equal(decide('activated', true, up('running'), up('running')).kind, 'roll-forward');
  // After the commit, someone resumed the source and the destination never ran: keep the running copy.
  assert.equal(decide('committed', true, up('running'), up('paused')).kind, 'revert-to-source');
});

test('an abort whose cancel the source refused ends when the VM runs where the record says and no destination copy is left', () => {
  const running: SideView = { reachable: true, state: 'running' };
  assert.equal(abortEndsWithoutCancel({ committed: false, source: running, destGone: true }), true);
  // The stream could still complete into a destination that was not released.
  assert.equal(abortEndsWithoutCancel({ committed: false, source: running, destGone: false }), false);
  // Committed: the store names the destination, nothing ends on the source.
  assert.equal(abortEndsWithoutCancel({ committed: true, source: running, destGone: true }), false);
  // A source that does not run (paused for the last pass, postmigrate, away) still needs its cancel or resume.
  for (const state of SIDE_STATES.filter((s) => s !== 'running')) {
    assert.equal(abortEndsWithoutCancel({ committed: false, source: { reachable: true, state }, destGone: true }), false, state);
  }
  assert.equal(abortEndsWithoutCancel({ committed: false, source: { reachable: false }, destGone: true }), false);
});

test('resume on completion: a source that completed is never resumed, whatever else holds', () => {
  let seen = 0;
  for (const f of everyCombination()) {
    if (f.destAutostart !== true || stateOf(f.source) !== 'postmigrate') continue;
    seen++;
    const d = decideMigration(f);
    assert.ok(!(d.kind === 'abort' && d.resumeSource) && d.kind !== 'revert-to-source', label(f, d));
  }
  assert.ok(seen > 0);
});

test('resume on completion: the fault cases at the new commit point', () => {
  const auto = { destAutostart: true };
  // The destination QEMU died after the source completed: it may have run the guest; the VM is lost, the source stays paused.
  const lost = decide('stop-and-copy', false, up('postmigrate'), up('crashed'), auto);
  assert.equal(lost.kind, 'lost');
  assert.match(lost.reason, /on its own/);
  assert.equal(decide('precopy', false, up('postmigrate'), up('absent'), auto).kind, 'lost');
  assert.equal(decide('committed', true, up('postmigrate'), up('crashed'), auto).kind, 'lost');
  // The same without resume on completion still resumes the source (the destination waited paused, it never ran).
  assert.ok(decide('stop-and-copy', false, up('postmigrate'), up('crashed')).kind === 'abort');
  // The controller learnt nothing yet (killed, or its step failed): the destination runs the guest already — roll forward.
  const fwd = decide('precopy', false, up('postmigrate'), up('running'), auto);
  assert.deepEqual(fwd, { kind: 'roll-forward', commit: true, completeMirrors: false, reason: fwd.reason });
  // The source's agent is away after completion: the running destination is the VM.
  assert.equal(decide('stop-and-copy', false, down, up('running'), auto).kind, 'roll-forward');
  // The destination's agent is away: never resume the source blind.
  assert.equal(decide('stop-and-copy', false, up('postmigrate'), down, auto).kind, 'wait');
  // A cancel that lost the race with the completion: forward, never back.
  assert.equal(decide('aborting', false, up('postmigrate'), up('running'), auto).kind, 'roll-forward');
  assert.equal(decide('aborting', false, up('postmigrate'), up('paused'), auto).kind, 'roll-forward');
  assert.equal(decide('aborting', false, up('postmigrate'), up('inmigrate'), auto).kind, 'wait');
  // Before the source completed nothing changes: the source still runs the guest, abort.
  assert.equal(decide('precopy', false, up('running'), up('inmigrate'), auto).kind, 'abort');
});
