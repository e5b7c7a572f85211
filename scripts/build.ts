/**
 * The whole pipeline: model -> validate -> stage (bundle + render) -> spec -> lint -> source
 * tarball + gear -> rpm. Skips everything when neither the inputs nor the outputs changed.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { hashInputs, hashOutputs, upToDateState, writeState } from './build-state.ts';
import { loadChangelog, sourceDateEpoch, withPackager } from './changelog.ts';
import { lintSpec, lintTree, type Finding } from './lint/rules.ts';
import { renderMacros } from './macros.ts';
import { type Branch, BRANCH_MACROS } from './model/branches.ts';
import type { ProjectModel } from './model/types.ts';
import { formatProblem, validateModel } from './model/validate.ts';
import { renderContent, type RenderContext } from './render.ts';
import { indexRepository } from './repo/index.ts';
import { buildRpms, hasRpmbuild } from './rpm.ts';
import { normalizeModes, writeGearDir, writeSourceTarball } from './source.ts';
import { renderSpec } from './spec.ts';
import { stageTree } from './stage.ts';

export class BuildError extends Error {
  override name = 'BuildError';
}

interface BuildOptions {
  branch: Branch;
  outDir: string;
  model: ProjectModel;
  log: (line: string) => void;
  /** Rebuild even if nothing changed. */
  force?: boolean;
  /** An ALT maintainer's `Name <login@altlinux.org>`: the Packager: tag and the newest changelog entry's author. */
  packager?: string;
}

export interface BuildResult {
  upToDate: boolean;
  spec: string;
  tarball: string;
  gearDir: string;
  rpms: string[];
  /** Set when rpmbuild is missing: the one line telling how to get it. */
  rpmSkipped?: string;
}

/** Model problems, one line each (empty when the model is sound). */
export async function checkModel(model: ProjectModel, context: RenderContext): Promise<string[]> {
  const problems = await validateModel(model, { branch: context.branch, unitText: (entry) => renderContent(entry.content!, context) });
  return problems.map(formatProblem);
}

/** Directories a spec may install into without owning them: the branch's roots and the model's external dirs. */
function lintOptions(model: ProjectModel, branch: Branch) {
  return {
    rootMacros: Object.keys(BRANCH_MACROS[branch]).map((m) => `%${m}`),
    knownDirs: model.externalDirs.map((d) => d.path),
  };
}

const upToDateMessage = (outDir: string, label: string) => `up to date: ${relative(process.cwd(), outDir) || '.'} (${label})`;

export async function build(options: BuildOptions): Promise<BuildResult> {
  const { branch, outDir, model, log } = options;
  const changelog = options.packager ? withPackager(loadChangelog(), options.packager) : loadChangelog();
  const { version, release } = changelog[0]!;
  const epoch = sourceDateEpoch(changelog);
  const context: RenderContext = { branch, version, release, date: changelog[0]!.date };
  const topDir = `podsec-${version}`;
  const paths = {
    spec: join(outDir, 'podsec.spec'),
    tarball: join(outDir, `${topDir}.tar`),
    gearDir: join(outDir, 'gear'),
    tree: join(outDir, 'source', topDir),
    rpms: join(outDir, 'RPMS'),
    repo: join(outDir, 'repo'),
    macros: join(outDir, 'macros', `${branch}.macros`),
  };
  const label = `${branch}, ${version}-${release}${options.packager ? `, ${options.packager}` : ''}`;

  // Hashing the inputs reads every source: a forced build does it while it builds.
  const inputHashing = hashInputs(branch, options.packager);
  inputHashing.catch(() => {}); // awaited below
  const previous = options.force ? undefined : await upToDateState(outDir, await inputHashing);
  if (previous) {
    log(upToDateMessage(outDir, previous.label));
    return { upToDate: true, ...paths, rpms: previous.rpms, rpmSkipped: previous.rpmSkipped };
  }
  const rpmbuildFound = hasRpmbuild();

  const problems = await checkModel(model, context);
  if (problems.length > 0) throw new BuildError(problems.join('\n'));

  log(`stage: ${relative(process.cwd(), paths.tree)}`);
  await stageTree(model, context, paths.tree);
  await normalizeModes(paths.tree);

  const specText = await renderSpec(model, changelog, options.packager);
  const findings: Finding[] = [...lintSpec(specText, lintOptions(model, branch)), ...(await lintTree(paths.tree))];
  if (findings.length > 0) {
    throw new BuildError(findings.map((f) => `podsec.spec:${f.line}: ${f.rule}: ${f.message}`).join('\n'));
  }
  await mkdir(join(outDir, 'macros'), { recursive: true });
  await writeFile(paths.spec, specText);
  const macrosText = await renderMacros(branch);
  await writeFile(paths.macros, macrosText);

  log(`source: ${relative(process.cwd(), paths.tarball)}, ${relative(process.cwd(), paths.gearDir)}/`);
  await writeSourceTarball(paths.tree, paths.tarball, topDir, epoch);
  // The gear directory is written while rpmbuild runs.
  const gearWriting = writeGearDir(paths.tree, specText, paths.gearDir);
  gearWriting.catch(() => {}); // awaited below

  let rpms: string[] = [];
  let repoFiles: string[] = [];
  let rpmSkipped: string | undefined;
  if (await rpmbuildFound) {
    log(`rpm: rpmbuild (${branch})`);
    rpms = await buildRpms({ specFile: paths.spec, tarball: paths.tarball, macrosText, sourceDateEpoch: epoch, outDir: paths.rpms });
    log(`repo: ${relative(process.cwd(), paths.repo)}/ (apt-rpm: noarch podsec)`);
    await rm(paths.repo, { recursive: true, force: true });
    const index = await indexRepository({ topDir: paths.repo, rpms, date: new Date(epoch * 1000), label: 'podsec', origin: 'podsec', suite: branch });
    repoFiles = [index.pkglist, index.release];
  } else {
    await rm(paths.rpms, { recursive: true, force: true });
    await rm(paths.repo, { recursive: true, force: true });
    rpmSkipped = 'rpmbuild not found: RPMs not built. Install it with: apt-get install rpm (Debian) or apt-get install rpm-build (ALT)';
    log(rpmSkipped);
  }

  await gearWriting;
  const inputHash = await inputHashing;
  const outputFiles = [paths.spec, paths.tarball, paths.macros, ...rpms, ...repoFiles].map((p) => relative(outDir, p));
  const outputs = (await hashOutputs(outDir, outputFiles))!;
  await writeState(outDir, { inputHash, outputs, rpms, rpmSkipped, label });
  return { upToDate: false, ...paths, rpms, rpmSkipped };
}
