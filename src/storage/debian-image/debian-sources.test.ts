import { test } from 'node:test';
import assert from 'node:assert/strict';
import { debianSourcesFor, renderDeb822 } from './debian-sources.js';

test('debianSourcesFor keeps the host\'s sources for the release from deb822 and one-line files, and nothing else', () => {
  const sources = debianSourcesFor('bookworm', [
    {
      path: '/etc/apt/sources.list.d/debian.sources',
      text: [
        'Types: deb',
        '# a comment',
        'URIs: http://deb.debian.org/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb-src',
        'URIs: http://deb.debian.org/debian',
        'Suites: bookworm',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://deb.debian.org/debian',
        'Suites: trixie',
        'Components: main',
        '',
        'Types: deb',
        'Enabled: no',
        'URIs: http://mirror.example/debian',
        'Suites: bookworm',
        'Components: main',
      ].join('\n'),
    },
    {
      path: '/etc/apt/sources.list',
      text: [
        'deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://security.example/debian-security bookworm-security main contrib',
        '# deb http://commented.example/debian bookworm main',
        'deb https://vendor.example/apt cloud-sdk-bookworm main',
        'deb https://vendor.example/node nodistro main',
      ].join('\n'),
    },
  ]);
  assert.deepEqual(sources, [
    { uris: ['http://deb.debian.org/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
    { uris: ['http://security.example/debian-security'], suites: ['bookworm-security'], components: ['main', 'contrib'], signedBy: '/usr/share/keyrings/k.gpg' },
  ]);
  assert.equal(
    renderDeb822(sources),
    [
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://security.example/debian-security',
      'Suites: bookworm-security',
      'Components: main contrib',
      'Signed-By: /usr/share/keyrings/k.gpg',
      '',
    ].join('\n'),
  );
});

test('debianSourcesFor finds nothing when no source names the release', () => {
  assert.deepEqual(debianSourcesFor('bookworm', [{ path: '/etc/apt/sources.list', text: 'deb http://deb.debian.org/debian trixie main\n' }]), []);
  assert.deepEqual(debianSourcesFor('bookworm', []), []);
});
