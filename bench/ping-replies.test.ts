import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkDowntime, parsePingReplies } from './ping-replies.js';

// Real iputils 20221126 output shapes (ping -D -n -O -i 0.005), with a silence from seq 4 to seq 90 (lost in between).
const OUTPUT = [
  'PING 198.18.66.200 (198.18.66.200) 56(84) bytes of data.',
  '[1796565352.000100] 64 bytes from 198.18.66.200: icmp_seq=1 ttl=64 time=0.263 ms',
  '[1796565352.005200] 64 bytes from 198.18.66.200: icmp_seq=2 ttl=64 time=0.051 ms',
  '[1796565352.010300] 64 bytes from 198.18.66.200: icmp_seq=3 ttl=64 time=0.027 ms',
  '[1796565352.015000] 64 bytes from 198.18.66.200: icmp_seq=4 ttl=64 time=0.026 ms',
  '[1796565352.030000] no answer yet for icmp_seq=5',
  '[1796565352.200000] From 198.18.66.254 icmp_seq=40 Destination Host Unreachable',
  '[1796565352.300000] 64 bytes from 198.18.66.9: icmp_seq=60 ttl=64 time=0.2 ms',
  '[1796565352.447500] 64 bytes from 198.18.66.200: icmp_seq=90 ttl=64 time=0.9 ms',
  '[1796565352.452600] 64 bytes from 198.18.66.200: icmp_seq=91 ttl=64 time=0.3 ms',
  '',
  '--- 198.18.66.200 ping statistics ---',
  '91 packets transmitted, 6 received, 93.4066% packet loss, time 455ms',
  'rtt min/avg/max/mdev = 0.017/0.076/0.263/0.093 ms',
  '',
].join('\n');

test('parsePingReplies keeps only the echo replies of the given address, with their -D times in ms', () => {
  const r = parsePingReplies(OUTPUT, '198.18.66.200');
  assert.deepEqual(r.map((x) => x.seq), [1, 2, 3, 4, 90, 91]);
  assert.ok(Math.abs(r[0]!.atMs - 1796565352000.1) < 1e-3);
  assert.deepEqual(parsePingReplies('ping: sendmsg: Operation not permitted\n', '198.18.66.200'), []);
});

test('networkDowntime is the longest silence across the window, with the lost requests counted', () => {
  const r = parsePingReplies(OUTPUT, '198.18.66.200');
  const t0 = 1796565352000;
  const d = networkDowntime(r, t0 + 12, t0 + 40);
  assert.ok(Math.abs(d.ms - 432.5) < 1e-3, `got ${d.ms}`);
  assert.ok(Math.abs(d.lastBefore - (t0 + 15)) < 1e-3);
  assert.ok(Math.abs(d.firstAfter - (t0 + 447.5)) < 1e-3);
  assert.equal(d.lost, 85);
  assert.equal(d.replies, 6);
  // Spacings 4.9, 5.1, 5.1, 4.7, 432.5: the probe's resolution, not the silence.
  assert.ok(Math.abs(d.medianIntervalMs - 5.1) < 1e-3, `got ${d.medianIntervalMs}`);
});

test('networkDowntime only counts a silence that overlaps the window', () => {
  const r = parsePingReplies(OUTPUT, '198.18.66.200');
  const t0 = 1796565352000;
  // Entirely after the long silence: the normal 5 ms spacing.
  assert.ok(Math.abs(networkDowntime(r, t0 + 448, t0 + 450).ms - 5.1) < 1e-3);
});

test('networkDowntime is NaN when the silence is not closed inside the capture', () => {
  const r = parsePingReplies(OUTPUT, '198.18.66.200');
  const t0 = 1796565352000;
  // No reply after the window's end: the silence may run on past the capture.
  assert.ok(Number.isNaN(networkDowntime(r.slice(0, 4), t0 + 12, t0 + 40).ms));
  // No reply before the window's start: the silence may have begun before the capture.
  assert.ok(Number.isNaN(networkDowntime(r.slice(4), t0 + 12, t0 + 40).ms));
  assert.ok(Number.isNaN(networkDowntime([], t0, t0 + 1).ms));
});
