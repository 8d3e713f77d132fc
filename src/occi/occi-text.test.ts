import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OcciError } from './occi-error.js';
import {
  actionOfLines, entityOfLines, linesOfBody, linesOfHeaders, linesToBody, linesToHeaders, parseAttributeValue, parseCategory, parseLink, renderCategory, renderResource, renderUriList, splitOutsideQuotes,
} from './occi-text.js';
import { COMPUTE, STORAGE, ACTIONS } from './occi-model.js';
import type { ResourceInstance } from './occi-instance.js';

const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';

/** The refusal: an OcciError with this status whose message matches. */
function refuses(f: () => unknown, message: RegExp, status = 400): void {
  assert.throws(f, (e: unknown) => e instanceof OcciError && e.status === status && message.test(e.message));
}

test('a Category of the specification\'s examples parses to its scheme, term and class', () => {
  assert.deepEqual(parseCategory(`compute; scheme="${INFRA}"; class="kind"`), { term: 'compute', scheme: INFRA, class: 'kind' });
  assert.deepEqual(parseCategory(`my_stuff; scheme="http://example.com/occi/my_stuff#"; class="mixin"; location="/my_stuff/"; title="x; y"`), { term: 'my_stuff', scheme: 'http://example.com/occi/my_stuff#', class: 'mixin' });
  refuses(() => parseCategory('compute; class="kind"'), /a scheme ending in '#' is required/);
  refuses(() => parseCategory(`Compute!; scheme="${INFRA}"`), /"Compute!" is not a valid term/);
  refuses(() => parseCategory(`compute; scheme="${INFRA}"; class="thing"`), /class must be kind, mixin or action/);
  refuses(() => parseCategory(`compute; scheme="${INFRA}`), /unbalanced double quote/);
  refuses(() => parseCategory(`compute; scheme="${INFRA}"; junk`), /malformed parameter "junk"/);
});

test('attribute values: quoted strings (with escapes), numbers, booleans; anything else is refused naming the attribute', () => {
  assert.equal(parseAttributeValue('occi.compute.hostname', '"testserver"'), 'testserver');
  assert.equal(parseAttributeValue('a', '"say \\"hi\\" \\\\ there"'), 'say "hi" \\ there');
  assert.equal(parseAttributeValue('occi.compute.cores', '2'), 2);
  assert.equal(parseAttributeValue('occi.compute.speed', '2.66'), 2.66);
  assert.equal(parseAttributeValue('x', 'true'), true);
  refuses(() => parseAttributeValue('occi.core.title', 'bare words'), /attribute occi\.core\.title: "bare words" is neither a quoted string, a number nor true\/false/);
  refuses(() => entityOfLines([['x-occi-attribute', 'Occi.Bad=1']]), /"Occi\.Bad" is not a valid OCCI attribute name/);
  refuses(() => entityOfLines([['x-occi-attribute', 'occi.core.title']]), /expected name=value/);
  refuses(() => entityOfLines([['x-occi-attribute', 'occi.core.title="a"'], ['x-occi-attribute', 'occi.core.title="b"']]), /attribute occi\.core\.title given twice/);
});

test('a Link of the specification (a networkinterface inside a compute) parses to its target, rel, kind and attributes', () => {
  const l = parseLink(`</network/123>; rel="${INFRA}network"; self="/link/networkinterface/456"; category="${INFRA}networkinterface"; occi.networkinterface.interface="eth0"; occi.networkinterface.mac="00:11:22:33:44:55"`);
  assert.deepEqual(l, { target: '/network/123', rel: `${INFRA}network`, kind: `${INFRA}networkinterface`, attributes: { 'occi.networkinterface.interface': 'eth0', 'occi.networkinterface.mac': '00:11:22:33:44:55' } });
  refuses(() => parseLink('/network/123; rel="x"'), /expected <target> first/);
});

