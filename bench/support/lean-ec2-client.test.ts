import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AwsAuthError } from '../../src/aws/sigv4/aws-auth-error.js';
import { verifySigV4 } from '../../src/aws/sigv4/verify-sigv4.js';
import { ec2ErrorXml, ec2ResponseXml, type XmlObject } from '../../src/ec2/ec2-xml.js';
import { LeanEc2Client, LeanEc2Error } from './lean-ec2-client.js';

const KEY = { accessKeyId: 'AKIALEANCLIENTTEST01', secretAccessKey: 'lean/Client+Secret/0123456789abcdefghijk' };
let server: Server;
let url = '';
/** The forms the server received, after their signature was verified. */
const seen: URLSearchParams[] = [];

/** nubo's SigV4 verification (the EC2 listener's) in front of canned EC2 answers. */
before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      const answer = async (): Promise<[number, string]> => {
        try {
          await verifySigV4({ method: req.method ?? '', url: req.url ?? '/', headers: req.headers, bodySha256: createHash('sha256').update(body).digest('hex') }, {
            region: 'nubo-1', service: 'ec2', now: new Date(), lookupSecret: async (id) => (id === KEY.accessKeyId ? { secret: KEY.secretAccessKey, userId: 'u1' } : undefined),
          });
        } catch (err) {
          if (err instanceof AwsAuthError) return [401, ec2ErrorXml(err.awsCode('ec2'), err.message, 'req-1')];
          throw err;
        }
        const form = new URLSearchParams(body);
        seen.push(form);
        const instance = (state: string): XmlObject => ({ instanceId: 'i-0123456789abcdef0', instanceState: { code: 16, name: state } });
        switch (form.get('Action')) {
          case 'RunInstances': return [200, ec2ResponseXml('RunInstances', 'req-1', { reservationId: 'r-1', instancesSet: [instance('pending')] })];
          case 'DescribeInstances': return [200, ec2ResponseXml('DescribeInstances', 'req-1', { reservationSet: form.get('InstanceId.1') === 'i-gone' ? [] : [{ reservationId: 'r-1', instancesSet: [instance('running')] }] })];
          default: return [400, ec2ErrorXml('InvalidAction', 'not here', 'req-1')];
        }
      };
      void answer().then(([status, xml]) => res.writeHead(status, { 'content-type': 'text/xml' }).end(xml), (err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('LeanEc2Client', () => {
  it('signs as nubo\'s SigV4 verification accepts and reads the instance and its state from the XML', async () => {
    const c = new LeanEc2Client(url, KEY);
    assert.equal(await c.runInstance({ ImageId: 'ami-0123456789abcdef0', InstanceType: 'nubo.tiny' }), 'i-0123456789abcdef0');
    const run = seen.at(-1);
    assert.deepEqual([run?.get('ImageId'), run?.get('MinCount'), run?.get('MaxCount'), run?.get('Version')], ['ami-0123456789abcdef0', '1', '1', '2016-11-15']);
    assert.equal(await c.instanceState('i-0123456789abcdef0'), 'running');
    assert.equal(await c.instanceState('i-gone'), undefined, 'an instance no longer listed');
  });

  it('turns EC2\'s error XML into an error with its code and status', async () => {
    await assert.rejects(new LeanEc2Client(url, { ...KEY, secretAccessKey: 'wrong' }).instanceState('i-0123456789abcdef0'), (err: unknown) => err instanceof LeanEc2Error && err.status === 401 && err.awsCode === 'AuthFailure');
    await assert.rejects(new LeanEc2Client(url, KEY).call('Nope', {}), (err: unknown) => err instanceof LeanEc2Error && err.status === 400 && err.awsCode === 'InvalidAction');
  });
});
