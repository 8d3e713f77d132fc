import { z } from 'zod';
import { drsAppliedView, drsConfigView, drsPlanView, type DrsAppliedView, type DrsConfigView, type DrsPlanView, type DrsPolicyBody } from '../contract/drs-schemas.js';
import { scalingGroupView, scalingHistoryView, type CreateScalingGroupBody, type ScalingGroupView, type SetScalingGroupBody } from '../contract/scaling-group-schemas.js';
import type { WaitOptions } from '../util/deadline.js';
import { jsonRequest } from './json-request.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const seg = encodeURIComponent;

/** Typed client of the native API's rebalancer (`/drs`) and autoscaling group (`/scaling-groups`) routes. */
export class ElasticityClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  #call<T>(method: Method, path: string, schema: z.ZodType<T> | undefined, body?: unknown, o: WaitOptions = {}): Promise<T> {
    return jsonRequest({ method, url: `${this.baseUrl}/api/v1${path}`, token: this.token, body, ...(schema ? { schema } : {}), signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  drsConfig(o?: WaitOptions): Promise<DrsConfigView> { return this.#call('GET', '/drs/config', drsConfigView, undefined, o); }
  setDrsConfig(body: { enabled?: boolean; intervalS?: number; policy?: DrsPolicyBody }, o?: WaitOptions): Promise<DrsConfigView> { return this.#call('PUT', '/drs/config', drsConfigView, body, o); }
  drsPlan(policy: DrsPolicyBody = {}, o?: WaitOptions): Promise<DrsPlanView> { return this.#call('POST', '/drs/plan', drsPlanView, { policy }, o); }
  drsApply(policy: DrsPolicyBody = {}, o?: WaitOptions): Promise<DrsAppliedView> { return this.#call('POST', '/drs/apply', drsAppliedView, { policy }, o); }
  drsPlans(o?: WaitOptions): Promise<DrsAppliedView[]> { return this.#call('GET', '/drs/plans', z.array(drsAppliedView), undefined, o); }
  drsApplied(id: string, o?: WaitOptions): Promise<DrsAppliedView> { return this.#call('GET', `/drs/plans/${seg(id)}`, drsAppliedView, undefined, o); }
  async drsWake(host: string, o?: WaitOptions): Promise<void> { await this.#call('POST', `/drs/wake/${seg(host)}`, undefined, undefined, o); }

  createScalingGroup(body: CreateScalingGroupBody, o?: WaitOptions): Promise<ScalingGroupView> { return this.#call('POST', '/scaling-groups', scalingGroupView, body, o); }
  listScalingGroups(o?: WaitOptions): Promise<ScalingGroupView[]> { return this.#call('GET', '/scaling-groups', z.array(scalingGroupView), undefined, o); }
  getScalingGroup(ref: string, o?: WaitOptions): Promise<ScalingGroupView> { return this.#call('GET', `/scaling-groups/${seg(ref)}`, scalingGroupView, undefined, o); }
  setScalingGroup(ref: string, body: SetScalingGroupBody, o?: WaitOptions): Promise<ScalingGroupView> { return this.#call('PATCH', `/scaling-groups/${seg(ref)}`, scalingGroupView, body, o); }
  async deleteScalingGroup(ref: string, o?: WaitOptions): Promise<void> { await this.#call('DELETE', `/scaling-groups/${seg(ref)}`, undefined, undefined, o); }
  pushScalingMetric(ref: string, value: number, o?: WaitOptions): Promise<ScalingGroupView> { return this.#call('POST', `/scaling-groups/${seg(ref)}/metric`, scalingGroupView, { value }, o); }
  scalingHistory(ref: string, o?: WaitOptions): Promise<z.infer<typeof scalingHistoryView>[]> { return this.#call('GET', `/scaling-groups/${seg(ref)}/history`, z.array(scalingHistoryView), undefined, o); }
}
