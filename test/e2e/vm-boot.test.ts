// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * The node as a VM (qemu, TCG): Debian's kernel, our busybox initramfs, the rootfs with every
 * package over read-only 9p. A oneshot unit ordered after multi-user.target runs the same
 * collector as the container tests, writes its JSON to the second serial port and powers the VM
 * off; the host compares it with the model. Bounded: qemu is killed by PID after VM_TIMEOUT_MS.
 */
import * as fs from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpioEntry } from '../../scripts/image/cpio.ts';
import { runVm, ensureVm, type VmImage } from '../../scripts/image/vm.ts';
import model from '../../scripts/model/index.ts';
import { BRANCH, ensureNodeImage, imageCacheDir, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { checkRequest, COLLECTOR, COLLECTOR_DIR, compareFacts, type Facts } from '../support/image-facts.ts';

/** TCG boots in about 11 s here; a loaded CI machine gets a wide margin, never an endless wait. */
const VM_TIMEOUT_MS = 300_000;

let vm: VmImage;
let rootfs = '';
const times: Record<string, number> = {};

test.before(async () => {
  try {
    const image = await ensureNodeImage();
    rootfs = image.path;
    const t0 = performance.now();
    vm = await ensureVm(rootfs, imageCacheDir(), (l) => process.stderr.write(`${l}\n`));
    times['kernel + initramfs (ensure)'] = Math.round(performance.now() - t0);
  } catch (err) {
    hookError(err);
  }
});

const CHECK_UNIT = `[Unit]
Description=podsec VM check: collect facts, report on ttyS1, power off
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/bin/node ${COLLECTOR_DIR}/collect.cjs ${COLLECTOR_DIR}/request.json /dev/ttyS1
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

function checkPayload(): CpioEntry[] {
  return [
    { type: 'file', path: `${COLLECTOR_DIR.slice(1)}/collect.cjs`, data: COLLECTOR },
    { type: 'file', path: `${COLLECTOR_DIR.slice(1)}/request.json`, data: JSON.stringify(checkRequest(model, BRANCH, false)) },
    { type: 'file', path: 'etc/systemd/system/podsec-vm-check.service', data: CHECK_UNIT },
    { type: 'symlink', path: 'etc/systemd/system/multi-user.target.wants/podsec-vm-check.service', target: '/etc/systemd/system/podsec-vm-check.service' },
  ];
}

test('qemu boots the node to multi-user; accounts, modes/owners and is-enabled equal the model; it powers off', async () => {
  const work = await fs.mkdtemp('/var/tmp/podsec-vm-');
  try {
    const result = await runVm(vm, { workDir: work, timeoutMs: VM_TIMEOUT_MS, payload: checkPayload() });
    times['qemu TCG boot + check + poweroff'] = Math.round(result.elapsedMs);
    const tail = result.console.slice(-6000);
    assert.not.ok(result.timedOut, `the VM did not power off within ${VM_TIMEOUT_MS / 1000} s:\n${tail}`);
    assert.is(result.exitCode, 0, `qemu exit ${result.exitCode} ${result.signal}:\n${tail}`);
    const line = result.results.split(/\r?\n/).find((l) => l.startsWith('{'));
    assert.ok(line, `no facts on ttyS1:\n${tail}`);
    const facts = JSON.parse(line!) as Facts;
    assert.ok(facts.multiUserSeconds > 0, 'multi-user.target was not reached');
    times['guest uptime at multi-user.target'] = Math.round(facts.multiUserSeconds * 1000);
    const problems = compareFacts(facts, model, BRANCH, rootfs);
    assert.equal(problems, [], problems.join('\n'));
    assert.match(result.console, /Reached target.*Multi-User System|multi-user\.target/);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});

test('the initramfs loads virtio, 9p and overlay modules with their dependencies first', () => {
  const names = vm.modules.map((m) => m.name);
  for (const m of ['virtio_pci', '9pnet_virtio', '9p', 'overlay']) assert.ok(names.includes(m), `${m} missing from ${names.join(' ')}`);
  assert.ok(names.indexOf('9pnet') < names.indexOf('9pnet_virtio'));
  assert.ok(names.indexOf('9pnet') < names.indexOf('9p'));
});

test('timings', () => {
  console.log('  timings (ms):', times);
});

runGated(test, 'vm e2e', [...NODE_TOOLS, 'qemu-system-x86_64', 'apt-get', 'dpkg-deb', 'busybox', 'cpio']);
