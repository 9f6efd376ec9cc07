/**
 * controller/node/images/short-names.ts: containers-registries.conf(5)
 * short-name resolution (pure), and the registries.conf files read from
 * temp directories standing in for /etc/containers and $HOME.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadShortNameConfig,
  registriesConfFiles,
  resolveImage,
  resolveShortName,
  type ConfigPlaces,
  type ShortNameConfig,
} from '../../../../controller/node/images/short-names.ts';

const HEX = 'b'.repeat(64);
const work = mkdtempSync(join(tmpdir(), 'virtnet-test-short-names-'));
after(() => rmSync(work, { recursive: true, force: true }));

const config = (c: Partial<ShortNameConfig>): ShortNameConfig => ({
  aliases: {},
  unqualifiedSearchRegistries: [],
  ...c,
});
const FEDORA = config({
  aliases: { fedora: 'registry.fedoraproject.org/fedora' },
  origins: { aliases: { fedora: '/etc/containers/registries.conf.d/shortnames.conf' } },
});

test('fully qualified names pass unchanged, even when an alias exists for their last part', () => {
  const aliased = config({
    aliases: { x: 'quay.io/other/x', fedora: 'quay.io/other/fedora' },
    unqualifiedSearchRegistries: ['quay.io'],
  });
  for (const image of [
    'localhost:5000/x',
    '127.0.0.1:5000/x',
    'localhost/x',
    'registry:5000/kubevirt/a:1',
    'quay.io/containerdisks/fedora:39',
    `quay.io/x@sha256:${HEX}`,
    'Registry/x',
    'registry.example:5000/a/b',
  ]) {
    assert.deepEqual(resolveShortName(image, aliased), { image, via: 'fully-qualified', candidates: [image] }, image);
  }
});

test('an alias matches the name without tag or digest; the tag and digest are kept', () => {
  const origin = '/etc/containers/registries.conf.d/shortnames.conf';
  assert.deepEqual(resolveShortName('fedora:38', FEDORA), {
    image: 'registry.fedoraproject.org/fedora:38',
    via: 'alias',
    candidates: ['registry.fedoraproject.org/fedora:38'],
    origin,
  });
  assert.equal(resolveShortName('fedora', FEDORA).image, 'registry.fedoraproject.org/fedora');
  assert.equal(
    resolveShortName(`fedora@sha256:${HEX}`, FEDORA).image,
    `registry.fedoraproject.org/fedora@sha256:${HEX}`,
  );
  assert.equal(
    resolveShortName(`fedora:38@sha256:${HEX}`, FEDORA).image,
    `registry.fedoraproject.org/fedora:38@sha256:${HEX}`,
  );
  // An alias of "fedora" is not one of "fedora-minimal" or "library/fedora": the lookup is by the whole name.
  assert.deepEqual(resolveShortName('fedora-minimal:38', FEDORA), {
    image: 'docker.io/library/fedora-minimal:38',
    via: 'docker-hub-default',
    candidates: ['docker.io/library/fedora-minimal:38'],
  });
  assert.equal(resolveShortName('library/fedora:38', FEDORA).image, 'docker.io/library/fedora:38');
  // An alias wins over the search registries, whatever the mode.
  const both = config({ ...FEDORA, unqualifiedSearchRegistries: ['quay.io', 'docker.io'], shortNameMode: 'enforcing' });
  assert.equal(resolveShortName('fedora:38', both).via, 'alias');
  // docker.io/alpine is docker.io/library/alpine (containers-registries.conf(5) "Normalization of docker.io
  // references").
  assert.equal(
    resolveShortName('alpine:3', config({ aliases: { alpine: 'docker.io/alpine' } })).image,
    'docker.io/library/alpine:3',
  );
  assert.equal(
    resolveShortName('kubevirt/disk:1', config({ aliases: { 'kubevirt/disk': 'localhost:5000/kv/disk' } })).image,
    'localhost:5000/kv/disk:1',
  );
});

test('an alias to a short name, or with a tag, is refused, naming the file', () => {
  const origins = { aliases: { fedora: '/etc/containers/registries.conf' } };
  assert.throws(() => resolveShortName('fedora:38', config({ aliases: { fedora: 'fedora/fedora' }, origins })), {
    name: 'VirtnetError',
    message:
      'short-name alias "fedora" = "fedora/fedora" in /etc/containers/registries.conf: the value must be fully ' +
      'qualified: its first component must name a registry (with a "." or ":", or localhost), e.g. ' +
      '"quay.io/containerdisks/fedora"',
  });
  assert.throws(() => resolveShortName('fedora', config({ aliases: { fedora: 'quay.io/f/fedora:39' } })), {
    message:
      'short-name alias "fedora" = "quay.io/f/fedora:39": the value must not contain a tag or digest ' +
      '(containers-registries.conf(5) "Short-Name Aliasing")',
  });
});

test('one unqualified-search registry is used in every mode', () => {
  for (const shortNameMode of ['enforcing', 'permissive', 'disabled', undefined] as const) {
    const c = config({
      unqualifiedSearchRegistries: ['quay.io'],
      origins: { aliases: {}, unqualifiedSearchRegistries: '/etc/containers/registries.conf' },
      ...(shortNameMode && { shortNameMode }),
    });
    assert.deepEqual(resolveShortName('containerdisks/fedora:39', c), {
      image: 'quay.io/containerdisks/fedora:39',
      via: 'search-registry',
      candidates: ['quay.io/containerdisks/fedora:39'],
      origin: '/etc/containers/registries.conf',
    });
  }
  assert.equal(
    resolveShortName('debian:12', config({ unqualifiedSearchRegistries: ['docker.io'] })).image,
    'docker.io/library/debian:12',
  );
  assert.equal(
    resolveShortName('debian:12', config({ unqualifiedSearchRegistries: ['localhost:5000'] })).image,
    'localhost:5000/debian:12',
  );
});

test('several search registries: an error in the enforcing mode (no prompt), every candidate in order otherwise', () => {
  const two = (shortNameMode?: 'enforcing' | 'permissive' | 'disabled') =>
    config({
      unqualifiedSearchRegistries: ['registry.fedoraproject.org', 'quay.io'],
      ...(shortNameMode && { shortNameMode }),
      origins: {
        aliases: {},
        unqualifiedSearchRegistries: '/etc/containers/registries.conf',
        ...(shortNameMode && { shortNameMode: '/etc/containers/registries.conf.d/mode.conf' }),
      },
    });
  assert.throws(() => resolveShortName('fedora:38', two('enforcing')), {
    name: 'VirtnetError',
    message:
      'short name fedora:38 is ambiguous: it could come from registry.fedoraproject.org, quay.io; give a fully ' +
      'qualified image name or add an alias in [aliases] (short-name-mode is "enforcing" in ' +
      '/etc/containers/registries.conf.d/mode.conf, and virtnet never prompts)',
  });
  const candidates = ['registry.fedoraproject.org/fedora:38', 'quay.io/fedora:38'];
  for (const mode of ['permissive', 'disabled', undefined] as const) {
    assert.deepEqual(
      resolveShortName('fedora:38', two(mode)),
      { image: candidates[0], via: 'search-registry', candidates, origin: '/etc/containers/registries.conf' },
      String(mode),
    );
  }
});

test('no alias and no search registry: Docker Hub, as kubelet does; names like Object methods are not aliases', () => {
  assert.deepEqual(resolveShortName('fedora:38', config({})), {
    image: 'docker.io/library/fedora:38',
    via: 'docker-hub-default',
    candidates: ['docker.io/library/fedora:38'],
  });
  assert.equal(resolveShortName('kubevirt/cirros:1', config({})).image, 'docker.io/kubevirt/cirros:1');
  assert.equal(resolveShortName(`cirros@sha256:${HEX}`, config({})).image, `docker.io/library/cirros@sha256:${HEX}`);
  assert.equal(resolveShortName('constructor', config({})).image, 'docker.io/library/constructor');
  assert.equal(resolveShortName('tostring:1', FEDORA).via, 'docker-hub-default');
});

test('bad references and bad search registries are refused', () => {
  assert.throws(() => resolveShortName('Fedora:38', config({})), {
    message:
      'image "Fedora:38": path component "Fedora" must be lower-case letters and digits, separated by ".", "_", ' +
      '"__" or "-"',
  });
  assert.throws(() => resolveShortName('-x', config({})), {
    message: 'image "-x": must not start with "-" (it would read as an option)',
  });
  assert.throws(() => resolveShortName('fedora', config({ unqualifiedSearchRegistries: ['quay.io/ns'] })), {
    message:
      'unqualified-search-registries entry "quay.io/ns": must be a registry host[:port] with a "." or ":" in it, or ' +
      'localhost, e.g. "quay.io" (no path, no scheme)',
  });
  assert.throws(
    () => resolveShortName('fedora', config({ unqualifiedSearchRegistries: ['myreg'] })),
    /entry "myreg": must be a registry host\[:port\]/u,
  );
  // Valid as written, too long once the registry is added.
  assert.throws(() => resolveShortName(`${'a/'.repeat(125)}a`, config({ unqualifiedSearchRegistries: ['quay.io'] })), {
    message:
      /^image quay\.io\/(a\/)+a \(unqualified-search registry quay\.io\) is not a valid reference: repository name must be at most 255 characters$/u,
  });
});

// ---- The files ---------------------------------------------------------------

let dirs = 0;
/** A fresh /etc/containers and $HOME stand-in. */
function places(): ConfigPlaces & { root: string } {
  const root = join(work, `places-${dirs++}`);
  mkdirSync(join(root, 'etc', 'registries.conf.d'), { recursive: true });
  mkdirSync(join(root, 'home'), { recursive: true });
  return {
    root,
    systemConf: join(root, 'etc', 'registries.conf'),
    systemDir: join(root, 'etc', 'registries.conf.d'),
    home: join(root, 'home'),
  };
}

