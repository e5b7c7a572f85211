/** The build command as a user runs it: branches, the no-op rebuild, a host without rpmbuild. */
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBuild } from '../support/build.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['rpmbuild', 'rpm']);
const work = await mkdtemp(join(tmpdir(), 'podsec-buildcmd-'));
/** `npm run build -- --out OUT ARGS` (package.json's build script). */
const buildTo = (out: string, args: string[] = [], env: Record<string, string> = {}) =>
  run(process.execPath, ['scripts/cli-bundled.mjs', 'build', '--out', out, ...args], { env, timeoutMs: 300_000 });
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

test('without rpmbuild: spec, tarball and gear are built, one line says how to get rpmbuild', async () => {
  const out = join(work, 'no-rpmbuild');
  const result = await buildTo(out, [], { PODSEC_RPMBUILD: join(work, 'missing', 'rpmbuild') });
  assert.is(result.exitCode, 0, result.stderr);
  const hints = result.stdout.split('\n').filter((l) => l.includes('rpmbuild not found'));
  assert.is(hints.length, 1, result.stdout);
  assert.match(hints[0]!, /apt-get install rpm/);
  assert.ok(await exists(join(out, 'podsec.spec')));
  assert.ok(await exists(join(out, 'gear', '.gear', 'rules')));
  assert.not.ok(await exists(join(out, 'RPMS')));
  // With rpmbuild back, the same output directory is completed, not taken as up to date.
  const again = await buildTo(out);
  assert.is(again.exitCode, 0, again.stderr);
  assert.ok(await exists(join(out, 'RPMS', 'noarch')));
});

test('a second build with nothing changed is a no-op; a damaged output is rebuilt', async () => {
  const out = join(work, 'noop');
  assert.is((await buildTo(out)).exitCode, 0);
  const second = await buildTo(out);
  assert.match(second.stdout, /^up to date: p11, /m);
  const tarball = join(out, 'podsec-2.0.0.tar');
  const original = await readFile(tarball);
  await appendFile(tarball, 'garbage');
  const third = await buildTo(out);
  assert.not.match(third.stdout, /up to date/);
  assert.equal(await readFile(tarball), original);
});

test("npm run build's bundled pipeline makes the same bytes as the pipeline run through tsx", async () => {
  const out = join(work, 'noop'); // built above
  const reference = await ensureBuild(); // scripts/build.ts imported through tsx
  const files = ['podsec.spec', 'podsec-2.0.0.tar', ...reference.rpms.map((rpm) => relative(dirname(reference.spec), rpm))];
  for (const name of ['pkglist.podsec', 'pkglist.podsec.xz', 'release']) files.push(join('repo', 'noarch', 'base', name));
  for (const file of files) assert.ok((await readFile(join(out, file))).equals(await readFile(join(dirname(reference.spec), file))), file);
});

test('branches share one spec (macros, not paths); sisyphus RPMs use merged /usr, p10 /lib', async () => {
  const specs: string[] = [];
  const listings: Record<string, string> = {};
  for (const branch of ['p10', 'sisyphus']) {
    const out = join(work, branch);
    const result = await buildTo(out, ['--branch', branch]);
    assert.is(result.exitCode, 0, result.stderr);
    specs.push(await readFile(join(out, 'podsec.spec'), 'utf8'));
    const rpm = join(out, 'RPMS', 'noarch', 'podsec-k8s-2.0.0-alt1.noarch.rpm');
    listings[branch] = (await run('rpm', ['-qpl', '--dbpath', join(work, 'rpmdb'), rpm])).stdout;
  }
  assert.is(specs[0], specs[1]);
  assert.match(listings.p10!, /^\/lib\/systemd\/system\/user@\.service\.d\/delegate\.conf$/m);
  assert.match(listings.p10!, /^\/lib\/modules-load\.d\/u7s\.conf$/m);
  assert.match(listings.sisyphus!, /^\/usr\/lib\/systemd\/system\/user@\.service\.d\/delegate\.conf$/m);
  assert.match(listings.sisyphus!, /^\/usr\/lib\/modules-load\.d\/u7s\.conf$/m);
});

const MAINTAINER = 'Ivan Ivanov <ivan@altlinux.org>';

test('--packager: the Packager: tag, the newest changelog entry and the RPM PACKAGER header carry the ALT identity', async () => {
  const out = join(work, 'packager');
  const result = await buildTo(out, ['--packager', MAINTAINER]);
  assert.is(result.exitCode, 0, result.stderr);
  const spec = await readFile(join(out, 'podsec.spec'), 'utf8');
  assert.match(spec, new RegExp(`^Packager: ${MAINTAINER}$`, 'm'));
  const newest = spec.split('%changelog\n')[1]!.split('\n')[0];
  assert.match(newest!, new RegExp(`^\\* \\w{3} \\w{3} \\d{2} \\d{4} ${MAINTAINER} 2\\.0\\.0-alt1$`));
  assert.is(await readFile(join(out, 'gear', 'podsec.spec'), 'utf8'), spec);
  const db = ['--dbpath', join(work, 'rpmdb')];
  for (const rpm of ['podsec', 'podsec-k8s'].map((name) => join(out, 'RPMS', 'noarch', `${name}-2.0.0-alt1.noarch.rpm`))) {
    const query = await run('rpm', ['-qp', ...db, '--queryformat', '%{PACKAGER}\n[%{CHANGELOGNAME}\n]', rpm]);
    assert.is(query.exitCode, 0, query.stderr);
    const [packager, newestName] = query.stdout.split('\n');
    assert.is(packager, MAINTAINER);
    assert.is(newestName, `${MAINTAINER} 2.0.0-alt1`);
  }
  // The same output directory without --packager is rebuilt (the option is an input), with no Packager:.
  const plain = await buildTo(out);
  assert.not.match(plain.stdout, /up to date/);
  assert.not.match(await readFile(join(out, 'podsec.spec'), 'utf8'), /^Packager:/m);
});

test('--packager refuses an address sisyphus_check would refuse: one line and exit 2', async () => {
  const bad = await buildTo(join(work, 'bad-packager'), ['--packager', 'Podsec Developers <podsec-devel@example.org>']);
  assert.is(bad.exitCode, 2);
  assert.match(bad.stderr.split('\n')[0]!, /^--packager 'Podsec Developers <podsec-devel@example\.org>' is not 'Name <login@altlinux\.org>'/);
});

test('an unknown branch or argument is one clear line and exit 2', async () => {
  const bad = await buildTo(join(work, 'bad'), ['--branch', 'p9']);
  assert.is(bad.exitCode, 2);
  assert.match(bad.stderr.split('\n')[0]!, /^unknown branch p9; one of p10, p11, sisyphus$/);
});

base.after(async () => {
  await rm(work, { recursive: true, force: true });
});

test.run();
