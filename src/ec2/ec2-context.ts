import { RemoteError } from '../client/remote-error.js';
import { Ec2ApiError } from './ec2-api-error.js';
import type { Ec2Params } from './ec2-params.js';
import type { Ec2Records } from './ec2-records.js';
import type { InstanceType } from './ec2-instance-types.js';
import type { NativeApi } from './native-api.js';
import type { XmlObject } from './ec2-xml.js';
import type { Failpoints } from '../util/failpoints.js';

export const EC2_REGION = 'nubo-1';
export const EC2_ZONE = 'nubo-1a';

/** What every action handler gets: the native API, the EC2 records, the instance types and the endpoint's own URL. */
export interface Ec2Context {
  readonly api: NativeApi;
  readonly records: Ec2Records;
  readonly instanceTypes: ReadonlyMap<string, InstanceType>;
  readonly endpoint: string;
  /** The controller's failpoints (tests): RunInstances' `ec2.run.claimed`, `ec2.run.created` and `ec2.run.recorded`. */
  readonly failpoints?: Failpoints | undefined;
}

/** One authenticated request. */
export interface Ec2Call {
  readonly userId: string;
  readonly accessKeyId: string;
  readonly params: Ec2Params;
  readonly requestId: string;
}

export type Ec2Handler = (ctx: Ec2Context, call: Ec2Call) => Promise<XmlObject>;

export interface NativeErrorMap {
  /** The AWS code for a native NOT_FOUND (`InvalidInstanceID.NotFound` …). */
  readonly notFound?: string;
  /** The AWS code for a native CONFLICT (a taken name). */
  readonly conflict?: string;
  /** The AWS code for a QUOTA_EXCEEDED. */
  readonly quota?: string;
  /** Native field names to the EC2 parameter they came from, for VALIDATION_FAILED. */
  readonly fields?: Readonly<Record<string, string>>;
}

/** A native API refusal in EC2's terms; anything else is rethrown as it is (a 500 InternalError at the edge). */
export function ec2ErrorOf(err: unknown, map: NativeErrorMap = {}): unknown {
  if (!(err instanceof RemoteError)) return err;
  switch (err.code) {
    case 'NOT_FOUND': return new Ec2ApiError(map.notFound ?? 'InvalidParameterValue', err.message);
    case 'INVALID_STATE': case 'STALE_STATE': return new Ec2ApiError('IncorrectInstanceState', err.message);
    // A host that cannot give the instance more room (a resize of a stopped instance): EC2's own answer when it lacks capacity.
    case 'CAPACITY': return new Ec2ApiError('InsufficientInstanceCapacity', err.message);
    case 'CONFLICT': return new Ec2ApiError(map.conflict ?? 'InvalidParameterValue', err.message);
    case 'QUOTA_EXCEEDED': return new Ec2ApiError(map.quota ?? 'InstanceLimitExceeded', err.message);
    case 'FORBIDDEN': return new Ec2ApiError('UnauthorizedOperation', err.message, 403);
    case 'VALIDATION_FAILED': {
      const issues = (err.details['issues'] as { field?: string; message?: string }[] | undefined) ?? [];
      const first = issues[0];
      const field = first?.field === undefined ? 'request' : (map.fields?.[first.field] ?? first.field);
      return new Ec2ApiError('InvalidParameterValue', `Invalid value for parameter ${field}: ${first?.message ?? err.message}`);
    }
    default: return err;
  }
}

/** Calls the native API, mapping its refusals. */
export async function nativeCall<T>(ctx: Ec2Context, call: Ec2Call, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body: unknown, map: NativeErrorMap = {}): Promise<T> {
  try {
    return await ctx.api.call<T>(call.userId, method, path, body);
  } catch (err) {
    throw ec2ErrorOf(err, map);
  }
}