function write(file: string, toml: string): string {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, toml);
  return file;
}

const userDir = (p: ConfigPlaces) => join(p.home, '.config', 'containers', 'registries.conf.d');

test(
  'the system files: registries.conf, then registries.conf.d/*.conf in lexical order, then the user drop-ins; later ' +
    'files win per key',
  () => {
    const p = places();
    write(
      p.systemConf,
      [
        'unqualified-search-registries = ["quay.io", "docker.io"]',
        'short-name-mode = "enforcing"',
        '',
        '[aliases]',
        '"fedora" = "registry.fedoraproject.org/fedora"',
        '"debian" = "docker.io/library/debian"',
        '"gone" = "quay.io/x/gone"',
        '',
      ].join('\n'),
    );
    const a = write(
      join(p.systemDir, '10-a.conf'),
      '[aliases]\n"debian" = "quay.io/a/debian"\n"cirros" = "quay.io/a/cirros"\n',
    );
    const b = write(
      join(p.systemDir, '20-b.conf'),
      '[aliases]\n"cirros" = "quay.io/b/cirros"\n"gone" = ""\n\n[[registry]]\nlocation = "quay.io"\n',
    );
    write(join(p.systemDir, '15-ignored.conf.bak'), '[aliases]\n"fedora" = "bad.example/not-read"\n');
    write(join(p.systemDir, 'sub.conf', 'x.conf'), '[aliases]\n"fedora" = "bad.example/not-read"\n');
    const user = write(join(userDir(p), '00-user.conf'), 'unqualified-search-registries = ["localhost:5000"]\n');
    assert.deepEqual(loadShortNameConfig(undefined, p), {
      aliases: { fedora: 'registry.fedoraproject.org/fedora', debian: 'quay.io/a/debian', cirros: 'quay.io/b/cirros' },
      unqualifiedSearchRegistries: ['localhost:5000'],
      shortNameMode: 'enforcing',
      origins: {
        aliases: { fedora: p.systemConf, debian: a, cirros: b },
        unqualifiedSearchRegistries: user,
        shortNameMode: p.systemConf,
      },
    });
    // The user's drop-in comes after every system one, whatever its name.
    write(
      join(p.systemDir, '99-z.conf'),
      'unqualified-search-registries = ["registry.example"]\nshort-name-mode = "disabled"\n',
    );
    const merged = loadShortNameConfig(undefined, p);
    assert.deepEqual(merged.unqualifiedSearchRegistries, ['localhost:5000']);
    assert.equal(merged.shortNameMode, 'disabled');
    // A set list, even [], replaces the earlier one.
    write(join(userDir(p), '50-reset.conf'), 'unqualified-search-registries = []\n');
    assert.deepEqual(loadShortNameConfig(undefined, p).unqualifiedSearchRegistries, []);
    assert.equal(
      resolveImage('gone:1', undefined, p).image,
      'docker.io/library/gone:1',
      'an alias erased by "" falls through',
    );
    assert.equal(resolveImage('debian:12', undefined, p).image, 'quay.io/a/debian:12');
  },
);

