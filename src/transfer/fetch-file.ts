import { copyLocalFile } from './copy-local-file.js';
import { fetchLocalSource } from './fetch-local-source.js';
import { bootId } from './local-source.js';
import { pullFile, type PullFileRequest, type PulledFile } from './pull-file.js';

export interface FetchFileRequest extends PullFileRequest {
  /** false: over the network even from a source on this machine (default true). */
  readonly localCopies?: boolean | undefined;
  /** A local copy's LocalCopyRequest.onWritten (a pull over the network does not tell it). */
  readonly onWritten?: (() => void) | undefined;
}

/**
 * One offered file into `dest`, verified, the fastest way there is: when the
 * source is on this machine (the same kernel boot id, and the path it names
 * opens the offered inode here) the kernel copies it (copyLocalFile);
 * otherwise, or when the source cannot say, it is pulled over the network
 * (pullFile). Either way the sha256 is checked on both sides and `dest` is
 * fsynced before this resolves.
 * @throws what pullFile or copyLocalFile throw
 */
export async function fetchFile(r: FetchFileRequest): Promise<PulledFile> {
  const boot = r.localCopies === false ? undefined : await bootId();
  const source = boot !== undefined ? await fetchLocalSource(r.url, r.token, r.signal) : undefined;
  const local = source !== undefined && source.bootId === boot
    ? await copyLocalFile({ source, dest: r.dest, sizeBytes: r.sizeBytes, maxBytesPerSecond: r.maxBytesPerSecond, onBytes: r.onBytes, onWritten: r.onWritten, signal: r.signal, timeoutMs: r.timeoutMs })
    : undefined;
  return local ?? pullFile(r);
}
