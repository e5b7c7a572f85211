/**
 * podsec-inotify-check-containers with real inotify on temp overlay trees: classification,
 * ATTRIB (chmod, touch), layers and user storage created after start, layer removal, and the
 * injection corpus: file names with quotes, $(), backticks, newlines and leading dashes are logged
 * verbatim (JSON-quoted) and the canary file never appears.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, utimesSync, writeFileSync, appendFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { podsecTree } from '../support/inotify-tree.ts';
import { Daemon, inotifyProgram } from '../support/inotify-programs.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['inotifywait']);
let program: string;
base.before(async () => {
  program = await inotifyProgram('podsec-inotify-check-containers');
});

const LAYER = 'a'.repeat(64);
const overlayOf = (root: string) => join(root, 'var/lib/containers/storage/overlay');
function layer(root: string, id = LAYER, overlay = overlayOf(root)): string {
  const diff = join(overlay, id, 'diff');
  for (const d of ['etc', 'home/x', 'usr/bin', 'var/log', 'tmp', 'root']) mkdirSync(join(diff, d), { recursive: true });
  mkdirSync(join(overlay, id, 'work/work'), { recursive: true });
  writeFileSync(join(diff, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(join(diff, 'usr/bin/ls'), 'ELF');
  return diff;
}

test('classification: /etc and homes are Warnings (priority 5), binaries Critical (2); var/tmp/work ignored; ATTRIB covered', async () => {
  const tree = podsecTree();
  const diff = layer(tree.root);
  const daemon = new Daemon(program, ['--root', tree.root, '-v']);
  try {
    await daemon.waitFor(/^Debug: watching 1 container storage directories/);
    appendFileSync(join(diff, 'etc/passwd'), 'evil:x:0:0::/:/bin/sh\n');
    writeFileSync(join(diff, 'home/x/f'), 'x');
    writeFileSync(join(diff, 'usr/bin/evil'), 'x');
    writeFileSync(join(diff, 'var/log/noise'), 'x');
    writeFileSync(join(diff, 'tmp/noise'), 'x');
    writeFileSync(join(overlayOf(tree.root), LAYER, 'work/work/noise'), 'x');
    const passwd = await daemon.waitFor(/on the file "\/etc\/passwd"/);
    assert.is(passwd.priority, 5);
    assert.match(passwd.text, new RegExp(`^Warning: An event MODIFY occurred in the container ${LAYER} in configuration directory on the file "/etc/passwd"$`));
    const home = await daemon.waitFor(/on the file "\/home\/x\/f"/);
    assert.match(home.text, /^Warning: An event CREATE,MODIFY occurred in the container a+ in home directory/);
    const evil = await daemon.waitFor(/on the file "\/usr\/bin\/evil"/);
    assert.is(evil.priority, 2);
    assert.match(evil.text, /^Critical: An event CREATE,MODIFY occurred in the container a+ on the file/);
    const since = Date.now();
    chmodSync(join(diff, 'usr/bin/ls'), 0o4755);
    const chmod = await daemon.waitFor(/on the file "\/usr\/bin\/ls"/, 60_000, since);
    assert.match(chmod.text, /^Critical: An event ATTRIB occurred/);
    const since2 = Date.now();
    utimesSync(join(diff, 'root'), new Date(), new Date());
    await daemon.waitFor(/^Warning: An event ATTRIB(,ISDIR)? occurred .* on the file "\/root"$/, 60_000, since2);
    renameSync(join(diff, 'usr/bin/evil'), join(diff, 'usr/bin/evil2'));
    await daemon.waitFor(/MOVED_FROM.*"\/usr\/bin\/evil"/);
    await daemon.waitFor(/MOVED_TO.*"\/usr\/bin\/evil2"/);
    await daemon.sync(); // everything written above is handled and reported by now
    assert.not.ok(
      daemon.lines.some((l) => /noise/.test(l.text)),
      'var, tmp and work are not reported',
    );
  } finally {
    assert.is(await daemon.stop(), 0);
    tree.cleanup();
  }
});

test('injection corpus: names are data, logged verbatim in JSON quotes; the canary never appears', async () => {
  const tree = podsecTree();
  const diff = layer(tree.root);
  // File names can't hold '/': the payloads touch a relative name, in the daemon's working directory.
  const canary = 'podsec-inotify-CANARY';
  const canaryPaths = [join(process.cwd(), canary), join('/', canary), join('/tmp', canary)];
  const names = [
    "a';touch " + canary + ";'",
    `$(touch ${canary})`,
    '`touch ' + canary + '`',
    'new\nline',
    'Critical: forged',
    '--help',
    '-e',
    '" ; touch ' + canary + ' ; "',
    'tab\tand\\backslash',
    'ünïcödé',
  ];
  const daemon = new Daemon(program, ['--root', tree.root, '-v']);
  try {
    await daemon.waitFor(/^Debug: watching/);
    for (const name of names) writeFileSync(join(diff, 'usr/bin', name), 'x');
    for (const name of names) {
      const quoted = JSON.stringify(`/usr/bin/${name}`);
      const line = await daemon.waitFor(new RegExp(`on the file ${quoted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      assert.is(JSON.parse(line.text.slice(line.text.indexOf(' on the file ') + 13)), `/usr/bin/${name}`);
    }
    assert.ok(
      daemon.lines.every((l) => l.priority !== -1),
      'every line is one journal entry (a newline never splits one)',
    );
    assert.not.ok(
      daemon.lines.some((l) => l.text.startsWith('Critical: forged')),
      'a file name cannot forge an entry',
    );
    assert.not.ok(
      canaryPaths.some((p) => existsSync(p)),
      'nothing ran',
    );
  } finally {
    await daemon.stop();
    tree.cleanup();
  }
  assert.not.ok(existsSync('/tmp/pwned'));
});

test('layers and user storage created after start are watched; a removed layer is one Debug line, not a flood', async () => {
  const tree = podsecTree();
  layer(tree.root);
  const home = tree.addUser('u1', 2001, ['podman']);
  const daemon = new Daemon(program, ['--root', tree.root, '-v']);
  try {
    await daemon.waitFor(/^Debug: watching 1 container/);
    const second = 'b'.repeat(64);
    const diff2 = layer(tree.root, second);
    await daemon.waitFor(new RegExp(`Debug: new layer ${second}`));
    await daemon.sync(); // the new layer's directories are watched
    const since = Date.now();
    writeFileSync(join(diff2, 'usr/bin/late'), 'x');
    await daemon.waitFor(new RegExp(`container ${second} on the file "/usr/bin/late"`), 60_000, since);

    // A user's first podman run creates their storage: picked up by the periodic rescan (10 s).
    const userOverlay = join(home, '.local/share/containers/storage/overlay');
    const userDiff = layer(tree.root, 'c'.repeat(64), userOverlay);
    await daemon.waitFor(/^Debug: watching 2 container storage directories/, 60_000);
    writeFileSync(join(userDiff, 'usr/bin/rootless'), 'x');
    await daemon.waitFor(/container c+ on the file "\/usr\/bin\/rootless"/);

    const before = daemon.lines.length;
    for (let i = 0; i < 50; i++) writeFileSync(join(diff2, 'usr/bin', `f${i}`), 'x');
    rmSync(join(overlayOf(tree.root), second), { recursive: true });
    await daemon.waitFor(new RegExp(`Debug: layer ${second} removed`), 60_000);
    assert.ok(
      daemon.lines.length - before <= 3,
      daemon.lines
        .slice(before)
        .map((l) => l.text)
        .join('\n'),
    );
  } finally {
    await daemon.stop();
    tree.cleanup();
  }
});

test.run();
