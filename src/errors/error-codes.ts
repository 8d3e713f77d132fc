/**
 * Every error code nubo sends or raises, each once: the HTTP status it maps
 * to when it crosses the native API, which class raises it (or `wire`: sent
 * by an HTTP layer without a class), and what it means. A NuboError can only
 * carry a code listed here (its `code` is typed `ErrorCode`), and a unit test
 * (error-codes.test.ts) fails when two classes share a code or a class's code
 * is missing. docs/error-codes.md is generated from this table
 * (`node scripts/error-codes-table.mjs`).
 */
export interface ErrorCodeEntry {
  /** The status the native API answers with; codes that never cross it (CLI-only) say what they would be. */
  readonly status: number;
  /** The one class that raises it, or `wire` for codes only an HTTP layer sends. */
  readonly raisedBy: string;
  readonly meaning: string;
  /** A client-side class that reports the same failure under the same code (the CLI's wait for a migration). */
  readonly echoedBy?: string;
}

export const ERROR_CODES = {
  // 400: the request itself is wrong; nothing was changed.
  VALIDATION_FAILED: { status: 400, raisedBy: 'ValidationError', meaning: 'input rejected before anything changed; details.issues names every offending field' },
  AMBIGUOUS_ID: { status: 400, raisedBy: 'AmbiguousIdError', meaning: 'a reference (id prefix or name) fits several resources; details.candidates lists them' },
  URI_TOO_LONG: { status: 414, raisedBy: 'wire', meaning: 'a path segment (an id or name) is longer than 100 characters' },
  METHOD_NOT_ALLOWED: { status: 405, raisedBy: 'wire', meaning: 'the path exists, not with this method; the Allow header lists the methods' },
  UPGRADE_REQUIRED: { status: 426, raisedBy: 'wire', meaning: 'the console is a WebSocket: send the upgrade request' },
  BAD_REQUEST: { status: 400, raisedBy: 'wire', meaning: 'a 4xx of the HTTP framework itself that carried no code of its own' },
  // 401/403: who is asking.
  UNAUTHORIZED: { status: 401, raisedBy: 'UnauthorizedError', meaning: 'no bearer token, or not a valid one' },
  FORBIDDEN: { status: 403, raisedBy: 'ForbiddenError', meaning: 'the caller may not do this to that resource' },
  // 404: no such thing.
  NOT_FOUND: { status: 404, raisedBy: 'NotFoundError', meaning: 'no resource with this id (details.resource, details.id); also sent for a route that does not exist' },
  VM_NOT_FOUND: { status: 404, raisedBy: 'VmNotFoundError', meaning: 'the hypervisor holds no VM with this id' },
  // 409: the request is fine, the state of things refuses it; nothing was changed.
  CONFLICT: { status: 409, raisedBy: 'ConflictError', meaning: 'a unique field is taken, or the resource is still referenced (details.resource, field, value)' },
  INVALID_STATE: { status: 409, raisedBy: 'InvalidStateError', meaning: 'the VM\'s state does not allow this action; details.state and details.allowed say why' },
  STALE_STATE: { status: 409, raisedBy: 'StaleStateError', meaning: 'someone else moved the resource first (a lost compare-and-set); nothing was written' },
  FENCE_FAILED: { status: 502, raisedBy: 'FenceError', meaning: 'a host\'s fence method did not succeed (the hook exited non-zero or timed out): its VMs are not restarted elsewhere, and the fence is retried' },
  RECOVER_REFUSED: { status: 409, raisedBy: 'RecoverRefusedError', meaning: 'a failed VM has nothing safe to be recovered from; the message says what is left to do' },
  LEASE_STATE: { status: 409, raisedBy: 'LeaseStateError', meaning: 'the capacity lease\'s state does not allow this (cancel while it is suspending or resuming, or once it ended); details.state and details.allowed say why' },
  LEASE_REJECTED: { status: 409, raisedBy: 'LeaseRejectedError', meaning: 'the lease cannot be admitted (an advance reservation whose capacity cannot be guaranteed, an immediate lease with no room now, a policy refusal); details.reason says why; nothing was written' },
  CAPACITY: { status: 409, raisedBy: 'CapacityError', meaning: 'the host has no room for the VM (or takes no VMs); nothing was reserved' },
  DISK_CAPACITY: { status: 409, raisedBy: 'DiskCapacityError', meaning: 'a disk or volume does not fit in the free disk of its host (details.field names the request field)' },
  DRS_BUSY: { status: 409, raisedBy: 'DrsBusyError', meaning: 'a DRS plan is being applied already (details.planId); one plan runs at a time' },
  QUOTA_EXCEEDED: { status: 409, raisedBy: 'QuotaExceededError', meaning: 'the request would take its user or one of their groups past a quota limit; details name the subject, resource, limit, use and request; nothing was written' },
  EXHAUSTED: { status: 409, raisedBy: 'ExhaustedError', meaning: 'a pool (a network\'s address range) has nothing left' },
  MIGRATION_REFUSED: { status: 409, raisedBy: 'MigrationRefusedError', meaning: 'a migration pre-check said no (details.check, details.field); nothing changed' },
  MIGRATION_ABORTED: { status: 409, raisedBy: 'MigrationAbortedError', echoedBy: 'WaitFailedError', meaning: 'the migration ended before its commit and was undone: the VM runs where it ran' },
  MIGRATION_NOT_CANCELLABLE: { status: 409, raisedBy: 'MigrationNotCancellableError', meaning: 'a cancel after the commit, or of a migration that already ended' },
  TEMPLATE_HAS_NO_DISK: { status: 409, raisedBy: 'TemplateHasNoDiskError', meaning: 'the template has no disk, so there is nothing to export' },
  VM_EXISTS: { status: 409, raisedBy: 'VmExistsError', meaning: 'the hypervisor already holds a VM with this id' },
  VM_INVALID_STATE: { status: 409, raisedBy: 'VmStateError', meaning: 'the hypervisor\'s VM is not in a state that allows the operation' },
  // 5xx: a failure on the way, or on the far side.
  LEASE_STEP_FAILED: { status: 500, raisedBy: 'LeaseStepError', meaning: 'a step of a capacity lease found one of its VMs failed or gone; the lease is failed with this as its reason (seen in the lease, not as an answer)' },
  INTERNAL: { status: 500, raisedBy: 'wire', meaning: 'an error nubo did not expect; its details are in the server log only' },
  INVARIANT_BROKEN: { status: 500, raisedBy: 'InvariantError', meaning: 'a condition the code relies on did not hold (a bug, or a record changed underneath)' },
  FAILPOINT_HIT: { status: 500, raisedBy: 'FailpointError', meaning: 'a test armed a failpoint with `error` and the daemon reached it' },
  MIGRATION_LOST: { status: 500, raisedBy: 'MigrationLostError', meaning: 'no copy of the VM is left that nubo can run: an operator must look' },
  MIGRATION_STEP_FAILED: { status: 500, raisedBy: 'MigrationStepError', meaning: 'an end of a migration answered, but not as the protocol needs (a destination not paused, a copy that failed)' },
  AGENT_REPORT_UNEXPECTED: { status: 502, raisedBy: 'AgentReportError', meaning: 'the agent carried out a step, and the VM is not in the state the step leads to' },
  SYSTEM_STORE_COPY_FAILED: { status: 500, raisedBy: 'SystemStoreCopyError', meaning: 'a stopped VM\'s files did not arrive whole between its host and the system store' },
  CAPTURE_FAILED: { status: 500, raisedBy: 'CaptureError', meaning: 'a VM\'s disk could not be captured as a standalone image' },
  UNSUPPORTED: { status: 501, raisedBy: 'UnsupportedError', meaning: 'this host or controller cannot do this at all (a feature or collaborator it lacks)' },
  IMAGE_FETCH_FAILED: { status: 502, raisedBy: 'ImageFetchError', meaning: 'the agent could not fetch a base image (or it failed its checksum)' },
  HYPERVISOR_FAILED: { status: 502, raisedBy: 'HypervisorError', meaning: 'QEMU or qemu-img failed an operation on the VM' },
  AGENT_UNREACHABLE: { status: 502, raisedBy: 'UnreachableError', meaning: 'a nubo server could not be reached or did not answer in time' },
  CLOUD_UNREACHABLE: { status: 502, raisedBy: 'CloudUnreachableError', meaning: 'a remote cloud\'s EC2 endpoint (bursting) could not be reached, timed out or answered 5xx; the step is retried (a launch with the same ClientToken)' },
  CLOUD_REFUSED: { status: 502, raisedBy: 'CloudRefusedError', meaning: 'a remote cloud\'s EC2 endpoint refused a request (details.awsCode; details.capacity when for want of room, e.g. InsufficientInstanceCapacity)' },
  NOT_LEADER: { status: 503, raisedBy: 'NotLeaderError', meaning: 'this controller does not hold the leadership lease (several controllers on PostgreSQL) and no leader is known to forward to; details.leaderUrl names the leader when one is known' },
  TIMEOUT: { status: 504, raisedBy: 'TimeoutError', meaning: 'a wait ran past its deadline (details.operation, details.timeoutMs)' },
  TRANSFER_FAILED: { status: 500, raisedBy: 'FileTransferError', meaning: 'a peer file transfer between hosts failed (refused, cut, or a digest mismatch)' },
  TRANSFER_SHORT_SEND: { status: 500, raisedBy: 'ShortSendError', meaning: 'an offered file ended before its recorded size; the sender withheld the digest, so the copy is refused' },
  MIGRATION_UNSUPPORTED: { status: 500, raisedBy: 'AgentMigrationError', meaning: 'the agent cannot take part in this migration' },
  CONSOLE_UNAVAILABLE: { status: 500, raisedBy: 'ConsoleUnavailableError', meaning: 'the VM has no serial console to attach to' },
  AGENT_VM_CONFLICT: { status: 409, raisedBy: 'AgentConflictError', meaning: 'the agent refuses the change in the VM\'s present state; details.reason says which rule (busy, exists, wrong-state, in-migration, being-copied, spec-mismatch, foreign-files, has-volumes, has-snapshots, taken, in-use, limit, not-under-way, cancelled)' },
  SNAPSHOT_EXISTS: { status: 409, raisedBy: 'DiskSnapshotExistsError', meaning: 'the VM\'s disk has a snapshot of that name already' },
  SNAPSHOT_NOT_FOUND: { status: 404, raisedBy: 'DiskSnapshotNotFoundError', meaning: 'the VM\'s disk has no snapshot of that name' },
  SNAPSHOT_NOT_LISTED: { status: 500, raisedBy: 'SnapshotNotListedError', meaning: 'a snapshot just taken is missing from the disk\'s list' },
  DISK_MOVE_CANCELLED: { status: 409, raisedBy: 'DiskMoveCancelledError', meaning: 'a live disk move was cancelled or superseded before it completed' },
  COLD_RECEIVE_FAILED: { status: 500, raisedBy: 'ReceiveError', meaning: 'a cold migration\'s destination could not receive the VM\'s files' },
  QEMU_PID_FILE_MISSING: { status: 502, raisedBy: 'QemuPidFileMissingError', meaning: 'QEMU daemonized without a usable pid file (reported as the cause of HYPERVISOR_FAILED)' },
  QEMU_BLOCK_JOB_VANISHED: { status: 502, raisedBy: 'BlockJobVanishedError', meaning: 'a block job disappeared before reporting how it ended (cause of HYPERVISOR_FAILED)' },
  QEMU_BLOCK_JOB_FAILED: { status: 502, raisedBy: 'BlockJobFailedError', meaning: 'a block job (backup, mirror) ended in error (cause of HYPERVISOR_FAILED)' },
  QEMU_BLOCK_NODE_MISSING: { status: 502, raisedBy: 'BlockNodeMissingError', meaning: 'QEMU has no block node for the disk (cause of HYPERVISOR_FAILED)' },
  QEMU_REPORT_MISSING: { status: 502, raisedBy: 'QemuReportMissingError', meaning: 'QEMU did not report what was asked of it (cause of HYPERVISOR_FAILED)' },
  QEMU_FD_SEND_FAILED: { status: 502, raisedBy: 'FdSendFailedError', meaning: 'handing QEMU a file descriptor over its fd-passing monitor failed (a save then falls back to its exec: writer)' },
  QEMU_STATE_SAVE_FAILED: { status: 502, raisedBy: 'StateSaveFailedError', meaning: 'saving the VM\'s memory state failed (cause of HYPERVISOR_FAILED)' },
  QEMU_STATE_RESTORE_FAILED: { status: 502, raisedBy: 'StateRestoreFailedError', meaning: 'reading the VM\'s saved memory state back failed (cause of HYPERVISOR_FAILED)' },
  QMP_ERROR: { status: 500, raisedBy: 'QmpError', meaning: 'QEMU refused a QMP command' },
  QMP_DISCONNECTED: { status: 500, raisedBy: 'QmpDisconnectedError', meaning: 'the QMP socket closed (QEMU exited)' },
  QMP_PROTOCOL: { status: 500, raisedBy: 'QmpProtocolError', meaning: 'QEMU answered something that is not QMP' },
  MIGRATION_TLS_INVALID: { status: 500, raisedBy: 'MigrationTlsError', meaning: 'the migration TLS material is missing or unusable' },
  COMMAND_FAILED: { status: 500, raisedBy: 'CommandError', meaning: 'an external program (qemu-img, ip, genisoimage …) failed or could not be run' },
  FILE_UNREADABLE: { status: 500, raisedBy: 'UnreadableFileError', meaning: 'a file nubo wrote and needs exists but cannot be used' },
  LOCAL_FILE: { status: 500, raisedBy: 'LocalFileError', meaning: 'a file the user named cannot be read or written' },
  INVALID_DISK_IMAGE: { status: 500, raisedBy: 'DiskImageError', meaning: 'a disk image is not what it claims (format, size, backing file)' },
  INVALID_OVF: { status: 500, raisedBy: 'OvfError', meaning: 'an OVF descriptor or OVA package is malformed or inconsistent' },
  IMAGE_BUILD_FAILED: { status: 500, raisedBy: 'ImageBuildError', meaning: 'building a guest image (nubo-tiny, Debian) failed' },
  STORE_MIGRATION_FAILED: { status: 500, raisedBy: 'StoreMigrationError', meaning: 'the store\'s schema could not be brought up to date; it was not opened' },
  PLACEMENT_FAILED: { status: 500, raisedBy: 'PlacementError', meaning: 'a placement policy or requirements expression cannot be used' },
  NETWORK_PLUMBING_FAILED: { status: 500, raisedBy: 'NetworkPlumbingError', meaning: 'a bridge, TAP or VLAN segment cannot be set up as asked' },
  DEFAULT_BRIDGE_CONFLICT: { status: 500, raisedBy: 'DefaultBridgeError', meaning: 'nubo up\'s host address sits on another link than its bridge' },
  LAB_FAILED: { status: 500, raisedBy: 'LabError', meaning: 'the lab (namespaces, fabric, its daemons) cannot be brought up or down as asked' },
  EC2_API_ERROR: { status: 400, raisedBy: 'Ec2ApiError', meaning: 'the EC2 Query API (port 7490) refused a request; details.awsCode is the AWS error code sent in the XML body (InvalidParameterValue, InvalidInstanceID.NotFound, …) and details.status its HTTP status' },
  // The CLI's own, never sent by a server (the status is what they would be).
  NO_CREDENTIALS: { status: 400, raisedBy: 'UsageError', meaning: 'no controller URL or token configured (nubo up writes them)' },
  BAD_CREDENTIALS: { status: 400, raisedBy: 'UsageError', meaning: 'no credentials configured, or a credentials file that cannot be used' },
  BAD_FLAG: { status: 400, raisedBy: 'UsageError', meaning: 'a command-line flag has a value the command cannot use' },
  BAD_FLAGS: { status: 400, raisedBy: 'UsageError', meaning: 'flags that cannot be given together' },
  BAD_INPUT_FILE: { status: 400, raisedBy: 'UsageError', meaning: 'an input file named on the command line cannot be read or parsed' },
  BAD_OUTPUT_FILE: { status: 400, raisedBy: 'UsageError', meaning: 'an output file named on the command line cannot be written' },
  INVALID_ARGUMENT: { status: 400, raisedBy: 'UsageError', meaning: 'a positional argument is not what the command takes' },
  NOTHING_TO_UPDATE: { status: 400, raisedBy: 'UsageError', meaning: 'an update command was given nothing to change' },
  NO_LAB: { status: 400, raisedBy: 'UsageError', meaning: 'the command needs a lab, and none is up' },
  NO_SSH_KEY: { status: 400, raisedBy: 'UsageError', meaning: 'no SSH public key to give the VM' },
  NO_SUCH_SSH_KEY: { status: 400, raisedBy: 'UsageError', meaning: 'the SSH key file named does not exist' },
  AMBIGUOUS_MIGRATION_ID: { status: 400, raisedBy: 'UsageError', meaning: 'a migration id prefix fits several migrations; give more of it' },
  MIGRATION_FAILED: { status: 500, raisedBy: 'WaitFailedError', meaning: '--wait saw the migration fail after its commit or in an unknown place; the VM\'s record says where it is' },
  VM_FAILED: { status: 500, raisedBy: 'WaitFailedError', meaning: '--wait saw the VM go failed' },
  WAIT_FAILED: { status: 500, raisedBy: 'WaitFailedError', meaning: '--wait saw the VM settle in a state other than the one waited for' },
  MAINTENANCE_INCOMPLETE: { status: 500, raisedBy: 'WaitFailedError', meaning: 'nubo host maintenance --wait: some VMs could not move, so the host is not in maintenance (the message names them and why)' },
  VM_SSH_UNAVAILABLE: { status: 500, raisedBy: 'VmSshError', meaning: 'nubo vm ssh cannot reach the VM (no address, no ssh client)' },
  // The AWS-compatible listeners (EC2, S3): sent on their wire with the AWS code in details, never on the native API.
  AWS_AUTH_FAILED: { status: 403, raisedBy: 'AwsAuthError', meaning: 'an EC2/S3 request\'s SigV4 signature did not verify (details.reason: missing, malformed, unknown-key, wrong-scope, skewed, expired, signature); nothing was done' },
  AWS_PAYLOAD_INVALID: { status: 400, raisedBy: 'AwsPayloadError', meaning: 'an EC2/S3 request\'s body is not what was signed or declared (sha256, chunk signature, checksum trailer, length; details.awsCode); nothing was kept' },
  OCCI_REQUEST_FAILED: { status: 400, raisedBy: 'OcciError', meaning: 'the OCCI 1.2 interface (/occi/1.2/) refused a request with its own HTTP status (details.status: 400 malformed rendering, unknown kind or mixin, bad attribute (details.attribute); 404 no such entity or location; 405 method; 406 no rendering the client accepts; 415 a body in an unknown rendering); nothing was written' },
  S3_REQUEST_FAILED: { status: 400, raisedBy: 'S3Error', meaning: 'the S3 listener refused a request with one of S3\'s own codes (details.s3Code: NoSuchKey, AccessDenied, InvalidRange …) and its HTTP status' },
} as const satisfies Readonly<Record<string, ErrorCodeEntry>>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes one class may carry, for classes (UsageError, WaitFailedError) that take theirs as an argument. */
export type ErrorCodeOf<Class extends string> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C] extends { readonly raisedBy: Class } | { readonly echoedBy: Class } ? C : never;
}[ErrorCode];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