test(
  'an explicit registries.conf replaces only the main file: the system and user drop-ins still apply, a .d next to ' +
    'it does not',
  () => {
    const p = places();
    write(p.systemConf, '[aliases]\n"fedora" = "quay.io/system/fedora"\n');
    const explicit = write(
      join(p.root, 'mine', 'registries.conf'),
      '[aliases]\n"fedora" = "quay.io/mine/fedora"\n"cirros" = "quay.io/mine/cirros"\n',
    );
    write(join(p.root, 'mine', 'registries.conf.d', 'x.conf'), '[aliases]\n"cirros" = "quay.io/sibling/cirros"\n');
    const drop = write(join(p.systemDir, 'x.conf'), '[aliases]\n"debian" = "quay.io/drop/debian"\n');
    const user = write(join(userDir(p), 'x.conf'), '[aliases]\n"alpine" = "quay.io/user/alpine"\n');
    assert.deepEqual(registriesConfFiles(explicit, p), {
      main: explicit,
      mainRequired: true,
      dirs: [p.systemDir, userDir(p)],
    });
    const c = loadShortNameConfig(explicit, p);
    assert.deepEqual(c.aliases, {
      fedora: 'quay.io/mine/fedora',
      cirros: 'quay.io/mine/cirros',
      debian: 'quay.io/drop/debian',
      alpine: 'quay.io/user/alpine',
    });
    assert.deepEqual(c.origins?.aliases, { fedora: explicit, cirros: explicit, debian: drop, alpine: user });
  },
);

