import { NuboError } from '../errors/nubo-error.js';

/**
 * A refusal of the EC2 Query API in AWS's own terms: `awsCode` is what the XML
 * error body carries (clients and SDKs match on it, e.g.
 * `InvalidInstanceID.NotFound`), `status` the HTTP status AWS sends with it.
 */
export class Ec2ApiError extends NuboError {
  readonly code = 'EC2_API_ERROR';
  constructor(readonly awsCode: string, message: string, readonly status = 400) {
    super(message, { awsCode, status });
  }
}

export const missingParameter = (name: string): Ec2ApiError => new Ec2ApiError('MissingParameter', `The request must contain the parameter ${name}`);
export const invalidParameterValue = (name: string, why: string): Ec2ApiError => new Ec2ApiError('InvalidParameterValue', `Invalid value for parameter ${name}: ${why}`);
