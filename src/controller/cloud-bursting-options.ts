import type { Logger } from 'pino';
import type { BurstPolicy } from '../core/placement/burst-timing.js';
import type { Store } from '../store/open-store.js';
import type { Failpoints } from '../util/failpoints.js';
import type { AccessKeyCipher } from './access-key-cipher.js';

export interface CloudBurstingOptions {
  readonly store: Store;
  /** The access keys' cipher: a cloud's secret is sealed as theirs are, under the same key file. */
  readonly cipher: AccessKeyCipher;
  readonly logger: Logger;
  /**
   * `cloud.launch` before RunInstances, `cloud.launch.done` after it answered and before the instance id is recorded;
   * for an image made available on demand `cloud.image.upload` before the S3 upload, `cloud.image.register` before
   * RegisterImage, `cloud.image.register.done` after it and before the AMI is cached.
   */
  readonly failpoints?: Failpoints | undefined;
  /** How often each cloud's instances are read (DescribeInstances) and reconciled (default 5 s). */
  readonly pollMs?: number | undefined;
  /** How long a cloud that refused a launch for want of capacity is left alone (default 30 s). */
  readonly refusedBackoffMs?: number | undefined;
  /** Per EC2 request (default 15 s). */
  readonly requestTimeoutMs?: number | undefined;
  /** How long a remote instance has to reach the state a step waits for (default 10 min). */
  readonly stateTimeoutMs?: number | undefined;
  /**
   * When a VM no local host takes may go to a cloud it does not ask for by
   * requirement: at once (`when-full`, the default) or once it has waited for
   * a local host longer than `maxWaitS` (`when-wait-exceeds`).
   */
  readonly policy?: BurstPolicy | undefined;
  /** The clock the wait is measured with (tests); default Date.now. */
  readonly now?: (() => number) | undefined;
  /** A cloud may take VMs again (reachable again, a refusal waited out): the VMs waiting for room are tried again. */
  readonly onRoom: () => void;
}
