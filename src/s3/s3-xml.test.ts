import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { s3Xml, xmlSafe } from './s3-xml.js';

test('xmlSafe: an error echoing a path with NUL and other controls is still a well-formed document', () => {
  const doc = s3Xml('Error', { Code: 'InvalidArgument', Resource: xmlSafe('/b/nul\u0000key\u0001\u001f') }, false);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(doc, /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/, 'only characters XML 1.0 allows');
  const parsed = new XMLParser().parse(doc) as { Error: { Resource: string } };
  assert.equal(parsed.Error.Resource, '/b/nul%00key%01%1F');
});

test('xmlSafe: ordinary text, tabs, newlines and astral characters are left as they are; lone surrogates and U+FFFE are encoded', () => {
  assert.equal(xmlSafe('../a b/ünï\t\n\r😀'), '../a b/ünï\t\n\r😀');
  assert.equal(xmlSafe('x\uFFFEy'), 'x%EF%BF%BEy');
  assert.equal(xmlSafe('x\uD800y'), 'x%EF%BF%BDy');
  assert.equal(XMLValidator.validate(s3Xml('E', { R: xmlSafe('\uDC00\uFFFF') })), true);
});
