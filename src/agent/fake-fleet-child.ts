/**
 * One process of a fake fleet split over processes (fake-fleet-processes.ts
 * forks it): its share of the hosts as a FakeFleet, driven over the IPC
 * channel. It ends when its parent goes — the channel closes when the parent
 * exits or is killed — so no fleet process outlives the bench that made it.
 */
import { pino } from 'pino';
import { errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { FakeFleet } from './fake-fleet.js';
import type { FleetBeatStats, FleetChildCall, FleetChildReport, FleetChildStart } from './fake-fleet-messages.js';

let fleet: FakeFleet | undefined;

/** Sends one message to the parent; `then` once it has been handed over (before this process exits). */
function tell(m: FleetChildReport, then?: () => void): void {
  if (!process.connected || process.send === undefined) {
    then?.();
    return;
  }
  process.send(m, undefined, {}, () => then?.());
}

async function run(m: FleetChildCall): Promise<unknown> {
  const f = fleet;
  if (f === undefined) throw new ValidationError('fleet process', [{ field: 'op', message: `${m.op} before the fleet started` }]);
  switch (m.op) {
    case 'beatAll':
      return f.beatAll({ concurrency: m.concurrency });
    case 'startBeating':
      f.startBeating();
      return null;
    case 'stopBeating':
      f.stopBeating();
      return null;
    case 'stats': {
      const s: FleetBeatStats = { ...f.beats, ...f.beatTimes };
      return s;
    }
    case 'silent':
      f.host(m.host).silent = m.silent;
      return null;
    case 'close':
      await f.close();
      fleet = undefined;
      return null;
  }
}

async function handle(m: FleetChildStart | FleetChildCall): Promise<void> {
  if (m.type === 'start') {
    try {
      fleet = await FakeFleet.start({ ...m.options, logger: pino({ level: m.logLevel ?? 'silent' }, pino.destination(2)) });
      tell({ type: 'ready', hosts: fleet.hosts.map((h) => ({ name: h.name, url: h.url, token: h.token })) });
    } catch (err) {
      tell({ type: 'failed', message: errorMessage(err) }, () => process.exit(1));
    }
    return;
  }
  let answer: FleetChildReport;
  try {
    answer = { type: 'answer', id: m.id, ok: true, value: await run(m) };
  } catch (err) {
    answer = { type: 'answer', id: m.id, ok: false, message: errorMessage(err) };
  }
  // Closed: the answer is handed over, then the process ends (nothing of the fleet is left to keep it).
  tell(answer, m.op === 'close' ? () => process.exit(0) : undefined);
}

// The parent gone (it exited, or was killed): this process goes with it, its agents' servers with it.
process.on('disconnect', () => process.exit(0));
process.on('message', (m: FleetChildStart | FleetChildCall) => {
  void handle(m);
});