test('text/plain bodies and text/occi headers carry the same lines; several values in one header are split outside quotes', () => {
  const body = `Category: compute; scheme="${INFRA}"; class="kind"\r\nCategory: tiny; scheme="http://schemas.nubo.dev/occi/os_tpl#"; class="mixin"\n\nX-OCCI-Attribute: occi.core.title="a, b"\n`;
  const fromBody = entityOfLines(linesOfBody(body));
  const fromHeaders = entityOfLines(linesOfHeaders([
    'Category', `compute; scheme="${INFRA}"; class="kind", tiny; scheme="http://schemas.nubo.dev/occi/os_tpl#"; class="mixin"`,
    'Host', 'example.com', 'X-OCCI-Attribute', 'occi.core.title="a, b"',
  ]));
  assert.deepEqual(fromBody, fromHeaders);
  assert.deepEqual(fromBody.attributes, { 'occi.core.title': 'a, b' });
  assert.equal(fromBody.categories.length, 2);
  refuses(() => linesOfBody('Category compute\n'), /text\/plain line "Category compute": expected Category, Link, X-OCCI-Attribute or X-OCCI-Location/);
  refuses(() => linesOfBody('Content-Type: text/plain\n'), /expected Category, Link/);
  refuses(() => entityOfLines([['x-occi-location', 'http://example.com/compute/1']]), /X-OCCI-Location is not part of an entity's rendering/);
  assert.deepEqual(splitOutsideQuotes('a="x,y", b', ','), ['a="x,y"', ' b']);
});

test('an action invocation names one action category (the specification\'s stop with method=graceful)', () => {
  assert.deepEqual(actionOfLines(linesOfBody(`Category: stop; scheme="${INFRA.replace('#', '/compute/action#')}"; class="action"\nX-OCCI-Attribute: method="graceful"\n`)), {
    action: 'http://schemas.ogf.org/occi/infrastructure/compute/action#stop', attributes: { method: 'graceful' },
  });
  assert.deepEqual(actionOfLines([]), { action: undefined, attributes: {} });
  refuses(() => actionOfLines(linesOfBody(`Category: compute; scheme="${INFRA}"; class="kind"\n`)), /is a kind, not an action/);
});

test('a kind renders as the query interface lists it: rel, location, attribute properties ({required}, {immutable}) and actions', () => {
  const compute = renderCategory(COMPUTE, '/occi/1.2');
  assert.match(compute, /^compute; scheme="http:\/\/schemas\.ogf\.org\/occi\/infrastructure#"; class="kind"; title="[^"]+"; rel="http:\/\/schemas\.ogf\.org\/occi\/core#resource"; location="\/occi\/1\.2\/compute\/"; attributes="occi\.compute\.architecture\{immutable\} occi\.compute\.cores occi\.compute\.hostname\{immutable\} occi\.compute\.memory occi\.compute\.state\{immutable\} occi\.compute\.state\.message\{immutable\}"; actions="http:\/\/schemas\.ogf\.org\/occi\/infrastructure\/compute\/action#start /);
  assert.match(renderCategory(STORAGE, ''), /attributes="occi\.storage\.size\{required immutable\} /);
  const stop = renderCategory(ACTIONS.find((a) => a.term === 'stop')!, '/occi/1.2');
  assert.equal(stop, 'stop; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"; title="Stop the compute (graceful and acpioff: the guest shuts down; poweroff: at once)"; attributes="method"');
});

test('a resource renders with its kind, mixins, attributes (strings quoted, numbers bare), links and action links; as a body or as headers', () => {
  const r: ResourceInstance = {
    kind: `${INFRA}compute`, mixins: ['http://schemas.nubo.dev/occi/os_tpl#tiny'], id: 'c1', title: 'vm "one"', location: '/occi/1.2/compute/c1',
    attributes: { 'occi.core.id': 'c1', 'occi.core.title': 'vm "one"', 'occi.compute.memory': 0.125 },
    actions: ['http://schemas.ogf.org/occi/infrastructure/compute/action#stop'],
    links: [{
      kind: `${INFRA}storagelink`, mixins: [], id: 'v1', location: '/occi/1.2/link/storagelink/v1', source: { location: '/occi/1.2/compute/c1' },
      target: { location: '/occi/1.2/storage/v1', kind: `${INFRA}storage` }, attributes: { 'occi.storagelink.deviceid': 'vol0' },
    }],
  };
  const lines = renderResource(r);
  assert.equal(linesToBody(lines), [
    `Category: compute; scheme="${INFRA}"; class="kind"`,
    'Category: tiny; scheme="http://schemas.nubo.dev/occi/os_tpl#"; class="mixin"',
    'X-OCCI-Attribute: occi.core.id="c1"',
    'X-OCCI-Attribute: occi.core.title="vm \\"one\\""',
    'X-OCCI-Attribute: occi.compute.memory=0.125',
    `Link: </occi/1.2/storage/v1>; rel="${INFRA}storage"; self="/occi/1.2/link/storagelink/v1"; category="${INFRA}storagelink"; occi.storagelink.deviceid="vol0"`,
    'Link: </occi/1.2/compute/c1?action=stop>; rel="http://schemas.ogf.org/occi/infrastructure/compute/action#stop"',
    '',
  ].join('\n'));
  const headers = linesToHeaders(lines);
  assert.equal(headers['Category']?.length, 2);
  assert.equal(headers['X-OCCI-Attribute']?.length, 3);
  assert.equal(headers['Link']?.length, 2);
  // What is rendered parses back.
  const back = entityOfLines(linesOfBody(linesToBody(lines)));
  assert.deepEqual(back.attributes, r.attributes);
  assert.equal(back.links[0]?.target, '/occi/1.2/storage/v1');
});

test('text/uri-list (RFC 2483): one absolute location a line, CRLF after each; an empty collection is an empty body', () => {
  assert.equal(renderUriList(['http://cloud.example/occi/1.2/compute/a', 'http://cloud.example/occi/1.2/compute/b']), 'http://cloud.example/occi/1.2/compute/a\r\nhttp://cloud.example/occi/1.2/compute/b\r\n');
  assert.equal(renderUriList([]), '');
});

test('the storage and network kinds render their actions (the query interface), each action its own scheme', () => {
  assert.match(renderCategory(STORAGE, '/occi/1.2'), /; actions="http:\/\/schemas\.ogf\.org\/occi\/infrastructure\/storage\/action#online .*#resize"$/);
  const resize = renderCategory(ACTIONS.find((a) => a.term === 'resize')!, '/occi/1.2');
  assert.equal(resize, 'resize; scheme="http://schemas.ogf.org/occi/infrastructure/storage/action#"; class="action"; title="Resize the storage (not supported by nubo)"; attributes="size"');
});
