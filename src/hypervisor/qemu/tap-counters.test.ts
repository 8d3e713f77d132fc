import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tapCounters } from './tap-counters.js';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
nt1-0:     700       7    0    0    0     0          0         0     9000      90    0    0    0     0       0          0
nt1-1:      50       1    0    0    0     0          0         0      300       3    0    0    0     0       0          0
nt2-0:  123456     999    0    0    0     0          0         0   654321     999    0    0    0     0       0          0
`;

describe('tapCounters', () => {
  it('sums the VM\'s TAPs only, swapping directions to the guest\'s view', () => {
    // The guest received what its TAPs transmitted (9000 + 300) and sent what they received (700 + 50).
    assert.deepEqual(tapCounters(NET_DEV, ['nt1-0', 'nt1-1']), { rxBytes: 9300, txBytes: 750 });
  });

  it('answers zero for a VM without TAPs or whose TAP is not in the table', () => {
    assert.deepEqual(tapCounters(NET_DEV, []), { rxBytes: 0, txBytes: 0 });
    assert.deepEqual(tapCounters(NET_DEV, ['gone0']), { rxBytes: 0, txBytes: 0 });
  });
});
