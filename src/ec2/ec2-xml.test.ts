import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DOMParser } from '@xmldom/xmldom';
import { EC2_NAMESPACE, ec2ErrorXml, ec2ResponseXml } from './ec2-xml.js';

describe('EC2 XML', () => {
  it('wraps a body in <ActionResponse> in the 2016-11-15 namespace with the request id first; lists as <item>, nulls left out', () => {
    const xml = ec2ResponseXml('DescribeKeyPairs', 'req-1', { keySet: [{ keyName: 'a & <b>', keyFingerprint: 'f' }, { keyName: 'c', n: 3, t: true }], nothing: null, gone: undefined });
    assert.equal(xml,
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<DescribeKeyPairsResponse xmlns="${EC2_NAMESPACE}"><requestId>req-1</requestId><keySet><item><keyName>a &amp; &lt;b&gt;</keyName><keyFingerprint>f</keyFingerprint></item>` +
      '<item><keyName>c</keyName><n>3</n><t>true</t></item></keySet></DescribeKeyPairsResponse>');
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    assert.equal(doc.getElementsByTagName('keyName')[0]?.textContent, 'a & <b>');
  });

  it('an empty list is an empty element (clients read it as [])', () => {
    assert.match(ec2ResponseXml('DescribeInstances', 'r', { reservationSet: [] }), /<reservationSet\/>/);
  });

  it('errors in the <Response><Errors> shape with RequestID', () => {
    assert.equal(ec2ErrorXml('InvalidAction', 'no <such> action', 'r-2'),
      '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidAction</Code><Message>no &lt;such&gt; action</Message></Error></Errors><RequestID>r-2</RequestID></Response>');
  });
});
