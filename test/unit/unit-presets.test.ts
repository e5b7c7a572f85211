/**
 * Which units an install enables (the preset files of the model) and which an upgrade restarts
 * (the spec's %post scriptlets), checked against the README's table of units.
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadChangelog } from '../../scripts/changelog.ts';
import model from '../../scripts/model/index.ts';
import { ENABLED_ON_INSTALL } from '../../scripts/model/packages/podsec-inotify.ts';
import type { Entry } from '../../scripts/model/types.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { renderContent, type RenderContext } from '../../scripts/render.ts';
import { renderSpec } from '../../scripts/spec.ts';

const context: RenderContext = { branch: 'p11', version: '2.0.0', release: 'alt1' };
const isPreset = (e: Entry) => e.path.startsWith('%_presetdir/');
const systemUnits = (entries: Entry[]) => entries.filter((e) => e.kind === 'system-unit').map((e) => posix.basename(e.path));
const allUnits = systemUnits(model.packages.flatMap((p) => p.entries));

/** The `enable`/`disable` lines of a preset file; anything else but comments and blank lines is an error. */
function presetLines(text: string): { verb: string; unit: string }[] {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const m = /^(enable|disable) (\S+)$/.exec(l);
      if (!m) throw new Error(`not a preset line: ${JSON.stringify(l)}`);
      return { verb: m[1]!, unit: m[2]! };
    });
}

test('only podsec-inotify ships a preset file: 85-podsec-inotify.preset enables exactly check-containers and check-kubeapi', async () => {
  const presets = model.packages.flatMap((p) => p.entries.filter(isPreset).map((e) => ({ pkg: p, entry: e })));
  assert.equal(
    presets.map(({ pkg, entry }) => `${pkg.name} ${entry.path} ${entry.kind} ${entry.mode.toString(8)}`),
    ['podsec-inotify %_presetdir/85-podsec-inotify.preset file 644'],
  );
  const { pkg, entry } = presets[0]!;
  const lines = presetLines(await renderContent(entry.content!, context));
  assert.equal(lines, [
    { verb: 'enable', unit: 'podsec-inotify-check-containers.service' },
    { verb: 'enable', unit: 'podsec-inotify-check-kubeapi.service' },
  ]);
  assert.equal(
    lines.map((l) => l.unit),
    ENABLED_ON_INSTALL,
  );
  // Each enabled unit is the package's own and can be enabled at all (it has an [Install] section).
  for (const { unit } of lines) {
    const unitEntry = pkg.entries.find((e) => e.kind === 'system-unit' && posix.basename(e.path) === unit);
    assert.ok(unitEntry, `${unit} is not a system unit of ${pkg.name}`);
    assert.match(await renderContent(unitEntry.content!, context), /^\[Install\]\nWantedBy=multi-user\.target$/m);
  }
});

test('the preset parser refuses what systemd would not read as a rule', () => {
  assert.throws(() => presetLines('enable a.service b.service\n'), /not a preset line/);
  assert.throws(() => presetLines('enabled a.service\n'), /not a preset line/);
});

test('the spec: u7s.service is preset on first install only (%systemd_post), every other unit gets %post_systemd; all get %preun_systemd', async () => {
  const spec = await renderSpec(model, loadChangelog());
  const listed = (macro: string) =>
    spec
      .split('\n')
      .filter((l) => l.startsWith(`${macro} `))
      .flatMap((l) => l.split(' ').slice(1));
  assert.equal(listed('%systemd_post'), ['u7s.service']);
  assert.equal(listed('%post_systemd').sort(), allUnits.filter((u) => u !== 'u7s.service').sort());
  assert.equal(listed('%preun_systemd').sort(), [...allUnits].sort());
  // The macro emulation defines it as ALT does: preset when $1 is 1, no restart anywhere.
  const macros = readFileSync(join(REPO_ROOT, 'specs/macros/alt.macros'), 'utf8');
  const body = /^%systemd_post\(\) \\\n((?:.*\\\n)*.*)$/m.exec(macros)?.[1] ?? '';
  assert.match(body, /-eq 1/);
  assert.match(body, /systemctl -q preset %\{\*\}/);
  assert.not.match(body, /restart/);
});

test("the README's table of units names every system unit once, and says 'yes' for exactly the preset's units", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const lines = readme.slice(readme.indexOf('### Units enabled on install')).split('\n');
  const header = lines.findIndex((l) => l.startsWith('| unit | enabled on install |'));
  assert.ok(header > 0, 'no table of units in the README');
  const end = lines.findIndex((l, i) => i > header && !l.startsWith('|'));
  const rows = lines.slice(header + 2, end);
  const table = new Map<string, string>();
  for (const row of rows) {
    const [units, enabled] = row.split(' | ');
    for (const unit of units!.match(/`[^`]+`/g) ?? []) {
      assert.not.ok(table.has(unit), `${unit} twice`);
      table.set(unit.slice(1, -1), enabled!.trim());
    }
  }
  assert.equal([...table.keys()].sort(), [...allUnits].sort());
  assert.equal(
    [...table].filter(([, enabled]) => enabled === 'yes').map(([unit]) => unit),
    ENABLED_ON_INSTALL,
  );
});

test.run();
