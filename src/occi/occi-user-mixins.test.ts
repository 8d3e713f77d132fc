import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OcciError } from './occi-error.js';
import { ACTIONS, KINDS, STATIC_MIXINS } from './occi-model.js';
import { definitionsOfLines, linesOfBody, locationsOfLines, parseUriList } from './occi-text.js';
import { parseLocationsJson, parseMixinDefinitionsJson } from './occi-json.js';
import { planMixinDefinition, planMixinRemoval, planTagging, userMixin } from './occi-user-mixins.js';

const B = '/occi/1.2';
const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';
const MODEL = { kinds: KINDS, mixins: STATIC_MIXINS, actions: ACTIONS };
const MY = 'http://example.com/occi/my_stuff#';

function refuses(status: number, f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof OcciError && e.status === status && message.test(e.message), `expected ${status} ${String(message)}`);
}
const text = (body: string) => definitionsOfLines(linesOfBody(body));

test('the specification\'s mixin definition (text/plain and JSON) is a user mixin at its own location', () => {
  const plain = planMixinDefinition(text(`Category: my_stuff; scheme="${MY}"; class="mixin"; location="/my_stuff/"; title="My Stuff"\n`), MODEL, B);
  assert.deepEqual(plain, { scheme: MY, term: 'my_stuff', title: 'My Stuff', location: '/my_stuff/', applies: [] });
  // A location under the OCCI root or as a full URL is the same path; rel names the kinds it applies to.
  const json = planMixinDefinition(parseMixinDefinitionsJson(JSON.stringify({ mixins: [{ term: 'web', scheme: MY, location: `http://cloud.example${B}/tags/web/`, applies: [`${INFRA}compute`] }] })), MODEL, B);
  assert.deepEqual(json, { scheme: MY, term: 'web', title: 'web', location: '/tags/web/', applies: [`${INFRA}compute`] });
  assert.deepEqual(userMixin(json), { class: 'mixin', term: 'web', scheme: MY, title: 'web', depends: [], applies: [`${INFRA}compute`], location: '/tags/web/', actions: [], attributes: [] });
});

test('a definition is refused naming why: not a mixin, a reserved scheme, a category or location that exists, no location, attributes', () => {
  refuses(400, () => planMixinDefinition(text(`Category: thing; scheme="${MY}"; class="kind"; location="/thing/"\n`), MODEL, B), /only mixins can be defined by a client/);
  refuses(400, () => planMixinDefinition(text(`Category: mine; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="mixin"; location="/mine/"\n`), MODEL, B), /scheme .* is reserved/);
  refuses(400, () => planMixinDefinition(text(`Category: tiny; scheme="http://schemas.nubo.dev/occi/os_tpl#"; class="mixin"; location="/tiny/"\n`), MODEL, B), /is reserved/);
  refuses(400, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"\n`), MODEL, B), /a location is required/);
  refuses(400, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"; location="my_stuff"\n`), MODEL, B), /must be a path of 1-3 segments/);
  refuses(400, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"; location="/a/"; attributes="com.example.colour"\n`), MODEL, B), /they define no attributes or actions/);
  refuses(400, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"; location="/a/"; rel="${INFRA}storagelink"\n`), MODEL, B), /may name only the kinds it applies to/);
  refuses(409, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"; location="/compute/mine/"\n`), MODEL, B), /location \/compute\/mine\/ is under \/compute\//);
  refuses(409, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"; location="${B}/mixin/x/"\n`), MODEL, B), /is under \/mixin\//);
  const mine = { ...MODEL, mixins: [...MODEL.mixins, userMixin({ scheme: MY, term: 'a', title: 'a', location: '/a/', applies: [] })] };
  refuses(409, () => planMixinDefinition(text(`Category: a; scheme="${MY}"; class="mixin"; location="/b/"\n`), mine, B), /category http:\/\/example\.com\/occi\/my_stuff#a is already defined/);
  refuses(409, () => planMixinDefinition(text(`Category: b; scheme="${MY}"; class="mixin"; location="/a/"\n`), mine, B), /location \/a\/ is http:\/\/example\.com\/occi\/my_stuff#a's/);
  refuses(400, () => planMixinDefinition([], MODEL, B), /define one mixin a request, 0 given/);
  refuses(400, () => parseMixinDefinitionsJson(JSON.stringify({ kinds: [{ term: 'k' }], mixins: [] })), /only mixins can be defined/);
  refuses(400, () => parseMixinDefinitionsJson(JSON.stringify({ mixins: [{ term: 'Bad', scheme: MY, location: '/x/' }] })), /"Bad" is not a valid term/);
  refuses(400, () => definitionsOfLines(linesOfBody('X-OCCI-Attribute: a="b"\n')), /made of Category lines only/);
});

test('a removal names one of the caller\'s mixins: nubo\'s are 403, unknown ones 404', () => {
  const a = { scheme: MY, term: 'a', title: 'a', location: '/a/', applies: [] };
  assert.equal(planMixinRemoval(text(`Category: a; scheme="${MY}"; class="mixin"\n`), [a], MODEL), a);
  refuses(403, () => planMixinRemoval(text(`Category: compute; scheme="${INFRA}"; class="kind"\n`), [a], MODEL), /is nubo's: only your own mixins can be removed/);
  refuses(404, () => planMixinRemoval(text(`Category: b; scheme="${MY}"; class="mixin"\n`), [a], MODEL), /no mixin http:\/\/example\.com\/occi\/my_stuff#b of yours/);
});

test('a tagging request lists resources by location (X-OCCI-Location, text/uri-list, JSON), each once; links and elsewhere are refused', () => {
  assert.deepEqual(planTagging(locationsOfLines(linesOfBody(`X-OCCI-Location: http://c.example${B}/compute/c1\nX-OCCI-Location: ${B}/storage/s1\nX-OCCI-Location: ${B}/compute/c1\n`)), B), [
    { collection: 'compute', id: 'c1' }, { collection: 'storage', id: 's1' },
  ]);
  assert.deepEqual(parseUriList(`# my computes\r\nhttp://c.example${B}/compute/c1\r\n\r\n${B}/network/n1\r\n`), [`http://c.example${B}/compute/c1`, `${B}/network/n1`]);
  assert.deepEqual(parseLocationsJson(JSON.stringify({ locations: [`${B}/compute/c1`] })), [`${B}/compute/c1`]);
  refuses(400, () => planTagging([`${B}/link/storagelink/v1`], B), /is not a compute, storage or network location .*: mixins tag resources/);
  refuses(400, () => planTagging(['/compute/c1'], B), /"\/compute\/c1" is not a compute, storage or network location/);
  refuses(400, () => locationsOfLines(linesOfBody(`Category: a; scheme="${MY}"\n`)), /as X-OCCI-Location lines/);
  refuses(400, () => parseLocationsJson('{}'), /locations is required/);
  refuses(400, () => parseLocationsJson(JSON.stringify({ locations: [1] })), /locations\.locations must be an array of strings/);
});
