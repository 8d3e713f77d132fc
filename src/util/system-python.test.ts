import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { systemPython } from './system-python.js';

describe('systemPython', () => {
  it('is Debian\'s /usr/bin/python3 where it is installed (else python3 from PATH), and it runs', () => {
    const py = systemPython();
    assert.equal(py, existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    assert.equal(systemPython(), py, 'looked up once');
    assert.match(execFileSync(py, ['-I', '-S', '-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' }), /^3\n$/);
  });
});
