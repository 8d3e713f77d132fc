import { NuboError } from '../errors/nubo-error.js';

/** An S3 request refused with one of S3's own codes (NoSuchKey, AccessDenied, …) and its HTTP status; sent as S3's XML error. */
export class S3Error extends NuboError {
  readonly code = 'S3_REQUEST_FAILED';

  constructor(readonly status: number, readonly s3Code: string, message: string, details: Record<string, unknown> = {}) {
    super(message, { s3Code, ...details });
  }
}

export const noSuchBucket = (bucket: string): S3Error => new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { bucketName: bucket });
export const noSuchKey = (key: string): S3Error => new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { key });
export const noSuchUpload = (id: string): S3Error => new S3Error(404, 'NoSuchUpload', 'The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.', { uploadId: id });
export const invalidArgument = (message: string, name: string, value?: string): S3Error =>
  new S3Error(400, 'InvalidArgument', message, { argumentName: name, ...(value !== undefined ? { argumentValue: value } : {}) });
