import { Readable } from 'node:stream';
import { create } from 'tar';
import { OvfError } from './ovf-error.js';
import { isPackageMemberName } from './package-member-name.js';

/**
 * An OVA of the files `members` of `dir`, as a tar stream: the .ovf
 * descriptor first, then (by the caller's order) the manifest and the disks,
 * as DSP0243 requires. `portable` leaves out owners and other host details.
 * `follow`: a member that is a symlink is packed as the file it points to.
 */
export function packOva(dir: string, members: readonly string[], o: { follow?: boolean } = {}): Readable {
  if (!/\.ovf$/i.test(members[0] ?? '')) throw new OvfError('', 'an OVA starts with its .ovf descriptor');
  const bad = members.find((m) => !isPackageMemberName(m));
  if (bad !== undefined) throw new OvfError('', `${JSON.stringify(bad)} is not a plain file name`);
  // tar's own stream is a Minipass; a Node Readable is what HTTP servers and pipeline() expect.
  return Readable.from(create({ cwd: dir, portable: true, follow: o.follow === true }, [...members]), { objectMode: false });
}
