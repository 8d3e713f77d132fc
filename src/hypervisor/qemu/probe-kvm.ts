import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { spawn } from 'node:child_process';

/**
 * Whether KVM really works here. /dev/kvm can exist on a CPU without vmx/svm
 * (as on our development machines), so the node alone proves nothing: check the
 * CPU flags, then ask QEMU to initialise KVM on an empty machine.
 */
export async function probeKvm(qemuBinary: string, timeoutMs = 5_000): Promise<boolean> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) return false;
  } catch {
    return false;
  }
  return new Promise<boolean>((resolve) => {
    const child = spawn(qemuBinary, ['-machine', 'none,accel=kvm', '-nodefaults', '-display', 'none', '-qmp', 'stdio'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    // QEMU prints the QMP greeting only after the accelerator initialised.
    child.stdout.on('data', (b: Buffer) => done(b.toString().includes('"QMP"')));
    child.on('error', () => done(false));
    child.on('exit', () => done(false));
  });
}
