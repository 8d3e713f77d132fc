import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AwsAuthError } from '../aws/sigv4/aws-auth-error.js';
import { AwsPayloadError } from '../aws/sigv4/aws-payload-error.js';
import { parseQuery, uriDecode } from '../aws/sigv4/canonical-request.js';
import { verifySigV4, type SigV4Options } from '../aws/sigv4/verify-sigv4.js';
import { errorMessage } from '../errors/nubo-error.js';
import { IMAGE_BUCKET } from '../store/migrations/0017-system-image-bucket.js';
import { bucketLocation, createBucket, deleteBucket, headBucket, listBuckets, listObjects } from './s3-bucket-ops.js';
import type { S3Call, S3Context } from './s3-call.js';
import { S3Error } from './s3-error.js';
import { abortUpload, completeUpload, createUpload, listParts, listUploads, uploadPart } from './s3-multipart-ops.js';
import { copyObject, deleteObject, deleteObjects, getObject, putObject } from './s3-object-ops.js';
import { s3Xml, xmlSafe } from './s3-xml.js';

export interface S3ServerOptions {
  readonly region: string;
  /** Virtual-host style: a Host of `BUCKET.DOMAIN[:port]` names the bucket. */
  readonly domain: string;
  readonly lookupSecret: SigV4Options['lookupSecret'];
}

/** Sub-resources S3 has and nubo does not serve: answered NotImplemented rather than misread as a plain object or bucket request. */
const UNSUPPORTED = ['acl', 'policy', 'tagging', 'cors', 'lifecycle', 'website', 'versioning', 'replication', 'encryption', 'notification', 'logging', 'object-lock', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes', 'accelerate', 'analytics', 'inventory', 'metrics', 'ownershipControls', 'publicAccessBlock', 'requestPayment'];

/** Bucket and key of a request: virtual-host style when the Host is BUCKET.DOMAIN, else path style. */
function addressOf(req: IncomingMessage, path: string, domain: string): { bucket: string | undefined; key: string | undefined } {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (host.endsWith(`.${domain}`)) {
    const key = path.slice(1);
    return { bucket: host.slice(0, -domain.length - 1), key: key === '' ? undefined : key };
  }
  const rest = path.slice(1);
  const slash = rest.indexOf('/');
  if (rest === '') return { bucket: undefined, key: undefined };
  if (slash < 0) return { bucket: rest, key: undefined };
  const key = rest.slice(slash + 1);
  return { bucket: rest.slice(0, slash), key: key === '' ? undefined : key };
}

async function route(ctx: S3Context, call: S3Call): Promise<void> {
  const { method, bucket, key, query: q, req } = call;
  const unsupported = UNSUPPORTED.find((s) => q.has(s));
  if (unsupported !== undefined) throw new S3Error(501, 'NotImplemented', `nubo's S3 does not implement the ?${unsupported} sub-resource.`);
  if (bucket === undefined) {
    if (method === 'GET') return listBuckets(ctx, call);
  } else if (key === undefined) {
    switch (method) {
      case 'GET':
        if (q.has('location')) return bucketLocation(ctx, call);
        if (q.has('uploads')) return listUploads(ctx, call);
        if (q.has('versions')) return listObjects(ctx, call, 'versions');
        return listObjects(ctx, call, q.get('list-type') === '2' ? 'v2' : 'v1');
      case 'PUT': return createBucket(ctx, call, req);
      case 'DELETE': return deleteBucket(ctx, call);
      case 'HEAD': return headBucket(ctx, call);
      case 'POST': if (q.has('delete')) return deleteObjects(ctx, call, req);
    }
  } else {
    switch (method) {
      case 'GET': return q.has('uploadId') ? listParts(ctx, call) : getObject(ctx, call, false);
      case 'HEAD': return getObject(ctx, call, true);
      case 'PUT':
        if (q.has('uploadId') || q.has('partNumber')) return uploadPart(ctx, call, req);
        return req.headers['x-amz-copy-source'] !== undefined ? copyObject(ctx, call, req) : putObject(ctx, call, req);
      case 'DELETE': return q.has('uploadId') ? abortUpload(ctx, call) : deleteObject(ctx, call);
      case 'POST':
        if (q.has('uploads')) return createUpload(ctx, call);
        if (q.has('uploadId')) return completeUpload(ctx, call, req);
    }
  }
  throw new S3Error(405, 'MethodNotAllowed', `The specified method (${method}) is not allowed against this resource.`);
}

/** The S3 answer for a failure: S3's XML error (none for HEAD), with the request id. */
function refusal(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof S3Error) return { status: err.status, code: err.s3Code, message: err.message };
  if (err instanceof AwsAuthError) {
    const code = err.awsCode('s3');
    return { status: code === 'AuthorizationHeaderMalformed' ? 400 : 403, code, message: err.message };
  }
  if (err instanceof AwsPayloadError) return { status: 400, code: err.awsCode === 'SignatureDoesNotMatch' ? 'SignatureDoesNotMatch' : err.awsCode, message: err.message };
  return { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
}

/**
 * The S3-compatible listener: every request's SigV4 is verified before any
 * handler runs (nothing is done for one that fails), then routed by method,
 * bucket, key and sub-resource. Node's own HTTP server rather than the
 * native API's Fastify: S3 bodies are raw streams of any size (no parser may
 * buffer them) and the signature covers the URL exactly as sent.
 */
export function createS3Server(ctx: S3Context, o: S3ServerOptions): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', requestId);
    res.setHeader('server', 'nubo');
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    let resource = '/';
    try {
      const path = uriDecode(qi < 0 ? url : url.slice(0, qi));
      const pairs = parseQuery(qi < 0 ? '' : url.slice(qi + 1));
      if (path === undefined || pairs === undefined) throw new S3Error(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
      resource = path;
      const { bucket, key } = addressOf(req, path, o.domain);
      const v = await verifySigV4({ method: req.method ?? 'GET', url, headers: req.headers }, { region: o.region, service: 's3', lookupSecret: o.lookupSecret, now: new Date() });
      await route(ctx, { req, res, method: req.method ?? 'GET', bucket, key, query: new Map(pairs), userId: v.userId, payload: v.payload, requestId, signal: gone.signal });
      // A host fetching an image's bytes (the presigned GET the image data route hands out): rare, and what an operator looks for when a prolog is slow.
      if (bucket === IMAGE_BUCKET && req.method === 'GET') ctx.logger.info({ key, status: res.statusCode, range: req.headers.range, requestId }, 'image object read');
    } catch (err) {
      const r = refusal(err);
      if (r.status === 500) ctx.logger.error({ err: errorMessage(err), method: req.method, url, requestId }, 's3 request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = req.method === 'HEAD' ? undefined : Buffer.from(s3Xml('Error', { Code: r.code, Message: r.message, Resource: xmlSafe(resource), RequestId: requestId }, false));
      // A body not read is not read at all: the connection closes instead of draining gigabytes.
      res.writeHead(r.status, { 'content-type': 'application/xml', 'content-length': body?.length ?? 0, ...(req.readableEnded ? {} : { connection: 'close' }) });
      res.end(body);
    }
  };
  const server = createServer({ requestTimeout: 0 }, (req, res) => void handle(req, res));
  return server;
}