test(
  "the user's registries.conf " +
    'replaces the system file and ' +
    'the system drop-ins ' +
    '(containers-registries.conf.d(5))',
  () => {
    const p = places();
    write(p.systemConf, '[aliases]\n"fedora" = "quay.io/system/fedora"\n');
    write(join(p.systemDir, 'x.conf'), '[aliases]\n"debian" = "quay.io/drop/debian"\n');
    const mine = write(
      join(p.home, '.config', 'containers', 'registries.conf'),
      '[aliases]\n"cirros" = "quay.io/user/cirros"\n',
    );
    write(join(userDir(p), 'x.conf'), '[aliases]\n"alpine" = "quay.io/user/alpine"\n');
    assert.deepEqual(registriesConfFiles(undefined, p), { main: mine, mainRequired: false, dirs: [userDir(p)] });
    assert.deepEqual(loadShortNameConfig(undefined, p).aliases, {
      cirros: 'quay.io/user/cirros',
      alpine: 'quay.io/user/alpine',
    });
  },
);

test('missing files: none at all is an empty configuration; a missing explicit file is an error', () => {
  const p = places();
  rmSync(p.systemDir, { recursive: true });
  assert.deepEqual(loadShortNameConfig(undefined, p), {
    aliases: {},
    unqualifiedSearchRegistries: [],
    origins: { aliases: {} },
  });
  assert.equal(resolveImage('fedora:38', undefined, p).image, 'docker.io/library/fedora:38');
  const missing = join(p.root, 'nope.conf');
  assert.throws(() => loadShortNameConfig(missing, p), {
    name: 'VirtnetError',
    message: `registries configuration ${missing} cannot be read: ENOENT: no such file or directory, open '${missing}'`,
  });
  // A fully qualified name needs no configuration: nothing is read.
  assert.deepEqual(resolveImage('quay.io/x/y:1', missing, p), {
    image: 'quay.io/x/y:1',
    via: 'fully-qualified',
    candidates: ['quay.io/x/y:1'],
  });
  assert.throws(() => resolveImage('y:1', missing, p), /nope\.conf cannot be read/u);
});

test('bad files: each wrong type or value names the file and the key', () => {
  const p = places();
  const f = join(p.root, 'bad.conf');
  const cases: Array<[string, string]> = [
    ['aliases = "fedora"', '[aliases] must be a table of strings, not the string "fedora"'],
    ['aliases = ["a"]', '[aliases] must be a table of strings, not an array'],
    [
      '[aliases]\n"fedora" = 38',
      '[aliases] "fedora" must be a string (a fully qualified repository), not the number 38',
    ],
    [
      '[aliases]\n"fedora" = { x = 1 }',
      '[aliases] "fedora" must be a string (a fully qualified repository), not a table',
    ],
    [
      '[aliases]\n"fedora" = "fedora/fedora"',
      '[aliases] "fedora" = "fedora/fedora": the value must be fully qualified: its first component must name a ' +
        'registry (with a "." or ":", or localhost), e.g. "quay.io/containerdisks/fedora"',
    ],
    [
      '[aliases]\n"fedora" = "quay.io/f@sha256:' + HEX + '"',
      `[aliases] "fedora" = "quay.io/f@sha256:${HEX}": the value must not contain a tag or digest ` +
        `(containers-registries.conf(5) "Short-Name Aliasing")`,
    ],
    [
      '[aliases]\n"quay.io/fedora" = "quay.io/f/fedora"',
      '[aliases] "quay.io/fedora": the name must be a short name: it must not name a registry or localhost',
    ],
    [
      '[aliases]\n"localhost/fedora" = "quay.io/f/fedora"',
      '[aliases] "localhost/fedora": the name must be a short name: it must not name a registry or localhost',
    ],
    [
      '[aliases]\n"fedora:38" = "quay.io/f/fedora"',
      '[aliases] "fedora:38": the name must not contain a tag or digest (containers-registries.conf(5) "Short-Name ' +
        'Aliasing")',
    ],
    [
      '[aliases]\n"Fedora" = "quay.io/f/fedora"',
      '[aliases] "Fedora": the name path component "Fedora" must be lower-case letters and digits, separated by ' +
        '".", "_", "__" or "-"',
    ],
    [
      'unqualified-search-registries = "quay.io"',
      'unqualified-search-registries must be an array of strings, not the string "quay.io"',
    ],
    [
      'unqualified-search-registries = ["quay.io", 5]',
      'unqualified-search-registries must be an array of strings, not an array',
    ],
    [
      'unqualified-search-registries = ["https://quay.io"]',
      'unqualified-search-registries entry "https://quay.io" must be a registry host[:port] with a "." or ":" in ' +
        'it, or localhost, e.g. "quay.io" (no path, no scheme)',
    ],
    [
      'short-name-mode = "strict"',
      'short-name-mode must be one of enforcing, permissive, disabled, not the string "strict"',
    ],
    ['short-name-mode = true', 'short-name-mode must be one of enforcing, permissive, disabled, not the boolean true'],
    [
      '[registries.search]\nregistries = ["quay.io"]\n[aliases]\n"a" = "quay.io/a"',
      'mixes the version 1 [registries.*] tables with version 2 keys (aliases)',
    ],
    ['registries = "quay.io"', 'registries must be a table ([registries.search] etc.), not the string "quay.io"'],
    [
      '[registries.search]\nregistries = "quay.io"',
      'registries.search.registries must be an array of strings, not the string "quay.io"',
    ],
  ];
  for (const [toml, problem] of cases) {
    write(f, `${toml}\n`);
    assert.throws(
      () => loadShortNameConfig(f, p),
      { name: 'VirtnetError', message: `registries configuration ${f}: ${problem}` },
      toml,
    );
  }
  write(f, '[aliases]\n"fedora" = \n');
  assert.throws(() => loadShortNameConfig(f, p), {
    message: `registries configuration ${f}: line 2, column 12: Invalid TOML document: invalid value`,
  });
  write(f, '[aliases]\n"fedora" = "quay.io/a/fedora"\n"fedora" = "quay.io/b/fedora"\n');
  assert.throws(
    () => loadShortNameConfig(f, p),
    { message: new RegExp(`^registries configuration ${f}: line 3, column \\d+: `, 'u') },
    'a name at most once per file (containers-registries.conf(5))',
  );
  // A bad drop-in is named as well.
  const drop = write(join(p.systemDir, '50-bad.conf'), 'short-name-mode = "loud"\n');
  assert.throws(() => loadShortNameConfig(undefined, p), {
    message:
      `registries configuration ${drop}: short-name-mode must be one of enforcing, permissive, disabled, not the ` +
      `string "loud"`,
  });
});

test('the version 1 format: [registries.search] are the search registries, in the main file only', () => {
  const p = places();
  write(
    p.systemConf,
    '[registries.search]\nregistries = ["quay.io/", ' +
      '"registry.fedoraproject.org"]\n\n[registries.insecure]\nregistries = []\n',
  );
  const c = loadShortNameConfig(undefined, p);
  assert.deepEqual(
    c.unqualifiedSearchRegistries,
    ['quay.io', 'registry.fedoraproject.org'],
    'trailing slashes dropped, as containers/image parseLocation does',
  );
  assert.deepEqual(resolveShortName('fedora:38', c).candidates, [
    'quay.io/fedora:38',
    'registry.fedoraproject.org/fedora:38',
  ]);
  const drop = write(join(p.systemDir, 'v1.conf'), '[registries.search]\nregistries = ["quay.io"]\n');
  assert.throws(() => loadShortNameConfig(undefined, p), {
    message:
      `registries configuration ${drop}: a drop-in must use the version 2 format, not [registries.*] ` +
      `(containers-registries.conf.d(5))`,
  });
});
